"""The soak's seeded script: chaos events that fit end by 65 % of the run, never overlapping."""

from __future__ import annotations

import random

import pytest

from bench.soak_plan import RESTART_S, Timing, plan_chaos

FULL = Timing(
    duration_s=3000,
    interfaces_s=300,
    dsl_s=300,
    timeout_s=4.0,
    warmup_s=420.0,
    chaos_down_s=30.0,
    tries=2,
    silent_intervals=2.0,
)
QUICK = Timing(
    duration_s=180,
    interfaces_s=10,
    dsl_s=10,
    timeout_s=2.0,
    warmup_s=30.0,
    chaos_down_s=5.0,
    tries=3,
)


@pytest.mark.parametrize("seed", range(20))
def test_full_run_chaos_fits_before_the_steady_state(seed: int) -> None:
    events = plan_chaos(FULL, random.Random(seed))
    assert sorted(e.kind for e in events) == [
        "cut_link",
        "kill_central",
        "kill_database",
        "kill_district",
    ]
    assert events[0].at >= FULL.warmup_s
    busy_until = 0.0
    for e in events:
        assert e.at >= busy_until, "an event is planned before the previous one recovered"
        busy_until = e.at + e.down_s + (0.0 if e.kind == "cut_link" else RESTART_S)
    assert busy_until <= 0.65 * FULL.duration_s
    cut = next(e for e in events if e.kind == "cut_link")
    assert cut.down_s == FULL.silent_after_s + FULL.interfaces_s == 900
    assert cut.down_s > FULL.interfaces_s, "longer than a poll cycle"


def test_chaos_that_does_not_fit_is_played_back_to_back() -> None:
    events = plan_chaos(QUICK, random.Random(7), after=137.0)
    assert [e.at for e in events] == [137.0] * 4  # the runner waits for each recovery
    assert next(e for e in events if e.kind == "cut_link").down_s == 40.0
