"""The capacity evaluation's ground truth (bench/eval_forecast.py) on hand-built series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.eval_forecast import _score, _summary, record_days
from kpi.traffic import CapacityForecast, capacity_exhaustion


def test_record_days_are_the_only_possible_first_crossings():
    """Values 5, 3, 6, 6, 7, NaN, 9: records (strictly above every earlier day) at 2, 4, 6.

    Day 3 equals day 2, so a capacity at 6 / 0.8 is first reached on day 2, never on day 3;
    day 0 has no earlier day to be measured against and is not a crossing.
    """
    assert record_days(np.array([5.0, 3.0, 6.0, 6.0, 7.0, np.nan, 9.0])) == [2, 4, 6]
    assert record_days(np.array([4.0, 3.0, 2.0])) == []


def test_a_falling_series_has_no_first_crossing_after_its_first_week():
    """The UK case: a high first week that later weeks × growth never reach again."""
    weeks = np.concatenate([np.full(7, 1.6), np.full(56, 1.2)])
    growth = 2.0 ** (np.arange(63) / 365.0)  # +100 %/year: 1.2 × 2^(62/365) ≈ 1.35 < 1.6
    assert [t for t in record_days(weeks * growth) if t >= 28] == []


def _fc(days: float | None, low: float = 0.0, high: float | None = None, reason: str | None = None):
    return CapacityForecast(
        days=days, days_low=low, days_high=high, utilisation=0.5, growth_per_year=1.0, reason=reason
    )


@pytest.mark.parametrize(
    ("fc", "expected", "description"),
    [
        # 30 days of history: the last history day is 29; truth day 43 is 14 days after it.
        (_fc(16.0, 10.0, 20.0), {"kind": "dated", "error": 2.0, "in_range": True}, "2 days late"),
        (
            _fc(11.0, 8.0, 13.0),
            {"kind": "dated", "error": -3.0, "in_range": False},
            "early, out",
        ),
        (_fc(9.0, 5.0, None), {"kind": "dated", "error": -5.0, "in_range": True}, "open range"),
        (
            _fc(None, reason="no significant growth"),
            {"kind": "no date", "reason": "no significant growth"},
            "no date",
        ),
        (
            _fc(0.0, 0.0, 0.0, reason="already above the threshold"),
            {"kind": "already above", "error": -14.0},
            "already above",
        ),
    ],
)
def test_score_against_the_true_day(fc, expected, description):
    assert _score(fc, origin=30, truth=43) == expected, description


def test_summary_counts_misses_in_the_within_3_days_share():
    """Four cases: errors +2 and −5 dated, one no date, one already above → 1 of 4 within 3."""
    cases = [
        {"kind": "dated", "error": 2.0, "in_range": True},
        {"kind": "dated", "error": -5.0, "in_range": False},
        {"kind": "no date", "reason": "no significant growth"},
        {"kind": "already above", "error": -8.0},
    ]
    s = _summary(cases)
    assert (s["cases"], s["dated"], s["no_date"], s["already_above"]) == (4, 2, 1, 1)
    assert s["median_error_days"] == pytest.approx(-1.5)
    assert s["median_abs_error_days"] == pytest.approx(3.5)
    assert s["within_3_days"] == pytest.approx(0.25)
    assert s["truth_in_90_range"] == pytest.approx(0.5)


def test_first_crossing_truth_on_a_noise_free_growing_series():
    """p95 = 50 × weekly × 2^(d/365), weekends (d mod 7 ∈ {5, 6}) at 60 %.

    Every weekday is a record, no weekend day is. With C = p95(57) / 0.8 and 43 days of
    history (last day 42, a weekday), the weekly peaks are the weekdays 42, 35, 28, … on the
    exact trend and every same-weekday slope is ln 2 / 365, so the model dates day 57 exactly.
    """
    d = np.arange(70)
    p95 = 50.0 * np.where(d % 7 >= 5, 0.6, 1.0) * 2.0 ** (d / 365.0)
    records = record_days(p95)
    assert 56 in records and 57 in records and 55 not in records
    fc = capacity_exhaustion(p95[:43], p95[57] / 0.8, 0.8)
    scored = _score(fc, origin=43, truth=57)
    assert scored["kind"] == "dated" and scored["in_range"]
    assert math.isclose(scored["error"], 0.0, abs_tol=1e-6)
