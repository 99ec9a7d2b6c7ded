"""Load forecasts: robust weekly seasonal profile with recent-day weighting and level correction.

Seasonality is counted in samples, never in wall-clock labels: a link whose poller drifts
(one "5-minute" sample that is really 305 s) keeps its true daily/weekly period, which
:func:`estimate_period` finds from the autocorrelation near the nominal one.

The model, per link (all numpy, one pass, no iteration):

1. candidates: the value one, two, … ``weeks`` weekly periods before each target slot, each
   scaled by (mean of the last day) / (mean of the same day k weeks earlier), so a holiday
   week at a lower level still contributes its shape;
2. weights: each past week is weighted by ``(best_err / err_k) ** weight_power``, where
   ``err_k`` is how well that scaled week reproduces the most recent day. A week that does not
   look like this week (Christmas break, an outage) fades out instead of biasing a median;
3. a centred moving average over ``smooth`` samples either side removes slot-to-slot noise;
4. level correction: the ratio of the last ``level_window`` observations to the profile,
   decaying towards 1 with half-life ``level_half_life`` samples;
5. prediction intervals: empirical quantiles of log(actual / profile) over the last day
   (the profile only uses values at least one week old, so these are honest
   out-of-sample errors for any horizon up to a week).

With less than one weekly period (plus a day) of history the same procedure runs on daily
periods instead (daily seasonality only). Missing samples are NaN and are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "Forecast",
    "ForecastConfig",
    "SeasonalProfileModel",
    "estimate_period",
    "estimate_periods",
    "fit_forecaster",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class ForecastConfig:
    """Forecaster parameters, in samples.

    ``ForecastConfig.for_day(288)`` (5-minute data) or ``ForecastConfig.for_day(24)``
    (hourly) derive the sample-based defaults from the daily period.
    """

    day: int  # samples per daily cycle (288 for 5-minute data, 283 on a drifting poller)
    week: int  # samples per weekly cycle (normally 7 * day; estimate it on drifting data)
    weeks: int = 4  # past weekly cycles that vote for each slot
    weight_power: float = 2.0
    smooth: int = 2  # half-width of the moving average, samples
    level_window: int = 12  # samples used for the level ratio
    level_half_life: float = 69.0  # samples over which the level correction halves
    interval: tuple[float, float] = (0.05, 0.95)

    @classmethod
    def for_day(cls, day: int, week: int | None = None, **overrides: object) -> ForecastConfig:
        """Defaults scaled from the daily period (one hour of level window, ~5.8 h half-life)."""
        params: dict[str, object] = {
            "day": day,
            "week": week if week is not None else 7 * day,
            "smooth": max(0, round(day / 144)),
            "level_window": max(1, round(day / 24)),
            "level_half_life": 0.24 * day,
        }
        params.update(overrides)
        return cls(**params)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class Forecast:
    """Point forecast and prediction interval for the ``len(mean)`` samples after the origin."""

    mean: FloatArray
    lower: FloatArray
    upper: FloatArray
    period: int  # the seasonal period the forecast was built on (week, or day as fallback)


@dataclass(frozen=True, slots=True, kw_only=True)
class SeasonalProfileModel:
    """A fitted model: everything needed to forecast up to one period ahead of the origin."""

    config: ForecastConfig
    history: FloatArray = field(repr=False)  # the last (weeks + 1) periods + margin, NaN = gap
    period: int
    weights: FloatArray  # one per past period, sums to 1
    scales: FloatArray  # level scale per past period
    level_ratio: float
    log_q_lower: float
    log_q_upper: float

    def profile(self, positions: npt.NDArray[np.int64]) -> FloatArray:
        """Weighted seasonal profile at positions relative to the origin (0 = first future)."""
        return _weighted_profile(
            self.history, positions + len(self.history), self.period, self.weights, self.scales
        )

    def forecast(self, horizon: int) -> Forecast:
        """Forecast ``horizon`` samples (≤ one period) after the origin, with intervals."""
        if horizon > self.period:
            raise ValueError(f"horizon {horizon} exceeds the seasonal period {self.period}")
        s = self.config.smooth
        raw = self.profile(np.arange(-s, horizon + s, dtype=np.int64))
        base = _fill_gaps(_moving_average(raw, s))
        steps = np.arange(1, horizon + 1, dtype=np.float64)
        decay = 0.5 ** (steps / self.config.level_half_life)
        mean = base * (1.0 + (self.level_ratio - 1.0) * decay)
        mean = np.maximum(mean, 0.0)
        return Forecast(
            mean=mean,
            lower=mean * np.exp(self.log_q_lower),
            upper=mean * np.exp(self.log_q_upper),
            period=self.period,
        )


def _weighted_profile(
    y: FloatArray, pos: npt.NDArray[np.int64], period: int, weights: FloatArray, scales: FloatArray
) -> FloatArray:
    num = np.zeros(len(pos))
    den = np.zeros(len(pos))
    for k in range(len(weights)):
        idx = pos - (k + 1) * period
        ok = (idx >= 0) & (idx < len(y))
        vals = np.full(len(pos), np.nan)
        vals[ok] = y[idx[ok]] * scales[k]
        good = ~np.isnan(vals)
        num[good] += weights[k] * vals[good]
        den[good] += weights[k]
    out = np.full(len(pos), np.nan)
    have = den > 0
    out[have] = num[have] / den[have]
    return out


def _moving_average(x: FloatArray, half_width: int) -> FloatArray:
    if half_width <= 0:
        return x
    width = 2 * half_width + 1
    good = ~np.isnan(x)
    kernel = np.ones(width)
    total = np.convolve(np.where(good, x, 0.0), kernel, mode="valid")
    count = np.convolve(good.astype(np.float64), kernel, mode="valid")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _fill_gaps(x: FloatArray) -> FloatArray:
    good = ~np.isnan(x)
    if good.all():
        return x
    if not good.any():
        return np.zeros_like(x)
    idx = np.arange(len(x))
    return np.interp(idx, idx[good], x[good])


def _nanmean(x: FloatArray) -> float:
    good = x[~np.isnan(x)]
    return float(good.mean()) if len(good) else float("nan")


def fit_forecaster(values: npt.ArrayLike, config: ForecastConfig) -> SeasonalProfileModel:
    """Fit on ``values`` (oldest first, NaN = missing sample); the origin is just after the end.

    Needs at least two daily periods of history; uses the weekly period when the history
    holds one week plus one day, else the daily one.
    """
    y = np.asarray(values, dtype=np.float64)
    day = config.day
    if len(y) < 2 * day:
        raise ValueError(f"need at least {2 * day} samples (two days), got {len(y)}")
    period = config.week if len(y) >= config.week + day else day
    n_periods = min(config.weeks, (len(y) - day) // period)
    if period == day:
        n_periods = min(max(config.weeks, 7), (len(y) - day) // period)
    keep = (n_periods + 1) * period + day
    y = y[-keep:] if len(y) > keep else y
    n = len(y)
    recent = y[n - day :]
    recent_mean = _nanmean(recent)
    scales = np.ones(n_periods)
    errs = np.full(n_periods, np.inf)
    for k in range(1, n_periods + 1):
        past = y[n - day - k * period : n - k * period]
        past_mean = _nanmean(past)
        if not np.isfinite(past_mean) or past_mean <= 0 or not np.isfinite(recent_mean):
            continue
        scales[k - 1] = recent_mean / past_mean
        err = np.abs(recent - scales[k - 1] * past)
        if (~np.isnan(err)).any():
            errs[k - 1] = max(float(np.nanmean(err)), 1e-12 * max(recent_mean, 1.0))
    if np.isfinite(errs).any():
        weights = np.where(np.isfinite(errs), (errs.min() / errs) ** config.weight_power, 0.0)
    else:
        weights = np.ones(n_periods)
    weights = weights / weights.sum()

    # In-sample profile over the last period: level ratio and interval quantiles. Each
    # in-sample value uses only samples at least one period older than itself.
    s = config.smooth
    span = min(period, n - period)
    pos = np.arange(n - span - s, n + s, dtype=np.int64)
    fitted = _moving_average(_weighted_profile(y, pos, period, weights, scales), s)
    lw = config.level_window
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio_recent = y[n - lw :] / fitted[-lw:]
        log_err = np.log(y[n - span :] / fitted)
    ratio_recent = ratio_recent[np.isfinite(ratio_recent)]
    level_ratio = float(np.median(ratio_recent)) if len(ratio_recent) else 1.0
    log_err = log_err[np.isfinite(log_err)]
    if len(log_err) >= 10:
        q_lo, q_hi = np.quantile(log_err, config.interval)
    else:
        q_lo, q_hi = -0.5, 0.5
    return SeasonalProfileModel(
        config=config,
        history=y,
        period=period,
        weights=weights,
        scales=scales,
        level_ratio=level_ratio,
        log_q_lower=float(min(q_lo, 0.0)),
        log_q_upper=float(max(q_hi, 0.0)),
    )


def estimate_periods(values: npt.ArrayLike, nominal_day: int) -> tuple[int, int]:
    """(daily, weekly) periods in samples: the weekly ACF peak near 7 × ``nominal_day``.

    The daily period is the weekly one divided by seven: the weekly peak is much sharper
    than the daily one (EU 5-minute: 1982 → 283; UK 5-minute: 2015 → 288).
    """
    week = estimate_period(values, 7 * nominal_day)
    return max(1, round(week / 7)), week


def estimate_period(values: npt.ArrayLike, nominal: int, tolerance: float = 0.05) -> int:
    """The autocorrelation peak within ±``tolerance`` of ``nominal`` samples (drifting pollers).

    Returns ``nominal`` when the series is shorter than two nominal periods.
    """
    y = np.asarray(values, dtype=np.float64)
    y = y[~np.isnan(y)] if np.isnan(y).any() else y
    if len(y) < 2 * nominal + 2:
        return nominal
    x = y - y.mean()
    denom = float(np.dot(x, x))
    if denom == 0.0:
        return nominal
    lo = max(1, int(nominal * (1 - tolerance)))
    hi = min(len(x) - 1, int(np.ceil(nominal * (1 + tolerance))))
    best, best_acf = nominal, -np.inf
    for lag in range(lo, hi + 1):
        acf = float(np.dot(x[:-lag], x[lag:])) / denom
        if acf > best_acf:
            best, best_acf = lag, acf
    return best
