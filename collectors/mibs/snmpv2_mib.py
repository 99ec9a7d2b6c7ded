"""SNMPv2-MIB system group (RFC 3418): sysDescr, sysObjectID, sysUpTime, sysName."""

from __future__ import annotations

from collectors.mibs._values import as_int, as_oid, as_text
from collectors.samples import SystemInfo
from collectors.values import Row

__all__ = [
    "SCALARS",
    "SYS_DESCR",
    "SYS_NAME",
    "SYS_OBJECT_ID",
    "SYS_UPTIME",
    "parse_system",
]

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"  # TimeTicks, 1/100 s
SYS_NAME = "1.3.6.1.2.1.1.5.0"

# One GET carrying all four varbinds.
SCALARS: tuple[str, ...] = (SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME)

_TIMETICKS_MAX = 2**32 - 1


def parse_system(row: Row) -> SystemInfo:
    """SystemInfo from a GET of ``SCALARS`` (missing or mistyped varbinds become None)."""
    return SystemInfo(
        sys_descr=as_text(row.get(SYS_DESCR)),
        sys_object_id=as_oid(row.get(SYS_OBJECT_ID)),
        sys_name=as_text(row.get(SYS_NAME)),
        sys_uptime_ticks=as_int(row.get(SYS_UPTIME), lo=0, hi=_TIMETICKS_MAX),
    )
