"""The agent's own last completed 15-minute PM bin becomes ``pm15_*`` measurements, and the
running bin's inits of a line without an init counter ``curr15_*``."""

from __future__ import annotations

from collectors.device_poll import DevicePoll
from collectors.measurements import measurements
from collectors.samples import (
    DslCounters,
    DslInterval,
    DslLineRow,
    DslPeriod,
    DslStandard,
    DslUnit,
    SystemInfo,
)


def _bin(unit: DslUnit, number: int, *, valid: bool = True, es: int = 0) -> DslInterval:
    return DslInterval(
        unit=unit, period=DslPeriod.MIN15, number=number, valid=valid, es=es, ses=1, uas=30
    )


def _values(*intervals: DslInterval) -> dict[str, float]:
    line = DslLineRow(ifindex=7, standard=DslStandard.VDSL2, intervals=intervals)
    poll = DevicePoll(host="h", profile="p", system=SystemInfo(), dsl_lines=(line,))
    return {m.metric: m.value for m in measurements(poll) if m.metric.startswith(("pm15", "re"))}


def test_last_completed_bin_of_each_unit_is_stored_when_the_agent_vouches_for_it() -> None:
    got = _values(
        _bin(DslUnit.XTUC, 0, es=99),  # the running bin: not a result yet
        _bin(DslUnit.XTUC, 1, es=4),
        _bin(DslUnit.XTUC, 2, es=8),  # older: was stored when it was number 1
        _bin(DslUnit.XTUR, 1, es=2),
    )
    assert got == {
        "pm15_es": 4.0,
        "pm15_ses": 1.0,
        "pm15_uas": 30.0,
        "remote_pm15_es": 2.0,
        "remote_pm15_ses": 1.0,
        "remote_pm15_uas": 30.0,
    }


def test_a_bin_the_agent_marks_invalid_is_not_stored() -> None:
    assert _values(_bin(DslUnit.XTUC, 1, valid=False, es=4)) == {}
    day = DslInterval(unit=DslUnit.XTUC, period=DslPeriod.DAY1, number=1, valid=True, es=5)
    assert _values(day) == {}, "1-day bins are not 15-minute bins"


def _current(*intervals: DslInterval, counters: DslCounters | None = None) -> dict[str, float]:
    line = DslLineRow(
        ifindex=7, standard=DslStandard.VDSL2, intervals=intervals, xtuc=counters or DslCounters()
    )
    poll = DevicePoll(host="h", profile="p", system=SystemInfo(), dsl_lines=(line,))
    return {m.metric: m.value for m in measurements(poll) if m.metric.startswith("curr15")}


def test_running_bin_inits_are_stored_for_a_line_without_an_init_counter() -> None:
    running = DslInterval(
        unit=DslUnit.XTUC, period=DslPeriod.MIN15, number=0, valid=True, monitored_s=312, inits=9
    )
    remote = DslInterval(
        unit=DslUnit.XTUR, period=DslPeriod.MIN15, number=0, valid=True, monitored_s=312
    )
    day = DslInterval(
        unit=DslUnit.XTUC, period=DslPeriod.DAY1, number=0, valid=True, monitored_s=7000, inits=40
    )
    assert _current(day, remote, running) == {"curr15_inits": 9.0, "curr15_elapsed_s": 312.0}
    assert _current(running, counters=DslCounters(inits=120)) == {}, (
        "a line with inits_total (ADSL2+) needs no bin count"
    )
    assert _current(_bin(DslUnit.XTUC, 0)) == {}, "an agent without the init table: nothing"
