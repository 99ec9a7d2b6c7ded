"""The port list of a device as inventory sees it, and which ports are uplinks.

An uplink is named so by the operator: its ifAlias (or, failing that, ifName/ifDescr) says
"uplink" — the convention on access switches and DSLAMs, and what the lab writes. A port
marked standby or backup is left out, since its idle traffic says nothing about load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from collectors.samples import InterfaceRow

__all__ = ["PortInfo", "is_uplink", "port_inventory"]

_UPLINK = re.compile(r"\buplink\b", re.IGNORECASE)
_IDLE = re.compile(r"\b(standby|backup|spare)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class PortInfo:
    """One interface for the ``ports`` table."""

    ifindex: int
    name: str | None
    description: str | None
    speed_bps: int | None
    is_uplink: bool


def is_uplink(row: InterfaceRow) -> bool:
    """Whether the operator's naming marks ``row`` as an active uplink."""
    label = row.alias or row.name or row.descr or ""
    return bool(_UPLINK.search(label)) and not _IDLE.search(label)


def port_inventory(rows: tuple[InterfaceRow, ...] | list[InterfaceRow]) -> list[PortInfo]:
    """The ports of one interface walk, by ifIndex."""
    return [
        PortInfo(
            ifindex=row.ifindex,
            name=row.name,
            description=row.alias or row.descr,
            speed_bps=row.speed_bps,
            is_uplink=is_uplink(row),
        )
        for row in sorted(rows, key=lambda r: r.ifindex)
    ]
