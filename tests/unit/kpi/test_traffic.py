"""Traffic model on small synthetic series whose answers can be checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kpi.anomaly import (
    AnomalyKind,
    DetectorConfig,
    OnlineDetector,
    SkylineConfig,
    score_series,
    skyline_score_series,
)
from kpi.forecast import ForecastConfig, estimate_period, estimate_periods, fit_forecaster
from kpi.traffic import (
    busy_hour,
    capacity_exhaustion,
    daily_busy_hours,
    direction_split,
    growth_trend,
    robust_growth_trend,
    top_loaded_links,
    traffic_matrix,
)
from kpi.trend import TrendConfig, cusum_threshold, detect_rate_increase

DAY = 288
WEEK = 7 * DAY


def _seasonal(weeks: int, day: int = DAY) -> np.ndarray:
    """Daily sine (100 ± 50) with weekends at 60 %: a purely periodic weekly series."""
    t = np.arange(weeks * 7 * day)
    daily = 100.0 + 50.0 * np.sin(2 * np.pi * t / day)
    weekday = (t // day) % 7
    return daily * np.where(weekday >= 5, 0.6, 1.0)


# --- forecast ---------------------------------------------------------------------------


def test_pure_weekly_series_is_forecast_almost_exactly():
    """Every past week is identical, so each slot's forecast is the slot's value (±smoothing)."""
    y = _seasonal(5)
    truth = _seasonal(6)[len(y) : len(y) + WEEK]
    model = fit_forecaster(y, ForecastConfig.for_day(DAY, smooth=0))
    fc = model.forecast(WEEK)
    assert model.period == WEEK
    np.testing.assert_allclose(fc.mean, truth, rtol=1e-9)
    assert np.all(fc.lower <= fc.mean) and np.all(fc.upper >= fc.mean)


def test_smoothed_forecast_of_pure_series_has_near_zero_error():
    y = _seasonal(5)
    truth = _seasonal(6)[len(y) : len(y) + DAY]
    fc = fit_forecaster(y, ForecastConfig.for_day(DAY)).forecast(DAY)
    assert np.mean(np.abs(fc.mean - truth)) / np.mean(truth) < 0.002


def test_forecast_survives_gaps_and_an_outlier():
    y = _seasonal(5)
    y[-WEEK - 500 : -WEEK - 200] = np.nan  # a 25-hour gap one week back
    y[-2 * WEEK + 100] = 1e6  # a counter glitch two weeks back
    truth = _seasonal(6)[len(y) : len(y) + DAY]
    fc = fit_forecaster(y, ForecastConfig.for_day(DAY)).forecast(DAY)
    assert np.all(np.isfinite(fc.mean))
    assert np.median(np.abs(fc.mean - truth) / truth) < 0.01


def test_short_history_falls_back_to_the_daily_period():
    y = _seasonal(1)[: 3 * DAY]  # three weekdays only
    model = fit_forecaster(y, ForecastConfig.for_day(DAY))
    assert model.period == DAY
    assert len(model.forecast(DAY).mean) == DAY
    with pytest.raises(ValueError, match="two days"):
        fit_forecaster(y[:DAY], ForecastConfig.for_day(DAY))


def test_level_correction_follows_a_recent_level_change():
    y = _seasonal(5)
    y[-DAY:] *= 1.2  # traffic is 20 % higher since yesterday
    truth = _seasonal(6)[len(y) : len(y) + 12] * 1.2
    fc = fit_forecaster(y, ForecastConfig.for_day(DAY)).forecast(12)
    # The first two steps straddle this toy series' Sunday→Monday jump, which the ±2-sample
    # smoothing blurs; real traffic has no such discontinuity.
    assert np.max(np.abs(fc.mean[2:] / truth[2:] - 1.0)) < 0.02


def test_period_is_estimated_in_samples_not_labels():
    """A poller that drifts: the true day is 283 samples, the week 1981."""
    t = np.arange(8 * 1981)
    rng = np.random.default_rng(0)
    weekend = (t // 283) % 7 >= 5
    y = 100 + 40 * np.sin(2 * np.pi * t / 283) + 20 * weekend + rng.normal(0, 2, len(t))
    assert estimate_period(y, 7 * 288) == 1981
    # The daily ACF peak is blunt; the daily period is taken from the sharp weekly one.
    assert estimate_periods(y, 288) == (283, 1981)


# --- busy hour and capacity ---------------------------------------------------------------


def test_busy_hour_of_a_hand_built_day():
    """One 12-sample block at 10 (sum 120) beats a single 50 spike (sum 50)."""
    day = np.zeros(DAY)
    day[50] = 50.0
    day[100:112] = 10.0
    day[111] = 20.0  # p95 of [10]*11 + [20]: 10 + 0.45 * 10 = 14.5
    bh = busy_hour(day)
    assert bh.start == 100
    assert bh.mean == pytest.approx(130.0 / 12)
    assert bh.p95 == pytest.approx(14.5)


def test_daily_busy_hours_align_days_to_the_end():
    y = np.concatenate([np.ones(5), _seasonal(1)[: 2 * DAY]])  # 5 stray samples first
    frame = daily_busy_hours(y, DAY)
    assert list(frame["day"]) == [0, 1]
    # The sine peaks at a quarter day: the busy hour is centred on sample 72.
    assert abs(int(frame["start"].iloc[0]) + 6 - 72) <= 1


def test_daily_busy_hours_equal_busy_hour_day_by_day_with_gaps():
    """All days at once give what busy_hour gives per day, gaps and sparse days included.

    Day 3 is 60 % missing (dropped: more than half), day 5 has a gap inside its busy hour.
    """
    rng = np.random.default_rng(4)
    y = _seasonal(2)[: 9 * DAY] * rng.uniform(0.9, 1.1, 9 * DAY)
    y[3 * DAY : 3 * DAY + int(0.6 * DAY)] = np.nan
    y[5 * DAY + 70] = np.nan
    frame = daily_busy_hours(y, DAY)
    assert list(frame["day"]) == [0, 1, 2, 4, 5, 6, 7, 8]
    for row in frame.itertuples():
        bh = busy_hour(y[row.day * DAY : (row.day + 1) * DAY])
        assert (row.start, row.mean, row.p95) == (bh.start, bh.mean, bh.p95), row.day
    assert daily_busy_hours(y[: DAY - 1], DAY).empty


def test_no_exhaustion_date_with_less_than_four_weeks():
    fc = capacity_exhaustion(np.linspace(50, 79, 27), link_speed=100.0)
    assert fc.days is None
    assert fc.reason is not None and "28" in fc.reason


def test_exhaustion_date_of_a_clean_exponential_trend():
    """p95 = 40 × 1.01^d: 80 % of 100 is reached when 1.01^d = 2, d = ln 2 / ln 1.01 ≈ 69.7."""
    days = np.arange(42)
    p95 = 40.0 * 1.01**days
    fc = capacity_exhaustion(p95, link_speed=100.0)
    assert fc.days is not None
    expected_from_last = np.log(2.0) / np.log(1.01) - 41
    assert fc.days == pytest.approx(expected_from_last, abs=0.5)
    assert fc.days_low is not None and fc.days_low <= fc.days
    assert growth_trend(p95).growth_per_day == pytest.approx(np.log(1.01), rel=1e-6)


def test_synthetic_growth_crossing_date_within_three_days():
    """Weekly pattern (weekend −40 %) × 1 % noise × (1 + 100 %/year)^(d/365), 8 weeks.

    The weekly peak (weekdays, level 50) moves to the last day d = 55 at 50 × 2^(55/365);
    80 % of a speed S is reached when 50 × 2^(d/365) = 0.8 S. With S = 50 × 2^(69/365) / 0.8
    the crossing is day 69, i.e. 14 days after the last day.
    """
    rng = np.random.default_rng(5)
    d = np.arange(56)
    weekly = np.where(d % 7 >= 5, 0.6, 1.0)
    p95 = 50.0 * weekly * 2.0 ** (d / 365.0) * (1.0 + rng.normal(0.0, 0.003, len(d)))
    speed = 50.0 * 2.0 ** (69 / 365.0) / 0.8
    fc = capacity_exhaustion(p95, link_speed=speed)
    assert fc.days is not None
    assert abs(fc.days - 14.0) <= 3.0
    assert fc.days_low is not None and fc.days_high is not None
    assert fc.days_low <= fc.days <= fc.days_high
    assert robust_growth_trend(p95).growth_per_year == pytest.approx(1.0, abs=0.25)


def test_holiday_weeks_do_not_bend_the_robust_trend():
    """Two holiday weeks at half traffic in ten flat weeks: no growth, no date."""
    p95 = np.full(70, 60.0) * np.where(np.arange(70) % 7 >= 5, 0.6, 1.0)
    p95[35:49] *= 0.5
    fc = capacity_exhaustion(p95, link_speed=100.0)
    assert fc.days is None
    assert fc.reason == "no significant growth"


def test_flat_series_reports_no_growth():
    rng = np.random.default_rng(3)
    fc = capacity_exhaustion(50.0 + rng.normal(0, 1, 60), link_speed=100.0)
    assert fc.days is None
    assert fc.reason == "no significant growth"


# --- flow direction -------------------------------------------------------------------------


def test_direction_split_top_links_and_matrix():
    frame = pd.DataFrame(
        {
            "district": ["A", "A", "B"],
            "uplink": ["u1", "u2", "u1"],
            "link": ["l1", "l2", "l3"],
            "down_bps": [80.0, 20.0, 30.0],
            "up_bps": [20.0, 0.0, 10.0],
            "speed_bps": [100.0, 100.0, 40.0],
        }
    )
    base = frame.assign(down_bps=[40.0, 10.0, 30.0])
    split = direction_split(frame, "district", baseline=base)
    assert split.loc["A", "down_share"] == pytest.approx(100.0 / 120.0)
    assert split.loc["A", "down_share_change"] == pytest.approx(100 / 120 - 50 / 70)
    assert split.loc["B", "total_change"] == pytest.approx(0.0)
    top = top_loaded_links(frame, n=2)
    assert list(top.index) == ["l1", "l3"]  # 0.8 and 0.75
    matrix = traffic_matrix(frame)
    assert matrix.loc["A", "u1"] == 80.0 and matrix.loc["B", "u2"] == 0.0


# --- anomaly detection ----------------------------------------------------------------------


def _noisy_level(n: int, seed: int = 7) -> np.ndarray:
    return 100.0 + np.random.default_rng(seed).normal(0.0, 2.0, n)


def test_step_drop_raises_one_alert_soon_after_and_not_before():
    y = _noisy_level(3000)
    drop_at = 2000
    y[drop_at:] *= 0.3  # partial outage: traffic falls to 30 %
    scores, events = score_series(y, DetectorConfig())
    assert len(events) == 1
    event = events[0]
    assert drop_at <= event.index <= drop_at + 6
    assert event.kind is AnomalyKind.DROP
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    assert scores[:drop_at].max() < DetectorConfig().alert_level


def test_skyline_step_drop_raises_one_alert_soon_after_and_not_before():
    """Drop to 30 % at sample 2000: ≥ 5 of the 7 tests fire within 3 samples (tail of 3)."""
    y = _noisy_level(3000)
    drop_at = 2000
    y[drop_at:] *= 0.3
    config = SkylineConfig()
    scores, events = skyline_score_series(y, config)
    assert len(events) == 1
    event = events[0]
    assert drop_at <= event.index <= drop_at + 3
    assert event.kind is AnomalyKind.DROP
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    assert scores[:drop_at].max() < config.consensus / 7


def test_skyline_is_causal_and_ignores_nan():
    y = _noisy_level(1500)
    z = y.copy()
    z[1000:] = 0.0
    a, _ = skyline_score_series(y)
    b, _ = skyline_score_series(z)
    np.testing.assert_array_equal(a[:1000], b[:1000])
    scores, events = skyline_score_series(np.full(50, np.nan))
    assert not events and np.all(scores == 0.0)


def test_single_spike_is_a_spike_and_refractory_keeps_it_to_one_alert():
    y = _noisy_level(3000)
    y[2500:2503] = 400.0
    _, events = score_series(y, DetectorConfig())
    assert [e.kind for e in events] == [AnomalyKind.SPIKE]
    assert 2500 <= events[0].index <= 2503


def test_detector_is_causal():
    """Scores up to t do not change when the future changes."""
    y = _noisy_level(1500)
    z = y.copy()
    z[1000:] = 0.0
    a, _ = score_series(y)
    b, _ = score_series(z)
    np.testing.assert_array_equal(a[:1000], b[:1000])


def test_forecast_band_mode_flags_a_drop_below_the_band():
    det = OnlineDetector(DetectorConfig())
    events = []
    for i in range(600):
        value = 100.0 + (i % 3) - (70.0 if i >= 500 else 0.0)
        _, ev = det.update(value, expected=101.0, scale=2.0)
        if ev:
            events.append(ev)
    assert len(events) == 1 and 500 <= events[0].index <= 506


def test_nan_samples_score_zero():
    scores, events = score_series(np.full(100, np.nan))
    assert not events and np.all(scores == 0.0)


# --- fault trend ----------------------------------------------------------------------------


def test_cusum_threshold_grows_with_the_run_length():
    assert cusum_threshold(0.5, 365) < cusum_threshold(0.5, 3650)


def test_rate_increase_is_detected_after_the_change_only():
    rng = np.random.default_rng(11)
    counts = np.concatenate([rng.poisson(10, 150), rng.poisson(20, 40)]).astype(float)
    warnings = detect_rate_increase(counts, TrendConfig(false_alarms_per_year=0.5))
    assert warnings, "a doubling must be detected"
    assert all(w.day >= 150 for w in warnings)
    assert warnings[0].day <= 150 + 7
    assert warnings[0].baseline_rate == pytest.approx(10.0, rel=0.2)
