"""VDSL2-LINE-MIB (RFC 5650) → DslLineRow, and merging with ADSL-LINE-MIB rows.

Read per line ifIndex:

* ``xdsl2LineTable``: attainable rate per direction (bit/s) and actual aggregate transmit
  power (ATP, 0.1 dBm, -310..310; 2147483647 = not available);
* ``xdsl2LineBandTable`` (index ifIndex.band): SNR margin (-640..630 in 0.1 dB), line and
  signal attenuation (0..1270 in 0.1 dB). RFC 5650 codes 0x7FFFFFFF "out of range" and
  0x7FFFFFFE "unavailable"; values some agents send from older drafts (1022, 1023, -512)
  fall outside the ranges as well. All become None. The whole-direction bands
  ``upstream(1)``/``downstream(2)`` give the line's figures; an agent that reports only
  per-band values (ds1, ds2…) gets the worst band: lowest margin, highest attenuation.
* ``xdsl2ChannelStatusTable`` (index ifIndex.unit): actual data rate. The ``xtuc`` row is
  the downstream rate (what the xTU-C sends): the DrayTek Vigor165 recording shows 110.2
  Mbit/s for xtuc against an ATU-C attainable rate of 113.6 Mbit/s.
* ``xdsl2PMLineCurrTable`` (index ifIndex.unit): current 15-minute and 1-day ES, SES, UAS,
  LOSS; ``xdsl2PMLineInitCurrTable``: full inits and failed full inits (counted by the
  xTU-C); ``xdsl2PMLineHist15MinTable`` (ifIndex.unit.interval) with ``ValidInterval``.

VDSL2-LINE-MIB keeps no running totals, so ``xtuc``/``xtur`` counters stay empty.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from collectors.mibs._values import as_int, column, indexes, split_index
from collectors.samples import (
    DslBand,
    DslCounters,
    DslInterval,
    DslLineRow,
    DslPeriod,
    DslStandard,
    DslUnit,
)
from collectors.values import SnmpValue, Table

__all__ = [
    "BAND_NAMES",
    "CH_STATUS_ACT_DATA_RATE",
    "COLUMNS",
    "CURRENT_COLUMNS",
    "INTERVAL_COLUMNS",
    "LINE_BAND_LN_ATTEN",
    "LINE_BAND_SIG_ATTEN",
    "LINE_BAND_SNR_MARGIN",
    "LINE_STATUS_ACT_ATP_DS",
    "LINE_STATUS_ACT_ATP_US",
    "LINE_STATUS_ATTAINABLE_RATE_DS",
    "LINE_STATUS_ATTAINABLE_RATE_US",
    "merge_dsl_lines",
    "parse_vdsl2_lines",
]

_X = "1.3.6.1.2.1.10.251.1"
_LINE = f"{_X}.1.1.1"
LINE_STATUS_ATTAINABLE_RATE_DS = f"{_LINE}.20"  # Unsigned32 bit/s
LINE_STATUS_ATTAINABLE_RATE_US = f"{_LINE}.21"
LINE_STATUS_ACT_ATP_DS = f"{_LINE}.24"  # Integer32 0.1 dBm
LINE_STATUS_ACT_ATP_US = f"{_LINE}.25"
_BAND = f"{_X}.1.2.1"
LINE_BAND_LN_ATTEN = f"{_BAND}.2"
LINE_BAND_SIG_ATTEN = f"{_BAND}.3"
LINE_BAND_SNR_MARGIN = f"{_BAND}.4"
CH_STATUS_ACT_DATA_RATE = f"{_X}.2.2.1.2"  # index ifIndex.unit, Unsigned32 bit/s
_PM_CURR = f"{_X}.4.1.1.1"  # index ifIndex.unit
_PM_INIT_CURR = f"{_X}.4.1.2.1"  # index ifIndex
_PM_HIST15 = f"{_X}.4.1.3.1"  # index ifIndex.unit.interval

# Xdsl2Band: the whole direction, then the individual bands.
BAND_NAMES: Mapping[int, str] = {
    1: "upstream",
    2: "downstream",
    3: "us0",
    4: "ds1",
    5: "us1",
    6: "ds2",
    7: "us2",
    8: "ds3",
    9: "us3",
    10: "ds4",
    11: "us4",
}
_UPSTREAM, _DOWNSTREAM = 1, 2
_UNITS = {1: DslUnit.XTUC, 2: DslUnit.XTUR}

_CURR_BINS: tuple[tuple[DslPeriod, str, dict[str, str]], ...] = (
    (
        DslPeriod.MIN15,
        f"{_PM_CURR}.4",
        {
            "es": f"{_PM_CURR}.6",
            "ses": f"{_PM_CURR}.7",
            "loss": f"{_PM_CURR}.8",
            "uas": f"{_PM_CURR}.9",
        },
    ),
    (
        DslPeriod.DAY1,
        f"{_PM_CURR}.12",
        {
            "es": f"{_PM_CURR}.14",
            "ses": f"{_PM_CURR}.15",
            "loss": f"{_PM_CURR}.16",
            "uas": f"{_PM_CURR}.17",
        },
    ),
)
# Inits are counted per line by the xTU-C: (period, elapsed column, inits, failed inits).
_INIT_BINS = (
    (DslPeriod.MIN15, f"{_PM_INIT_CURR}.3", f"{_PM_INIT_CURR}.4", f"{_PM_INIT_CURR}.5"),
    (DslPeriod.DAY1, f"{_PM_INIT_CURR}.10", f"{_PM_INIT_CURR}.11", f"{_PM_INIT_CURR}.12"),
)
_HIST_MONITORED = f"{_PM_HIST15}.3"
_HIST_FIELDS = {
    "es": f"{_PM_HIST15}.5",
    "ses": f"{_PM_HIST15}.6",
    "loss": f"{_PM_HIST15}.7",
    "uas": f"{_PM_HIST15}.8",
}
_HIST_VALID = f"{_PM_HIST15}.9"

_LINE_COLUMNS = (
    LINE_STATUS_ATTAINABLE_RATE_DS,
    LINE_STATUS_ATTAINABLE_RATE_US,
    LINE_STATUS_ACT_ATP_DS,
    LINE_STATUS_ACT_ATP_US,
)
_BAND_COLUMNS = (LINE_BAND_LN_ATTEN, LINE_BAND_SIG_ATTEN, LINE_BAND_SNR_MARGIN)
_PM_COLUMNS = tuple(
    oid for _, elapsed, fields in _CURR_BINS for oid in (elapsed, *fields.values())
) + tuple(oid for b in _INIT_BINS for oid in b[1:])
CURRENT_COLUMNS: tuple[str, ...] = (
    _LINE_COLUMNS + _BAND_COLUMNS + (CH_STATUS_ACT_DATA_RATE,) + _PM_COLUMNS
)
# 15-minute history (up to 96 × 2 rows per line): walk it every 15 minutes, not per poll.
INTERVAL_COLUMNS: tuple[str, ...] = (_HIST_MONITORED, *_HIST_FIELDS.values(), _HIST_VALID)
COLUMNS: tuple[str, ...] = CURRENT_COLUMNS + INTERVAL_COLUMNS

_U32_MAX = 2**32 - 1
_NO_COUNTERS = DslCounters()
_RATE_MAX = 0x7FFFFFFF - 2  # 0x7FFFFFFE / 0x7FFFFFFF are special codes
_TRUTH_TRUE = 1
_ELAPSED_MAX = {DslPeriod.MIN15: 900, DslPeriod.DAY1: 86_400}


def parse_vdsl2_lines(table: Table) -> list[DslLineRow]:
    """One DslLineRow per VDSL2 line found in any walked column of ``table``, by ifIndex."""
    lines: set[int] = set()
    for suffix in indexes(table, COLUMNS):
        parsed = split_index(suffix)
        if parsed:
            lines.add(parsed[0])
    bands = _bands(table)
    rates = _rates(table)
    intervals = _intervals(table, lines)
    rows = []
    for ifindex in sorted(lines):
        idx = str(ifindex)

        def get(oid: str, idx: str = idx) -> SnmpValue:
            return column(table, oid).get(idx)

        line_bands = bands.get(ifindex, {})
        down_bands = [b for n, b in line_bands.items() if BAND_NAMES[n].startswith("ds")]
        up_bands = [b for n, b in line_bands.items() if BAND_NAMES[n].startswith("us")]
        whole_down = line_bands.get(_DOWNSTREAM)
        whole_up = line_bands.get(_UPSTREAM)
        down, up = rates.get(ifindex, (None, None))
        rows.append(
            DslLineRow(
                ifindex=ifindex,
                standard=DslStandard.VDSL2,
                snr_margin_down_db=_pick(whole_down, down_bands, "snr_margin_db", lowest=True),
                snr_margin_up_db=_pick(whole_up, up_bands, "snr_margin_db", lowest=True),
                attn_down_db=_pick(whole_down, down_bands, "line_attn_db", lowest=False),
                attn_up_db=_pick(whole_up, up_bands, "line_attn_db", lowest=False),
                output_power_down_dbm=_tenths(get(LINE_STATUS_ACT_ATP_DS), -310, 310),
                output_power_up_dbm=_tenths(get(LINE_STATUS_ACT_ATP_US), -310, 310),
                attainable_down_kbps=_kbps(get(LINE_STATUS_ATTAINABLE_RATE_DS)),
                attainable_up_kbps=_kbps(get(LINE_STATUS_ATTAINABLE_RATE_US)),
                actual_down_kbps=down,
                actual_up_kbps=up,
                intervals=tuple(intervals.get(ifindex, ())),
                bands=tuple(line_bands[n] for n in sorted(line_bands)),
            )
        )
    return rows


def _tenths(value: SnmpValue, lo: int, hi: int) -> float | None:
    raw = as_int(value, lo=lo, hi=hi)
    return None if raw is None else raw / 10


def _kbps(value: SnmpValue) -> int | None:
    bps = as_int(value, lo=0, hi=_RATE_MAX)
    return None if bps is None else bps // 1000


def _pick(
    whole: DslBand | None,
    per_band: Iterable[DslBand],
    attr: str,
    *,
    lowest: bool,
) -> float | None:
    whole_value: float | None = None if whole is None else getattr(whole, attr)
    if whole_value is not None:
        return whole_value
    values: list[float] = [v for b in per_band if (v := getattr(b, attr)) is not None]
    if not values:
        return None
    return min(values) if lowest else max(values)


def _bands(table: Table) -> dict[int, dict[int, DslBand]]:
    out: dict[int, dict[int, DslBand]] = {}
    for suffix in indexes(table, _BAND_COLUMNS):
        parsed = split_index(suffix)
        if parsed is None or len(parsed) != 2 or parsed[1] not in BAND_NAMES:
            continue

        def get(oid: str, suffix: str = suffix) -> SnmpValue:
            return column(table, oid).get(suffix)

        out.setdefault(parsed[0], {})[parsed[1]] = DslBand(
            band=BAND_NAMES[parsed[1]],
            snr_margin_db=_tenths(get(LINE_BAND_SNR_MARGIN), -640, 630),
            line_attn_db=_tenths(get(LINE_BAND_LN_ATTEN), 0, 1270),
            signal_attn_db=_tenths(get(LINE_BAND_SIG_ATTEN), 0, 1270),
        )
    return out


def _rates(table: Table) -> dict[int, tuple[int | None, int | None]]:
    out: dict[int, tuple[int | None, int | None]] = {}
    for suffix, value in column(table, CH_STATUS_ACT_DATA_RATE).items():
        parsed = split_index(suffix)
        if parsed is None or len(parsed) != 2 or parsed[1] not in _UNITS:
            continue
        down, up = out.get(parsed[0], (None, None))
        kbps = _kbps(value)
        out[parsed[0]] = (kbps, up) if _UNITS[parsed[1]] is DslUnit.XTUC else (down, kbps)
    return out


def _count(value: SnmpValue) -> int | None:
    return as_int(value, lo=0, hi=_U32_MAX)


def _counts(table: Table, suffix: str, fields: Mapping[str, str]) -> dict[str, int | None]:
    return {name: _count(column(table, oid).get(suffix)) for name, oid in fields.items()}


def _intervals(table: Table, lines: set[int]) -> dict[int, list[DslInterval]]:
    out: dict[int, list[DslInterval]] = {}
    # Current 15-minute and 1-day bins per unit; the xTU-C bins also carry the inits.
    for period, elapsed_oid, fields in _CURR_BINS:
        init_bin = next(b for b in _INIT_BINS if b[0] is period)
        for suffix in indexes(table, (elapsed_oid, *fields.values())):
            parsed = split_index(suffix)
            if parsed is None or len(parsed) != 2 or parsed[1] not in _UNITS:
                continue
            line, unit = parsed[0], _UNITS[parsed[1]]
            extra: dict[str, int | None] = {}
            if unit is DslUnit.XTUC:
                extra = {
                    "inits": _count(column(table, init_bin[2]).get(str(line))),
                    "failed_inits": _count(column(table, init_bin[3]).get(str(line))),
                }
            out.setdefault(line, []).append(
                DslInterval(
                    unit=unit,
                    period=period,
                    number=0,
                    valid=True,
                    monitored_s=as_int(
                        column(table, elapsed_oid).get(suffix), lo=0, hi=_ELAPSED_MAX[period]
                    ),
                    **{
                        name: _count(column(table, oid).get(suffix)) for name, oid in fields.items()
                    },
                    **extra,
                )
            )
    for suffix in indexes(table, INTERVAL_COLUMNS):
        parsed = split_index(suffix)
        if parsed is None or len(parsed) != 3 or parsed[1] not in _UNITS or parsed[2] < 1:
            continue
        out.setdefault(parsed[0], []).append(
            DslInterval(
                unit=_UNITS[parsed[1]],
                period=DslPeriod.MIN15,
                number=parsed[2],
                valid=as_int(column(table, _HIST_VALID).get(suffix)) == _TRUTH_TRUE,
                monitored_s=as_int(column(table, _HIST_MONITORED).get(suffix), lo=0, hi=900),
                **{
                    name: _count(column(table, oid).get(suffix))
                    for name, oid in _HIST_FIELDS.items()
                },
            )
        )
    return {line: bins for line, bins in out.items() if line in lines}


def merge_dsl_lines(
    primary: Iterable[DslLineRow], fallback: Iterable[DslLineRow]
) -> list[DslLineRow]:
    """Lines of both lists by ifIndex; a field missing in ``primary`` is taken from ``fallback``.

    A VDSL2 modem or DSLAM often answers parts of both MIBs (the DrayTek Vigor165 gives SNR
    and attenuation only in ADSL-LINE-MIB, its actual rates only in VDSL2-LINE-MIB). Pass
    the VDSL2 rows as ``primary``. The merged row keeps the primary's ``standard``;
    counters, intervals and bands come from whichever row has any.
    """
    merged = {row.ifindex: row for row in fallback}
    for row in primary:
        other = merged.get(row.ifindex)
        if other is None:
            merged[row.ifindex] = row
            continue
        changes: dict[str, object] = {}
        for f in dataclasses.fields(row):
            mine, theirs = getattr(row, f.name), getattr(other, f.name)
            if mine is None or mine == () or mine == _NO_COUNTERS:
                changes[f.name] = theirs
        merged[row.ifindex] = dataclasses.replace(row, **changes)  # type: ignore[arg-type]
    return [merged[i] for i in sorted(merged)]
