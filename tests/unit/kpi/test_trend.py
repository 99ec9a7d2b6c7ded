"""Fault/complaint trend CUSUM: hand-checkable limits and the false-alarm knob."""

from __future__ import annotations

import numpy as np
import pytest

from kpi.trend import TrendConfig, cusum_threshold, detect_rate_increase


def test_cusum_threshold_solves_siegmunds_arl_by_hand():
    """k = 0.5, ARL₀ = 365: (e^{2kb} − 2kb − 1) / (2k²) = 365 ⇔ e^b − b − 1 = 182.5.

    b = 5.2404 (e^5.2404 = 188.74; 188.74 − 5.24 − 1 = 182.50), h = b − 1.166 = 4.074.
    """
    assert cusum_threshold(0.5, 365.0) == pytest.approx(4.074, abs=0.002)
    with pytest.raises(ValueError, match="positive"):
        cusum_threshold(0.0, 365.0)


def test_no_warning_before_the_baseline_is_long_enough():
    """The first decision needs guard (7) + min_baseline (21) days: a jump on day 20 is silent."""
    counts = np.full(28, 5.0)
    counts[20:] = 50.0
    assert detect_rate_increase(counts) == []


def test_false_alarm_rate_is_the_knob():
    """Poisson(10) for 20 in-control years: the 1/year setting warns about once a year (the
    CUSUM's in-control ARL is 365 days), the 0.1/year setting far less often.
    """
    counts = np.random.default_rng(2).poisson(10.0, 20 * 365).astype(float)
    often = len(detect_rate_increase(counts, TrendConfig(false_alarms_per_year=1.0)))
    rare = len(detect_rate_increase(counts, TrendConfig(false_alarms_per_year=0.1)))
    assert 5 <= often <= 40
    assert rare < often and rare <= 8


def test_missing_days_are_skipped_not_counted_as_zero():
    """A week with no report (NaN) is not a fall in the rate; the rise after it is found."""
    rng = np.random.default_rng(9)
    counts = rng.poisson(8.0, 200).astype(float)
    counts[100:107] = np.nan
    counts[150:] = rng.poisson(16.0, 50)
    warnings = detect_rate_increase(counts)
    assert warnings and warnings[0].day >= 150
    assert all(np.isfinite(w.recent_rate) for w in warnings)
