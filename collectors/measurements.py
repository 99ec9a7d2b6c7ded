"""Flatten one device poll (and the one before it) into typed measurements for storage.

A measurement is ``(entity, metric, value)``: ``entity`` is ``device``, ``if:<ifIndex>`` or
``line:<ifIndex>``; metric names carry their unit (``in_bps``, ``snr_margin_down_db``).
Missing values are left out rather than stored as zero, and an invalid counter interval
(reboot, discontinuity, ambiguous wrap, above speed) yields no rate at all — the storage
never sees a spike. Counters are kept raw (``*_total``) so later stages can difference them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from collectors.counters import CounterRate
from collectors.device_poll import DevicePoll, rates_between
from collectors.samples import (
    DslCounters,
    DslLineRow,
    DslPeriod,
    DslUnit,
    IfStatus,
    InterfaceRow,
)

__all__ = ["Measurement", "measurements"]

TICKS_PER_SECOND = 100  # sysUpTime TimeTicks are centiseconds

_Put = Callable[[str, str, float | int | None], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """One value of one metric of one entity of a device, at the poll's time."""

    entity: str
    metric: str
    value: float


def measurements(curr: DevicePoll, prev: DevicePoll | None = None) -> list[Measurement]:
    """Everything worth storing from ``curr``; rates need the previous poll ``prev``."""
    out: list[Measurement] = []

    def put(entity: str, metric: str, value: float | int | None) -> None:
        if value is not None:
            out.append(Measurement(entity=entity, metric=metric, value=float(value)))

    if curr.system.sys_uptime_ticks is not None:
        put("device", "uptime_s", curr.system.sys_uptime_ticks // TICKS_PER_SECOND)
    if curr.resources is not None:
        put("device", "cpu_load_percent", curr.resources.cpu_load_percent)
        put("device", "memory_used_percent", curr.resources.memory_used_percent)
    for entity, values in curr.metrics.items():
        for metric, value in values.items():
            put(entity, metric, value)

    for row in curr.interfaces:
        _interface(put, row)
    if prev is not None and prev.interfaces and curr.interfaces:
        speeds = {row.ifindex: row.speed_bps for row in curr.interfaces}
        for ifindex, rates in rates_between(prev, curr).items():
            entity = f"if:{ifindex}"
            put(entity, "in_bps", _rate(rates.in_bps))
            put(entity, "out_bps", _rate(rates.out_bps))
            speed = speeds.get(ifindex)
            if speed:
                put(entity, "in_utilisation_ratio", _ratio(rates.in_bps, speed))
                put(entity, "out_utilisation_ratio", _ratio(rates.out_bps, speed))
            put(entity, "in_errors", _delta(rates.in_errors))
            put(entity, "out_errors", _delta(rates.out_errors))
            put(entity, "in_discards", _delta(rates.in_discards))
            put(entity, "out_discards", _delta(rates.out_discards))
            put(entity, "in_ucast_pps", _rate(rates.in_ucast_pps))
            put(entity, "out_ucast_pps", _rate(rates.out_ucast_pps))

    for line in curr.dsl_lines:
        _dsl_line(put, line)
    return out


def _interface(put: _Put, row: InterfaceRow) -> None:
    entity = f"if:{row.ifindex}"
    if row.oper_status is not None:
        put(entity, "oper_up", 1 if row.oper_status is IfStatus.UP else 0)
    put(entity, "speed_bps", row.speed_bps)


def _dsl_line(put: _Put, line: DslLineRow) -> None:
    entity = f"line:{line.ifindex}"
    put(entity, "snr_margin_down_db", line.snr_margin_down_db)
    put(entity, "snr_margin_up_db", line.snr_margin_up_db)
    put(entity, "attn_down_db", line.attn_down_db)
    put(entity, "attn_up_db", line.attn_up_db)
    put(entity, "output_power_down_dbm", line.output_power_down_dbm)
    put(entity, "output_power_up_dbm", line.output_power_up_dbm)
    put(entity, "actual_down_kbps", line.actual_down_kbps)
    put(entity, "actual_up_kbps", line.actual_up_kbps)
    put(entity, "attainable_down_kbps", line.attainable_down_kbps)
    put(entity, "attainable_up_kbps", line.attainable_up_kbps)
    _dsl_counters(put, entity, "", line.xtuc)
    _dsl_counters(put, entity, "remote_", line.xtur)
    _dsl_last_bin(put, entity, "", line, DslUnit.XTUC)
    _dsl_last_bin(put, entity, "remote_", line, DslUnit.XTUR)
    _dsl_current_inits(put, entity, line)


def _dsl_last_bin(put: _Put, entity: str, prefix: str, line: DslLineRow, unit: DslUnit) -> None:
    """The agent's most recent completed 15-minute bin (number 1), if the agent vouches for it.

    Stored at the poll's time as ``pm15_*``: every poll within the next 15 minutes repeats
    it. This is the only source of ES/SES/UAS for a VDSL2 line (no running counters).
    """
    for b in line.intervals:
        if b.unit is unit and b.period is DslPeriod.MIN15 and b.number == 1 and b.valid:
            put(entity, f"{prefix}pm15_es", b.es)
            put(entity, f"{prefix}pm15_ses", b.ses)
            put(entity, f"{prefix}pm15_uas", b.uas)
            put(entity, f"{prefix}pm15_inits", b.inits)
            put(entity, f"{prefix}pm15_failed_inits", b.failed_inits)
            return


def _dsl_current_inits(put: _Put, entity: str, line: DslLineRow) -> None:
    """Full inits so far in the xTU-C's running 15-minute bin, for a line without ``inits_total``.

    Stored as ``curr15_inits`` with the seconds elapsed in the bin (``curr15_elapsed_s``), so
    that a reader can tell more inits in the same bin from a new bin. A VDSL2 line has no
    running init counter; this is its only init count that is not 15–30 minutes late. The
    elapsed time is the xTU-C's ``xdsl2PMLCurr15MTimeElapsed``: the init table counts the
    same quarter hour.
    """
    if line.xtuc.inits is not None:
        return
    for b in line.intervals:
        if b.unit is DslUnit.XTUC and b.period is DslPeriod.MIN15 and b.number == 0:
            if b.inits is not None:
                put(entity, "curr15_inits", b.inits)
                put(entity, "curr15_elapsed_s", b.monitored_s)
            return


def _dsl_counters(put: _Put, entity: str, prefix: str, counters: DslCounters) -> None:
    put(entity, f"{prefix}es_total", counters.es)
    put(entity, f"{prefix}ses_total", counters.ses)
    put(entity, f"{prefix}uas_total", counters.uas)
    put(entity, f"{prefix}inits_total", counters.inits)
    put(entity, f"{prefix}failed_inits_total", counters.failed_inits)
    put(entity, f"{prefix}loss_total", counters.loss)
    put(entity, f"{prefix}lofs_total", counters.lofs)


def _rate(rate: CounterRate) -> int | None:
    return rate.per_second if rate.valid else None


def _delta(rate: CounterRate) -> int | None:
    return rate.delta if rate.valid else None


def _ratio(rate: CounterRate, speed_bps: int) -> float | None:
    return rate.per_second / speed_bps if rate.valid and rate.per_second is not None else None
