"""IF-MIB (RFC 2863): ifTable + ifXTable → InterfaceRow, and ifStackTable.

The index is always taken from the OID suffix of whatever column answered; ifIndex itself is
never walked (LibreNMS recordings, and some agents, do not carry it). 64-bit ifHC* counters
are preferred and taken only when they arrive as integers: Nokia ISAM answers ifHCInOctets
as an OCTET STRING, which makes that interface fall back to the 32-bit counters.
"""

from __future__ import annotations

from collectors.mibs._values import as_int, as_text, column, indexes, split_index
from collectors.samples import IfStatus, InterfaceRow
from collectors.values import SnmpValue, Table

__all__ = [
    "COLUMNS",
    "IF_ADMIN_STATUS",
    "IF_ALIAS",
    "IF_COUNTER_DISCONTINUITY_TIME",
    "IF_DESCR",
    "IF_HC_IN_OCTETS",
    "IF_HC_IN_UCAST_PKTS",
    "IF_HC_OUT_OCTETS",
    "IF_HC_OUT_UCAST_PKTS",
    "IF_HIGH_SPEED",
    "IF_IN_DISCARDS",
    "IF_IN_ERRORS",
    "IF_IN_OCTETS",
    "IF_IN_UCAST_PKTS",
    "IF_NAME",
    "IF_OPER_STATUS",
    "IF_OUT_DISCARDS",
    "IF_OUT_ERRORS",
    "IF_OUT_OCTETS",
    "IF_OUT_UCAST_PKTS",
    "IF_SPEED",
    "IF_STACK_STATUS",
    "IF_TABLE_COLUMNS",
    "IF_TYPE",
    "IF_X_TABLE_COLUMNS",
    "STACK_COLUMNS",
    "parse_if_stack",
    "parse_interfaces",
]

_IF_ENTRY = "1.3.6.1.2.1.2.2.1"
IF_DESCR = f"{_IF_ENTRY}.2"
IF_TYPE = f"{_IF_ENTRY}.3"
IF_SPEED = f"{_IF_ENTRY}.5"  # Gauge32 bit/s, saturates at 2**32-1
IF_ADMIN_STATUS = f"{_IF_ENTRY}.7"
IF_OPER_STATUS = f"{_IF_ENTRY}.8"
IF_IN_OCTETS = f"{_IF_ENTRY}.10"
IF_IN_UCAST_PKTS = f"{_IF_ENTRY}.11"
IF_IN_DISCARDS = f"{_IF_ENTRY}.13"
IF_IN_ERRORS = f"{_IF_ENTRY}.14"
IF_OUT_OCTETS = f"{_IF_ENTRY}.16"
IF_OUT_UCAST_PKTS = f"{_IF_ENTRY}.17"
IF_OUT_DISCARDS = f"{_IF_ENTRY}.19"
IF_OUT_ERRORS = f"{_IF_ENTRY}.20"

_IF_X_ENTRY = "1.3.6.1.2.1.31.1.1.1"
IF_NAME = f"{_IF_X_ENTRY}.1"
IF_HC_IN_OCTETS = f"{_IF_X_ENTRY}.6"
IF_HC_IN_UCAST_PKTS = f"{_IF_X_ENTRY}.7"
IF_HC_OUT_OCTETS = f"{_IF_X_ENTRY}.10"
IF_HC_OUT_UCAST_PKTS = f"{_IF_X_ENTRY}.11"
IF_HIGH_SPEED = f"{_IF_X_ENTRY}.15"  # Gauge32, units of 1 000 000 bit/s
IF_ALIAS = f"{_IF_X_ENTRY}.18"
IF_COUNTER_DISCONTINUITY_TIME = f"{_IF_X_ENTRY}.19"  # TimeStamp (sysUpTime ticks)

IF_STACK_STATUS = "1.3.6.1.2.1.31.1.2.1.3"  # index: higher-layer ifIndex . lower-layer ifIndex

IF_TABLE_COLUMNS: tuple[str, ...] = (
    IF_DESCR,
    IF_TYPE,
    IF_SPEED,
    IF_ADMIN_STATUS,
    IF_OPER_STATUS,
    IF_IN_OCTETS,
    IF_IN_UCAST_PKTS,
    IF_IN_DISCARDS,
    IF_IN_ERRORS,
    IF_OUT_OCTETS,
    IF_OUT_UCAST_PKTS,
    IF_OUT_DISCARDS,
    IF_OUT_ERRORS,
)
IF_X_TABLE_COLUMNS: tuple[str, ...] = (
    IF_NAME,
    IF_HC_IN_OCTETS,
    IF_HC_IN_UCAST_PKTS,
    IF_HC_OUT_OCTETS,
    IF_HC_OUT_UCAST_PKTS,
    IF_HIGH_SPEED,
    IF_ALIAS,
    IF_COUNTER_DISCONTINUITY_TIME,
)
# Everything parse_interfaces reads; walk them as one multi-column GETBULK or per table.
COLUMNS: tuple[str, ...] = IF_TABLE_COLUMNS + IF_X_TABLE_COLUMNS
STACK_COLUMNS: tuple[str, ...] = (IF_STACK_STATUS,)

