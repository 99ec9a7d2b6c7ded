"""Plain-Python SNMP values shared by the engine (producer) and the MIB parsers (consumers).

The engine converts every pysnmp/pyasn1 value once, at the boundary:
Integer32/Counter32/Counter64/Gauge32/TimeTicks/Unsigned32 → ``int``; OCTET STRING and
Opaque → ``bytes``; OBJECT IDENTIFIER and IpAddress → dotted ``str``; noSuchObject,
noSuchInstance and endOfMibView → ``None``. Parsers therefore never import pysnmp.
"""

from __future__ import annotations

__all__ = ["Row", "SnmpValue", "Table"]

SnmpValue = int | bytes | str | None
# One walked table: column OID (numeric, no leading dot) → index suffix ("1", "7.3") → value.
Table = dict[str, dict[str, SnmpValue]]
# One scalar GET result: full OID → value.
Row = dict[str, SnmpValue]
