"""The declarative vocabulary of device profiles: what to walk, how often, and vendor quirks.

A profile is data. Code that polls a device asks the profile which ``MibTable``s to walk
(``columns_for``), which vendor CPU/memory columns to read, and which quirks to apply;
nothing outside ``collectors/profiles/`` branches on a vendor name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from collectors.mibs import adsl_line_mib, host_resources_mib, if_mib, vdsl2_line_mib
from collectors.mibs._values import as_int
from collectors.mibs.vendor_resources import ResourceColumns
from collectors.values import Table

__all__ = [
    "PROBE_OIDS",
    "TABLE_COLUMNS",
    "DeviceKind",
    "DeviceProfile",
    "MetricKind",
    "MetricSpec",
    "MibTable",
    "Quirks",
    "ResourceColumns",
    "Schedule",
    "columns_for",
    "read_metrics",
]


class DeviceKind(StrEnum):
    """What the device is in the access network."""

    SWITCH = "switch"  # LAN access / aggregation switch
    ROUTER = "router"  # router, BNG
    DSLAM = "dslam"  # xDSL access multiplexer / MSAN
    OLT = "olt"  # GPON access node / MDU
    CPE = "cpe"  # customer modem/router


class MibTable(StrEnum):
    """A group of columns walked together; the names are what discovery reports as answering."""

    IF = "if"  # ifTable + ifXTable
    IF_STACK = "if_stack"  # ifStackTable (ADSL channel → line)
    ADSL = "adsl"  # ADSL-LINE-MIB current values, counters, current bins
    ADSL_INTERVALS = "adsl_intervals"  # ADSL 15-minute history (96 rows per line and unit)
    VDSL2 = "vdsl2"  # VDSL2-LINE-MIB line, band, channel, current PM
    VDSL2_INTERVALS = "vdsl2_intervals"  # VDSL2 15-minute history
    HOST_RESOURCES = "host_resources"  # hrProcessorLoad, hrStorage


TABLE_COLUMNS: Mapping[MibTable, tuple[str, ...]] = MappingProxyType(
    {
        MibTable.IF: if_mib.COLUMNS,
        MibTable.IF_STACK: if_mib.STACK_COLUMNS,
        MibTable.ADSL: adsl_line_mib.CURRENT_COLUMNS,
        MibTable.ADSL_INTERVALS: adsl_line_mib.INTERVAL_COLUMNS,
        MibTable.VDSL2: vdsl2_line_mib.CURRENT_COLUMNS,
        MibTable.VDSL2_INTERVALS: vdsl2_line_mib.INTERVAL_COLUMNS,
        MibTable.HOST_RESOURCES: host_resources_mib.COLUMNS,
    }
)

# One column per table whose first GETNEXT tells whether the agent has the table at all.
# The ADSL probe is the ATU-R SNR margin rather than a config column: DSLAMs that list
# ports in adslLineTable with no modem ever attached do not count as answering.
PROBE_OIDS: Mapping[MibTable, str] = MappingProxyType(
    {
        MibTable.IF: if_mib.IF_DESCR,
        MibTable.ADSL: adsl_line_mib.ATUC_CURR_SNR_MGN,
        MibTable.VDSL2: vdsl2_line_mib.CH_STATUS_ACT_DATA_RATE,
        MibTable.HOST_RESOURCES: host_resources_mib.HR_PROCESSOR_LOAD,
    }
)


class MetricKind(StrEnum):
    """How a vendor metric behaves between polls."""

    GAUGE = "gauge"
    COUNTER = "counter"  # feed through collectors.counters before use


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSpec:
    """One extra vendor column, e.g. a board temperature.

    ``MetricSpec(key="board_temperature_celsius", column="1.3.6.1.4.1.2011.5.25.31.1.1.1.1.11",
    ignore_values=frozenset({0}))``
    """

    key: str
    column: str  # column OID; every index of the walked column yields one value
    scale: float = 1.0
    kind: MetricKind = MetricKind.GAUGE
    ignore_values: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class Quirks:
    """Ways a vendor departs from the MIBs, as data the pollers and parsers apply."""

    # ADSL-LINE-MIB dB values in whole dB instead of tenths (multiply raw by this for tenths).
    adsl_db_unit_tenths: int = 1
    # Some subtrees come back out of lexicographic order: walk each table on its own and
    # end a table at the first non-increasing OID (ZTE ZXR10, H3C Comware).
    non_increasing_oids: bool = False
    # ifHCIn/OutOctets answered as OCTET STRING (Nokia ISAM): expect 32-bit fallback.
    counter64_as_octet_string: bool = False
    # GETBULK max-repetitions this agent copes with (None: the engine default).
    max_repetitions: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """How often each group is worth polling (seconds); hints for the scheduler."""

    interfaces_s: int = 60
    dsl_lines_s: int = 300
    dsl_intervals_s: int = 900  # the 15-minute history changes once per 15 minutes
    resources_s: int = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceProfile:
    """Everything nocd knows about polling one vendor/model family."""

    name: str
    vendor: str
    description: str
    kind: DeviceKind
    tables: frozenset[MibTable]
    # sysObjectID prefixes (numeric, no leading dot); matched on whole arcs, longest wins.
    sys_object_ids: tuple[str, ...] = ()
    # For the generic profiles: tables that must answer for the profile to fit.
    probe: frozenset[MibTable] = frozenset()
    # Vendor CPU/memory columns; None means HOST-RESOURCES-MIB if ``tables`` has it.
    resources: ResourceColumns | None = None
    metrics: tuple[MetricSpec, ...] = ()
    quirks: Quirks = field(default_factory=Quirks)
    schedule: Schedule = field(default_factory=Schedule)
    recordings: tuple[str, ...] = ()  # shared .snmprec files this profile was checked on


def columns_for(profile: DeviceProfile) -> dict[MibTable, tuple[str, ...]]:
    """Column OIDs to walk per table of ``profile`` (vendor CPU/memory and metrics not included)."""
    return {table: TABLE_COLUMNS[table] for table in MibTable if table in profile.tables}


def read_metrics(specs: tuple[MetricSpec, ...], table: Table) -> dict[str, dict[str, float]]:
    """Metric key → index suffix → scaled value, from walked ``spec.column``s.

    Non-integer values and ``ignore_values`` are left out; COUNTER metrics come back raw
    (scale 1 is advised) for ``collectors.counters`` to turn into rates.
    """
    out: dict[str, dict[str, float]] = {}
    for spec in specs:
        values: dict[str, float] = {}
        for idx, value in table.get(spec.column, {}).items():
            raw = as_int(value)
            if raw is None or raw in spec.ignore_values:
                continue
            values[idx] = raw * spec.scale
        out[spec.key] = values
    return out
