"""ADSL-LINE-MIB (RFC 2662) and ADSL-LINE-EXT-MIB (RFC 3440) → DslLineRow.

What is read, per line ifIndex (the ``adsl`` ifType 94 interface):

* physical tables (ATU-C = CO side, ATU-R = CPE side): SNR margin, attenuation, output
  power, attainable rate. A unit measures what it *receives*, so the ATU-R's SNR margin
  and attenuation are the downstream ones; a unit's output power and attainable rate are
  for what it *transmits*, so the ATU-C's are downstream.
* channel tables: current transmit rate per bearer channel. Channels (fast, ifType 125;
  interleaved, ifType 124) have their own ifIndex, stacked on the line (ifStackTable);
  the line's actual rate is the sum of its channels.
* performance tables: running counters, current 15-minute and 1-day bins, the previous
  day, and the 15-minute history with ``…IntervalValidData``; RFC 3440 adds SES, UAS and
  fast retrains (failed fast retrains = ``failed_inits``).

Values outside the ranges the MIB allows (``adslAtucCurrSnrMgn`` is -640..640 tenths of
a dB, attenuation 0..630, output power -310..310) and the all-ones / 0x7FFFFFFF codes
vendors use for "not available" become None.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from collectors.mibs._values import as_int, column, indexes, split_index
from collectors.samples import (
    DslCounters,
    DslInterval,
    DslLineRow,
    DslPeriod,
    DslStandard,
    DslUnit,
)
from collectors.values import SnmpValue, Table

__all__ = [
    "ATUC_CHAN_CURR_TX_RATE",
    "ATUC_CURR_ATN",
    "ATUC_CURR_ATTAINABLE_RATE",
    "ATUC_CURR_OUTPUT_PWR",
    "ATUC_CURR_SNR_MGN",
    "ATUR_CHAN_CURR_TX_RATE",
    "ATUR_CURR_ATN",
    "ATUR_CURR_ATTAINABLE_RATE",
    "ATUR_CURR_OUTPUT_PWR",
    "ATUR_CURR_SNR_MGN",
    "COLUMNS",
    "CURRENT_COLUMNS",
    "EXT_COLUMNS",
    "INTERVAL_COLUMNS",
    "parse_adsl_lines",
]

_logger = logging.getLogger(__name__)

_ADSL = "1.3.6.1.2.1.10.94.1.1"
_ATUC_PHYS = f"{_ADSL}.2.1"
_ATUR_PHYS = f"{_ADSL}.3.1"
ATUC_CURR_SNR_MGN = f"{_ATUC_PHYS}.4"  # INTEGER, 0.1 dB
ATUC_CURR_ATN = f"{_ATUC_PHYS}.5"  # Gauge32, 0.1 dB
ATUC_CURR_OUTPUT_PWR = f"{_ATUC_PHYS}.7"  # INTEGER, 0.1 dBm
ATUC_CURR_ATTAINABLE_RATE = f"{_ATUC_PHYS}.8"  # Gauge32, bit/s
ATUR_CURR_SNR_MGN = f"{_ATUR_PHYS}.4"
ATUR_CURR_ATN = f"{_ATUR_PHYS}.5"
ATUR_CURR_OUTPUT_PWR = f"{_ATUR_PHYS}.7"
ATUR_CURR_ATTAINABLE_RATE = f"{_ATUR_PHYS}.8"
ATUC_CHAN_CURR_TX_RATE = f"{_ADSL}.4.1.2"  # Gauge32, bit/s, index: channel ifIndex
ATUR_CHAN_CURR_TX_RATE = f"{_ADSL}.5.1.2"

_ATUC_PERF = f"{_ADSL}.6.1"
_ATUR_PERF = f"{_ADSL}.7.1"
_ATUC_INTERVAL = f"{_ADSL}.8.1"  # index: ifIndex . adslAtucIntervalNumber (1..96)
_ATUR_INTERVAL = f"{_ADSL}.9.1"
_EXT = "1.3.6.1.2.1.10.94.3.1"
_ATUC_PERF_EXT = f"{_EXT}.18.1"
_ATUC_INTERVAL_EXT = f"{_EXT}.19.1"
_ATUR_PERF_EXT = f"{_EXT}.20.1"
_ATUR_INTERVAL_EXT = f"{_EXT}.21.1"

# Field → column, per unit and bin. The ATU-R has no LOLS, inits or retrains.
_ATUC_TOTALS = {
    "lofs": f"{_ATUC_PERF}.1",
    "loss": f"{_ATUC_PERF}.2",
    "lols": f"{_ATUC_PERF}.3",
    "lprs": f"{_ATUC_PERF}.4",
    "es": f"{_ATUC_PERF}.5",
    "inits": f"{_ATUC_PERF}.6",
    "fast_retrains": f"{_ATUC_PERF_EXT}.1",
    "failed_inits": f"{_ATUC_PERF_EXT}.2",
    "ses": f"{_ATUC_PERF_EXT}.3",
    "uas": f"{_ATUC_PERF_EXT}.4",
}
_ATUR_TOTALS = {
    "lofs": f"{_ATUR_PERF}.1",
    "loss": f"{_ATUR_PERF}.2",
    "lprs": f"{_ATUR_PERF}.3",
    "es": f"{_ATUR_PERF}.4",
    "ses": f"{_ATUR_PERF_EXT}.1",
    "uas": f"{_ATUR_PERF_EXT}.2",
}
# (period, number, elapsed-or-monitored column, {field: column})
_Bin = tuple[DslPeriod, int, str, dict[str, str]]
_ATUC_BINS: tuple[_Bin, ...] = (
    (
        DslPeriod.MIN15,
        0,
        f"{_ATUC_PERF}.9",
        {
            "lofs": f"{_ATUC_PERF}.10",
            "loss": f"{_ATUC_PERF}.11",
            "lprs": f"{_ATUC_PERF}.13",
            "es": f"{_ATUC_PERF}.14",
            "inits": f"{_ATUC_PERF}.15",
            "failed_inits": f"{_ATUC_PERF_EXT}.6",
            "ses": f"{_ATUC_PERF_EXT}.7",
            "uas": f"{_ATUC_PERF_EXT}.8",
        },
    ),
    (
        DslPeriod.DAY1,
        0,
        f"{_ATUC_PERF}.16",
        {
            "lofs": f"{_ATUC_PERF}.17",
            "loss": f"{_ATUC_PERF}.18",
            "lprs": f"{_ATUC_PERF}.20",
            "es": f"{_ATUC_PERF}.21",
            "inits": f"{_ATUC_PERF}.22",
            "failed_inits": f"{_ATUC_PERF_EXT}.10",
            "ses": f"{_ATUC_PERF_EXT}.11",
            "uas": f"{_ATUC_PERF_EXT}.12",
        },
    ),
    (
        DslPeriod.DAY1,
        1,
        f"{_ATUC_PERF}.23",
        {
            "lofs": f"{_ATUC_PERF}.24",
            "loss": f"{_ATUC_PERF}.25",
            "lprs": f"{_ATUC_PERF}.27",
            "es": f"{_ATUC_PERF}.28",
            "inits": f"{_ATUC_PERF}.29",
            "failed_inits": f"{_ATUC_PERF_EXT}.14",
            "ses": f"{_ATUC_PERF_EXT}.15",
            "uas": f"{_ATUC_PERF_EXT}.16",
        },
    ),
)
_ATUR_BINS: tuple[_Bin, ...] = (
    (
        DslPeriod.MIN15,
        0,
        f"{_ATUR_PERF}.7",
        {
            "lofs": f"{_ATUR_PERF}.8",
            "loss": f"{_ATUR_PERF}.9",
            "lprs": f"{_ATUR_PERF}.10",
            "es": f"{_ATUR_PERF}.11",
            "ses": f"{_ATUR_PERF_EXT}.3",
            "uas": f"{_ATUR_PERF_EXT}.4",
        },
    ),
    (
        DslPeriod.DAY1,
        0,
        f"{_ATUR_PERF}.12",
        {
            "lofs": f"{_ATUR_PERF}.13",
            "loss": f"{_ATUR_PERF}.14",
            "lprs": f"{_ATUR_PERF}.15",
            "es": f"{_ATUR_PERF}.16",
            "ses": f"{_ATUR_PERF_EXT}.5",
            "uas": f"{_ATUR_PERF_EXT}.6",
        },
    ),
    (
        DslPeriod.DAY1,
        1,
        f"{_ATUR_PERF}.17",
        {
            "lofs": f"{_ATUR_PERF}.18",
            "loss": f"{_ATUR_PERF}.19",
            "lprs": f"{_ATUR_PERF}.20",
            "es": f"{_ATUR_PERF}.21",
            "ses": f"{_ATUR_PERF_EXT}.7",
            "uas": f"{_ATUR_PERF_EXT}.8",
        },
    ),
)
# 15-minute history: (valid-data column, {field: column}); index ifIndex.intervalNumber.
_ATUC_HISTORY = (
    f"{_ATUC_INTERVAL}.8",
    {
        "lofs": f"{_ATUC_INTERVAL}.2",
        "loss": f"{_ATUC_INTERVAL}.3",
        "lprs": f"{_ATUC_INTERVAL}.5",
        "es": f"{_ATUC_INTERVAL}.6",
        "inits": f"{_ATUC_INTERVAL}.7",
        "failed_inits": f"{_ATUC_INTERVAL_EXT}.2",
        "ses": f"{_ATUC_INTERVAL_EXT}.3",
        "uas": f"{_ATUC_INTERVAL_EXT}.4",
    },
)
_ATUR_HISTORY = (
    f"{_ATUR_INTERVAL}.6",
    {
        "lofs": f"{_ATUR_INTERVAL}.2",
        "loss": f"{_ATUR_INTERVAL}.3",
        "lprs": f"{_ATUR_INTERVAL}.4",
        "es": f"{_ATUR_INTERVAL}.5",
        "ses": f"{_ATUR_INTERVAL_EXT}.1",
        "uas": f"{_ATUR_INTERVAL_EXT}.2",
    },
)

_PHYS_COLUMNS = (
    ATUC_CURR_SNR_MGN,
    ATUC_CURR_ATN,
    ATUC_CURR_OUTPUT_PWR,
    ATUC_CURR_ATTAINABLE_RATE,
    ATUR_CURR_SNR_MGN,
    ATUR_CURR_ATN,
    ATUR_CURR_OUTPUT_PWR,
    ATUR_CURR_ATTAINABLE_RATE,
)
_CHAN_COLUMNS = (ATUC_CHAN_CURR_TX_RATE, ATUR_CHAN_CURR_TX_RATE)


def _columns_of(*groups: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(oid for group in groups for oid in group.values())


_PERF_COLUMNS = tuple(
    sorted(
        {
            *_columns_of(_ATUC_TOTALS, _ATUR_TOTALS),
            *(oid for b in _ATUC_BINS + _ATUR_BINS for oid in (b[2], *b[3].values())),
        },
        key=lambda oid: tuple(int(p) for p in oid.split(".")),
    )
)
# Walked every poll: line status, rates, running counters and current bins (RFC 3440 too).
CURRENT_COLUMNS: tuple[str, ...] = _PHYS_COLUMNS + _CHAN_COLUMNS + _PERF_COLUMNS
# The 15-minute history (96 rows per line and unit): walk it every 15 minutes, not per poll.
INTERVAL_COLUMNS: tuple[str, ...] = (
    _ATUC_HISTORY[0],
    *_ATUC_HISTORY[1].values(),
    _ATUR_HISTORY[0],
    *_ATUR_HISTORY[1].values(),
)
EXT_COLUMNS: tuple[str, ...] = tuple(
    oid for oid in CURRENT_COLUMNS + INTERVAL_COLUMNS if oid.startswith(_EXT)
)
COLUMNS: tuple[str, ...] = CURRENT_COLUMNS + INTERVAL_COLUMNS

_GAUGE_MAX = 2**32 - 1
_RATE_MAX = 0x7FFFFFFF - 1  # 0x7FFFFFFF and above: vendors' "not available"
_TRUTH_TRUE = 1
_DAY_S = 86_400
_ELAPSED_MAX = {DslPeriod.MIN15: 899, DslPeriod.DAY1: _DAY_S - 1}


def parse_adsl_lines(
    table: Table,
    *,
    stack: Mapping[int, tuple[int, ...]] | None = None,
    db_unit_tenths: int = 1,
) -> list[DslLineRow]:
    """One DslLineRow per ADSL line found in the walked ``table``, by ifIndex.

    ``stack`` is ``if_mib.parse_if_stack(...)`` (channel ifIndex → its line); without it a
    channel row counts for the line with the same ifIndex, or for the only line there is.
    ``db_unit_tenths`` is a vendor quirk: 1 when the agent follows the MIB (0.1 dB units),
    10 when it answers whole dB (DrayTek Vigor).
    """
    lines = [
        parsed[0]
        for suffix in indexes(table, _PHYS_COLUMNS + _PERF_COLUMNS)
        if (parsed := split_index(suffix)) is not None and len(parsed) == 1
    ]
    if not lines:
        return []
    rates = _channel_rates(table, set(lines), stack or {})
    history = _history(table, set(lines))
    rows = []
    for ifindex in lines:
        idx = str(ifindex)

        def get(oid: str, idx: str = idx) -> SnmpValue:
            return column(table, oid).get(idx)

        def tenths(oid: str, lo: int, hi: int) -> float | None:
            raw = as_int(get(oid))
            if raw is None:
                return None
            value = raw * db_unit_tenths
            return value / 10 if lo <= value <= hi else None

        down, up = rates.get(ifindex, (None, None))
        rows.append(
            DslLineRow(
                ifindex=ifindex,
                standard=DslStandard.ADSL,
                snr_margin_down_db=tenths(ATUR_CURR_SNR_MGN, -640, 640),
                snr_margin_up_db=tenths(ATUC_CURR_SNR_MGN, -640, 640),
                attn_down_db=tenths(ATUR_CURR_ATN, 0, 630),
                attn_up_db=tenths(ATUC_CURR_ATN, 0, 630),
                output_power_down_dbm=tenths(ATUC_CURR_OUTPUT_PWR, -310, 310),
                output_power_up_dbm=tenths(ATUR_CURR_OUTPUT_PWR, -310, 310),
                attainable_down_kbps=_kbps(get(ATUC_CURR_ATTAINABLE_RATE)),
                attainable_up_kbps=_kbps(get(ATUR_CURR_ATTAINABLE_RATE)),
                actual_down_kbps=down,
                actual_up_kbps=up,
                xtuc=_counters(table, idx, _ATUC_TOTALS),
                xtur=_counters(table, idx, _ATUR_TOTALS),
                intervals=(
                    *_current_bins(table, idx, DslUnit.XTUC, _ATUC_BINS),
                    *_current_bins(table, idx, DslUnit.XTUR, _ATUR_BINS),
                    *history.get(ifindex, ()),
                ),
            )
        )
    return rows


def _count(value: SnmpValue) -> int | None:
    return as_int(value, lo=0, hi=_GAUGE_MAX)


def _kbps(value: SnmpValue) -> int | None:
    bps = as_int(value, lo=0, hi=_RATE_MAX)
    return None if bps is None else bps // 1000


def _counters(table: Table, idx: str, fields: Mapping[str, str]) -> DslCounters:
    return DslCounters(
        **{name: _count(column(table, oid).get(idx)) for name, oid in fields.items()}
    )


def _current_bins(
    table: Table, idx: str, unit: DslUnit, bins: tuple[_Bin, ...]
) -> list[DslInterval]:
    out = []
    for period, number, time_oid, fields in bins:
        values = {name: _count(column(table, oid).get(idx)) for name, oid in fields.items()}
        seconds = column(table, time_oid).get(idx)
        if seconds is None and all(v is None for v in values.values()):
            continue  # the agent has no such bin
        if number == 0:
            # Current bin: elapsed seconds; out of range (Teldat answers 8449563) → unknown.
            monitored = as_int(seconds, lo=0, hi=_ELAPSED_MAX[period])
            valid = True
        else:
            # Previous day: valid only if the whole day was monitored (Prev1DayMoniSecs).
            monitored = as_int(seconds, lo=0, hi=_DAY_S)
            valid = monitored == _DAY_S
        out.append(
            DslInterval(
                unit=unit,
                period=period,
                number=number,
                valid=valid,
                monitored_s=monitored,
                **values,
            )
        )
    return out


def _history(table: Table, lines: set[int]) -> dict[int, list[DslInterval]]:
    out: dict[int, list[DslInterval]] = {}
    for unit, (valid_oid, fields) in ((DslUnit.XTUC, _ATUC_HISTORY), (DslUnit.XTUR, _ATUR_HISTORY)):
        for suffix in indexes(table, (valid_oid, *fields.values())):
            parsed = split_index(suffix)
            if parsed is None or len(parsed) != 2 or parsed[0] not in lines or parsed[1] < 1:
                continue
            values = {name: _count(column(table, oid).get(suffix)) for name, oid in fields.items()}
            out.setdefault(parsed[0], []).append(
                DslInterval(
                    unit=unit,
                    period=DslPeriod.MIN15,
                    number=parsed[1],
                    # No flag, or anything but true(1), means the agent does not vouch for it.
                    valid=as_int(column(table, valid_oid).get(suffix)) == _TRUTH_TRUE,
                    monitored_s=None,
                    **values,
                )
            )
    return out


def _channel_rates(
    table: Table, lines: set[int], stack: Mapping[int, tuple[int, ...]]
) -> dict[int, tuple[int | None, int | None]]:
    """Line ifIndex → (down, up) kbit/s: the sum of its channels' current transmit rates."""
    sums: dict[int, list[int | None]] = {}
    for position, oid in enumerate((ATUC_CHAN_CURR_TX_RATE, ATUR_CHAN_CURR_TX_RATE)):
        for suffix, value in column(table, oid).items():
            parsed = split_index(suffix)
            if parsed is None or len(parsed) != 1:
                continue
            line = _line_of(parsed[0], lines, stack)
            bps = as_int(value, lo=0, hi=_RATE_MAX)
            if line is None or bps is None:
                if line is None:
                    _logger.debug("ADSL channel %s belongs to no known line", parsed[0])
                continue
            pair = sums.setdefault(line, [None, None])
            pair[position] = (pair[position] or 0) + bps
    return {
        line: (None if d is None else d // 1000, None if u is None else u // 1000)
        for line, (d, u) in sums.items()
    }


def _line_of(channel: int, lines: set[int], stack: Mapping[int, tuple[int, ...]]) -> int | None:
    if channel in lines:
        return channel
    for lower in stack.get(channel, ()):
        if lower in lines:
            return lower
    if len(lines) == 1:
        return next(iter(lines))
    return None