_U32_MAX = 2**32 - 1
_U64_MAX = 2**64 - 1
_BPS_PER_MBPS = 1_000_000
_STATUS = {
    1: IfStatus.UP,
    2: IfStatus.DOWN,
    3: IfStatus.TESTING,
    4: IfStatus.UNKNOWN,
    5: IfStatus.DORMANT,
    6: IfStatus.NOT_PRESENT,
    7: IfStatus.LOWER_LAYER_DOWN,
}
_ROW_STATUS_ACTIVE = 1


def parse_interfaces(table: Table) -> list[InterfaceRow]:
    """One InterfaceRow per ifIndex found in any walked ifTable/ifXTable column, by ifIndex."""
    rows: list[InterfaceRow] = []
    for suffix in indexes(table, COLUMNS):
        parsed = split_index(suffix)
        if parsed is None or len(parsed) != 1:
            continue  # not an ifIndex (a stray or malformed instance)
        rows.append(_parse_row(table, suffix, parsed[0]))
    return rows


def _parse_row(table: Table, idx: str, ifindex: int) -> InterfaceRow:
    def get(oid: str) -> SnmpValue:
        return column(table, oid).get(idx)

    def c32(oid: str) -> int | None:
        return as_int(get(oid), lo=0, hi=_U32_MAX)

    def c64(oid: str) -> int | None:
        return as_int(get(oid), lo=0, hi=_U64_MAX)

    hc_in, hc_out = c64(IF_HC_IN_OCTETS), c64(IF_HC_OUT_OCTETS)
    octets_64bit = hc_in is not None and hc_out is not None
    hc_in_u, hc_out_u = c64(IF_HC_IN_UCAST_PKTS), c64(IF_HC_OUT_UCAST_PKTS)
    ucast_64bit = hc_in_u is not None and hc_out_u is not None

    descr = as_text(get(IF_DESCR)) or None
    return InterfaceRow(
        ifindex=ifindex,
        name=as_text(get(IF_NAME)) or descr,
        descr=descr,
        alias=as_text(get(IF_ALIAS)) or None,
        if_type=as_int(get(IF_TYPE), lo=1),
        admin_status=_status(get(IF_ADMIN_STATUS)),
        oper_status=_status(get(IF_OPER_STATUS)),
        speed_bps=_speed_bps(get(IF_SPEED), get(IF_HIGH_SPEED)),
        in_octets=hc_in if octets_64bit else c32(IF_IN_OCTETS),
        out_octets=hc_out if octets_64bit else c32(IF_OUT_OCTETS),
        octets_64bit=octets_64bit,
        in_ucast_pkts=hc_in_u if ucast_64bit else c32(IF_IN_UCAST_PKTS),
        out_ucast_pkts=hc_out_u if ucast_64bit else c32(IF_OUT_UCAST_PKTS),
        ucast_pkts_64bit=ucast_64bit,
        in_errors=c32(IF_IN_ERRORS),
        out_errors=c32(IF_OUT_ERRORS),
        in_discards=c32(IF_IN_DISCARDS),
        out_discards=c32(IF_OUT_DISCARDS),
        counter_discontinuity_ticks=as_int(get(IF_COUNTER_DISCONTINUITY_TIME), lo=0, hi=_U32_MAX),
    )


def _status(value: SnmpValue) -> IfStatus | None:
    code = as_int(value)
    return None if code is None else _STATUS.get(code)


def _speed_bps(if_speed: SnmpValue, if_high_speed: SnmpValue) -> int | None:
    """ifHighSpeed × 10**6, unless ifSpeed says the same thing more precisely.

    ifSpeed saturates at 2**32-1 (4.29 Gbit/s), so above that only ifHighSpeed is right.
    ifHighSpeed is rounded to whole Mbit/s, so a 110.162 Mbit/s VDSL line (DrayTek) or a
    460.8 kbit/s serial line (ifHighSpeed 0) is more exact in ifSpeed; ifSpeed is taken
    when it is unsaturated and agrees with ifHighSpeed to within one Mbit/s. 0 = unknown.
    """
    low = as_int(if_speed, lo=1, hi=_U32_MAX - 1)
    high = as_int(if_high_speed, lo=1, hi=_U32_MAX)
    if high is None:
        return low
    if low is not None and abs(low - high * _BPS_PER_MBPS) < _BPS_PER_MBPS:
        return low
    return high * _BPS_PER_MBPS


def parse_if_stack(table: Table) -> dict[int, tuple[int, ...]]:
    """Higher-layer ifIndex → its lower-layer ifIndexes, from active ifStackStatus rows.

    ADSL channels (ifType 124/125) sit on their line (ifType 94): the mapping tells which
    line an ``adslAtucChanTable`` row belongs to. Rows naming ifIndex 0 (top/bottom of the
    stack) are left out.
    """
    stack: dict[int, list[int]] = {}
    for suffix, value in column(table, IF_STACK_STATUS).items():
        pair = split_index(suffix)
        if pair is None or len(pair) != 2 or as_int(value) != _ROW_STATUS_ACTIVE:
            continue
        higher, lower = pair
        if higher and lower:
            stack.setdefault(higher, []).append(lower)
    return {higher: tuple(sorted(lowers)) for higher, lowers in sorted(stack.items())}
