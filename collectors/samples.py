"""Typed results of one device poll: system group, interfaces, xDSL lines, CPU and memory.

Every field that the device did not answer, answered with a special "not available" code, or
answered with a value of the wrong SNMP type is ``None`` ("missing"); it is never 0 and never
the raw special code. Units are in the field names (``_bps``, ``_kbps``, ``_db``, ``_dbm``,
``_ticks`` = SNMP TimeTicks, hundredths of a second, ``_s`` = seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "DslBand",
    "DslCounters",
    "DslInterval",
    "DslLineRow",
    "DslPeriod",
    "DslStandard",
    "DslUnit",
    "HostResources",
    "IfStatus",
    "InterfaceRow",
    "SystemInfo",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemInfo:
    """SNMPv2-MIB system group (sysDescr, sysObjectID, sysName, sysUpTime)."""

    sys_descr: str | None = None
    sys_object_id: str | None = None  # numeric, no leading dot
    sys_name: str | None = None
    sys_uptime_ticks: int | None = None  # TimeTicks (1/100 s) since the agent (re)started


class IfStatus(StrEnum):
    """ifAdminStatus / ifOperStatus (IF-MIB); admin uses only up, down and testing."""

    UP = "up"
    DOWN = "down"
    TESTING = "testing"
    UNKNOWN = "unknown"
    DORMANT = "dormant"
    NOT_PRESENT = "notPresent"
    LOWER_LAYER_DOWN = "lowerLayerDown"


@dataclass(frozen=True, slots=True, kw_only=True)
class InterfaceRow:
    """One interface from ifTable + ifXTable, 64-bit counters preferred.

    ``in_octets``/``out_octets`` come from ifHCIn/OutOctets when the device answers them as
    Counter64 (``octets_64bit=True``), otherwise from the 32-bit ifIn/OutOctets. The flag
    tells the counter arithmetic which modulus (2**64 or 2**32) a wrap has; both directions
    always come from the same width. The same holds for unicast packets.
    """

    ifindex: int
    name: str | None = None  # ifName, else ifDescr
    descr: str | None = None  # ifDescr
    alias: str | None = None  # ifAlias (operator-set description)
    if_type: int | None = None  # IANAifType, e.g. 6 ethernetCsmacd, 94 adsl, 97 vdsl, 251 vdsl2
    admin_status: IfStatus | None = None
    oper_status: IfStatus | None = None
    speed_bps: int | None = None  # ifHighSpeed × 10**6 preferred; None when unknown or 0
    in_octets: int | None = None
    out_octets: int | None = None
    octets_64bit: bool = False
    in_ucast_pkts: int | None = None
    out_ucast_pkts: int | None = None
    ucast_pkts_64bit: bool = False
    in_errors: int | None = None  # Counter32
    out_errors: int | None = None  # Counter32
    in_discards: int | None = None  # Counter32
    out_discards: int | None = None  # Counter32
    counter_discontinuity_ticks: int | None = None  # ifCounterDiscontinuityTime (sysUpTime)


class DslStandard(StrEnum):
    """Which MIB a DSL line row came from."""

    ADSL = "adsl"  # ADSL-LINE-MIB, RFC 2662 (+ RFC 3440 extensions)
    VDSL2 = "vdsl2"  # VDSL2-LINE-MIB, RFC 5650


class DslUnit(StrEnum):
    """The termination unit that counted: central office (xTU-C) or remote/CPE (xTU-R)."""

    XTUC = "xtuc"
    XTUR = "xtur"


class DslPeriod(StrEnum):
    """Length of a performance-monitoring interval."""

    MIN15 = "15min"
    DAY1 = "1day"


@dataclass(frozen=True, slots=True, kw_only=True)
class DslCounters:
    """Running counters kept by one termination unit since the agent started.

    ADSL-LINE-MIB keeps these as Counter32 (``adslAtucPerfLofs`` …); VDSL2-LINE-MIB has no
    running totals (only interval bins), so a VDSL2 line's counters are all ``None``.
    ``failed_inits`` is RFC 3440 ``adslAtucPerfStatFailedFastR`` (failed fast retrains).
    """

    lofs: int | None = None  # loss-of-framing seconds
    loss: int | None = None  # loss-of-signal seconds
    lols: int | None = None  # loss-of-link seconds (xTU-C only)
    lprs: int | None = None  # loss-of-power seconds
    es: int | None = None  # errored seconds
    ses: int | None = None  # severely errored seconds (RFC 3440)
    uas: int | None = None  # unavailable seconds (RFC 3440)
    inits: int | None = None  # initialisation attempts (xTU-C only)
    fast_retrains: int | None = None  # RFC 3440 (xTU-C only)
    failed_inits: int | None = None  # RFC 3440 failed fast retrains (xTU-C only)


@dataclass(frozen=True, slots=True, kw_only=True)
class DslInterval:
    """One 15-minute or 1-day performance bin of one termination unit.

    ``number`` is 0 for the current (still running) bin, 1 for the most recent completed
    bin and so on (RFC 2662 / RFC 5650 interval numbering). ``valid`` is the agent's own
    validity flag for completed bins (``…IntervalValidData``, ``…ValidInterval``; for the
    previous day: monitored for the whole day); a current bin is ``valid=True`` while
    ``monitored_s`` says how much of it has elapsed. Counts are seconds except the inits.
    """

    unit: DslUnit
    period: DslPeriod
    number: int
    valid: bool
    monitored_s: int | None = None
    lofs: int | None = None
    loss: int | None = None
    lprs: int | None = None
    es: int | None = None
    ses: int | None = None
    uas: int | None = None
    inits: int | None = None
    failed_inits: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DslBand:
    """One VDSL2 band (``xdsl2LineBandTable``): ``band`` is the RFC 5650 name, e.g. ``ds1``."""

    band: str
    snr_margin_db: float | None = None
    line_attn_db: float | None = None
    signal_attn_db: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DslLineRow:
    """The KPIs of one ADSL or VDSL2 line, keyed by the line's (physical) ifIndex.

    Downstream is the direction xTU-C → xTU-R (towards the customer). SNR margin and
    attenuation are measured by the receiver, so ``snr_margin_down_db`` comes from the
    xTU-R and ``snr_margin_up_db`` from the xTU-C. Rates are in kbit/s (bit/s ÷ 1000,
    floored).
    """

    ifindex: int
    standard: DslStandard
    snr_margin_down_db: float | None = None
    snr_margin_up_db: float | None = None
    attn_down_db: float | None = None
    attn_up_db: float | None = None
    output_power_down_dbm: float | None = None  # transmitted by the xTU-C (ATP for VDSL2)
    output_power_up_dbm: float | None = None
    attainable_down_kbps: int | None = None
    attainable_up_kbps: int | None = None
    actual_down_kbps: int | None = None
    actual_up_kbps: int | None = None
    xtuc: DslCounters = field(default_factory=DslCounters)
    xtur: DslCounters = field(default_factory=DslCounters)
    intervals: tuple[DslInterval, ...] = ()
    bands: tuple[DslBand, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class HostResources:
    """CPU load and memory use from HOST-RESOURCES-MIB or a vendor MIB named by the profile."""

    cpu_load_percent: float | None = None  # mean over the processors/boards that answered
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    memory_used_percent: float | None = None
