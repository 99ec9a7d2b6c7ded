"""Traffic model for planning: busy hour, capacity exhaustion and flow direction.

Pure functions on numpy arrays and pandas frames; days are counted in samples (a daily
period of ``day`` samples, aligned to the end of the series), never from clock labels.
Forecasts live in :mod:`kpi.forecast`, anomaly detection in :mod:`kpi.anomaly`, and
fault/complaint trend detection in :mod:`kpi.trend`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "MIN_HISTORY_DAYS",
    "BusyHour",
    "CapacityForecast",
    "GrowthTrend",
    "busy_hour",
    "capacity_exhaustion",
    "daily_busy_hours",
    "direction_split",
    "growth_trend",
    "robust_growth_trend",
    "top_loaded_links",
    "traffic_matrix",
]

FloatArray = npt.NDArray[np.float64]

MIN_HISTORY_DAYS = 28  # no exhaustion date is issued on less history than this
TREND_WINDOW_DAYS = 91  # trailing window of the capacity trend: one quarter (13 weeks)
_Z90 = 1.6449  # two-sided 90 % normal quantile for the confidence range


@dataclass(frozen=True, slots=True, kw_only=True)
class BusyHour:
    """The busy hour of one day: the ``width`` consecutive samples with the largest sum."""

    start: int  # index of the first sample of the busy hour within the day
    mean: float  # mean rate over the busy hour
    p95: float  # 95th percentile of the rates inside the busy hour


def busy_hour(day_values: npt.ArrayLike, width: int = 12) -> BusyHour:
    """Busy hour of one day of rates (``width`` = 12 five-minute samples). NaN samples count 0.

    Ties go to the earliest window.
    """
    x = np.asarray(day_values, dtype=np.float64)
    if len(x) < width:
        raise ValueError(f"a day needs at least {width} samples, got {len(x)}")
    filled = np.nan_to_num(x, nan=0.0)
    sums = np.convolve(filled, np.ones(width), mode="valid")
    start = int(np.argmax(sums))
    window = x[start : start + width]
    window = window[~np.isnan(window)]
    if len(window) == 0:
        return BusyHour(start=start, mean=float("nan"), p95=float("nan"))
    return BusyHour(start=start, mean=float(window.mean()), p95=float(np.percentile(window, 95)))


def daily_busy_hours(values: npt.ArrayLike, day: int, width: int | None = None) -> pd.DataFrame:
    """Busy hour of every complete day, days being blocks of ``day`` samples ending at the end.

    Returns columns ``day`` (0 = oldest complete day), ``start``, ``mean``, ``p95``; days
    that are more than half missing are dropped. Same answer as :func:`busy_hour` per day,
    computed for all days at once (this runs for every link at every refit).
    """
    x = np.asarray(values, dtype=np.float64)
    w = width if width is not None else max(1, round(day / 24))
    n_days = len(x) // day
    columns = ["day", "start", "mean", "p95"]
    if n_days == 0:
        return pd.DataFrame({c: pd.Series(dtype=np.float64) for c in columns})
    if day < w:
        raise ValueError(f"a day needs at least {w} samples, got {day}")
    blocks = x[len(x) - n_days * day :].reshape(n_days, day)
    days = np.flatnonzero(np.isnan(blocks).mean(axis=1) <= 0.5)
    kept = blocks[days]
    # Window sums from a running sum (5× cheaper than summing strided windows); a tie is
    # then decided by rounding, as it is in busy_hour's convolution, else the earliest wins.
    running = np.zeros((len(kept), day + 1))
    np.cumsum(np.nan_to_num(kept, nan=0.0), axis=1, out=running[:, 1:])
    start = (running[:, w:] - running[:, :-w]).argmax(axis=1)
    windows = kept[np.arange(len(kept))[:, None], start[:, None] + np.arange(w)]
    mean = np.full(len(kept), np.nan)
    p95 = np.full(len(kept), np.nan)
    clean = ~np.isnan(windows).any(axis=1)
    if clean.any():
        mean[clean] = windows[clean].mean(axis=1)
        p95[clean] = np.percentile(windows[clean], 95, axis=1)
    for i in np.flatnonzero(~clean):  # windows with gaps: as busy_hour, over what is there
        present = windows[i][~np.isnan(windows[i])]
        if len(present):
            mean[i] = present.mean()
            p95[i] = np.percentile(present, 95)
    return pd.DataFrame({"day": days, "start": start, "mean": mean, "p95": p95}, columns=columns)


@dataclass(frozen=True, slots=True, kw_only=True)
class GrowthTrend:
    """Log-linear growth of the daily busy-hour p95, with day-of-week effects."""

    growth_per_day: float  # log growth per day (0.00125 ≈ 58 %/year)
    growth_se: float  # standard error of growth_per_day
    peak_level: float  # fitted busy-hour p95 on the busiest weekday at the last day
    level_se: float  # standard error of log(peak_level)
    days: int  # days of history used
    growth_low: float | None = None  # lower end of the growth's 90 % range (log per day)
    growth_high: float | None = None  # upper end

    @property
    def growth_per_year(self) -> float:
        """Relative growth per year (0.5 = +50 %/year)."""
        return float(np.expm1(self.growth_per_day * 365.0))


def growth_trend(daily_p95: npt.ArrayLike, period: int = 7) -> GrowthTrend:
    """Least-squares fit of log(p95) = weekday effect + slope × day, robust to outliers.

    Days are consecutive (NaN = missing day). One pass of Huber-style reweighting keeps an
    outage day or a holiday from tilting the slope.
    """
    y = np.asarray(daily_p95, dtype=np.float64)
    t = np.arange(len(y), dtype=np.float64)
    good = np.isfinite(y) & (y > 0)
    if good.sum() < period + 2:
        raise ValueError("too few days for a growth trend")
    logy = np.log(y[good])
    tg = t[good]
    dow = (t[good].astype(np.int64) - (len(y) - 1)) % period  # 0 = weekday of the last day
    design = np.zeros((len(tg), period + 1))
    design[np.arange(len(tg)), dow] = 1.0
    design[:, period] = tg - t[-1]
    present = design[:, :period].sum(axis=0) > 0
    design = design[:, np.append(present, True)]
    weights = np.ones(len(tg))
    coef = np.zeros(design.shape[1])
    for _ in range(3):
        sw = np.sqrt(weights)
        coef, *_ = np.linalg.lstsq(design * sw[:, None], logy * sw, rcond=None)
        resid = logy - design @ coef
        scale = 1.4826 * float(np.median(np.abs(resid - np.median(resid)))) or 1e-9
        u = np.abs(resid) / (1.345 * scale)
        weights = np.where(u <= 1.0, 1.0, 1.0 / np.maximum(u, 1e-12))
    resid = logy - design @ coef
    dof = max(1, len(tg) - design.shape[1])
    sigma2 = float(np.sum(weights * resid**2) / dof)
    xtwx = design.T @ (design * weights[:, None])
    cov = sigma2 * np.linalg.pinv(xtwx)
    slope_i = design.shape[1] - 1
    peak_i = int(np.argmax(coef[:slope_i]))
    return GrowthTrend(
        growth_per_day=float(coef[slope_i]),
        growth_se=float(np.sqrt(max(cov[slope_i, slope_i], 0.0))),
        peak_level=float(np.exp(coef[peak_i])),
        level_se=float(np.sqrt(max(cov[peak_i, peak_i], 0.0))),
        days=len(y),
    )


def robust_growth_trend(
    daily_p95: npt.ArrayLike,
    period: int = 7,
    window_days: int = TREND_WINDOW_DAYS,
    confidence: float = 0.90,
) -> GrowthTrend:
    """Seasonal Theil–Sen growth of log(busy-hour p95) and the level of its weekly peaks.

    Over the last ``window_days`` days (NaN = missing day):

    * growth = median of the slopes (log y_j − log y_i) / (j − i) over all pairs of days on
      the same weekday (j − i a multiple of ``period``): Hirsch, Slack & Smith's seasonal
      Kendall slope (1982). It needs no day-of-week model, and up to ~29 % of odd days
      (holidays, outages) cannot move it;
    * its ``confidence`` range: the order statistics (N ∓ z √Var S) / 2 of the sorted slopes,
      Var S = Σ n_w (n_w − 1)(2 n_w + 5) / 18 over weekdays w (Gilbert 1987, ch. 17);
    * level = median over whole weeks (blocks of ``period`` days ending at the last day) of
      the week's peak of log p95 moved to the last day along the growth: the "weekly peak"
      that capacity planning compares with link speed. Its standard error is that of a
      median, 1.2533 × 1.4826 MAD / √weeks.
    """
    y = np.asarray(daily_p95, dtype=np.float64)[-window_days:]
    n = len(y)
    logy = np.where(np.isfinite(y) & (y > 0), np.log(np.where(y > 0, y, 1.0)), np.nan)
    slopes: list[float] = []
    var_s = 0.0
    for w in range(period):
        idx = np.arange(n - 1 - w, -1, -period)[::-1]
        idx = idx[np.isfinite(logy[idx])]
        k = len(idx)
        if k < 2:
            continue
        var_s += k * (k - 1) * (2 * k + 5) / 18.0
        i, j = np.triu_indices(k, 1)
        slopes.extend(((logy[idx[j]] - logy[idx[i]]) / (idx[j] - idx[i])).tolist())
    if len(slopes) < 2 * period:
        raise ValueError("too few days for a growth trend")
    ordered = np.sort(np.asarray(slopes))
    g = float(np.median(ordered))
    z = _normal_quantile(0.5 + confidence / 2.0)
    half = z * float(np.sqrt(var_s))
    lo_rank = int(np.floor((len(ordered) - half) / 2.0))
    hi_rank = int(np.ceil((len(ordered) + half) / 2.0))
    g_low = float(ordered[max(lo_rank, 0)]) if lo_rank >= 0 else float(ordered[0])
    g_high = float(ordered[min(hi_rank, len(ordered) - 1)])
    moved = logy + g * (n - 1 - np.arange(n))
    peaks = []
    for end in range(n, period - 1, -period):
        block = moved[end - period : end]
        if np.isfinite(block).sum() * 2 > period:
            peaks.append(float(np.nanmax(block)))
    if not peaks:
        raise ValueError("too few days for a growth trend")
    level = float(np.median(peaks))
    mad = float(np.median(np.abs(np.asarray(peaks) - level)))
    level_se = 1.2533 * 1.4826 * mad / float(np.sqrt(len(peaks)))
    return GrowthTrend(
        growth_per_day=g,
        growth_se=(g_high - g_low) / (2.0 * z) if z > 0 else 0.0,
        peak_level=float(np.exp(level)),
        level_se=level_se,
        days=n,
        growth_low=g_low,
        growth_high=g_high,
    )


def _normal_quantile(p: float) -> float:
    """Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9)."""
    # fmt: off
    a = (-39.69683028665376, 220.9460984245205, -275.9285104469687,
         138.3577518672690, -30.66479806614716, 2.506628277459239)
    b = (-54.47609879822406, 161.5858368580409, -155.6989798598866,
         66.80131188771972, -13.28068155288572)
    c = (-0.007784894002430293, -0.3223964580411365, -2.400758277161838,
         -2.549732539343734, 4.374664141464968, 2.938163982698783)
    d = (0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
    # fmt: on
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    if p < 0.02425:
        q = float(np.sqrt(-2.0 * np.log(p)))
        num = ((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]
        return num / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
    if p > 1.0 - 0.02425:
        return -_normal_quantile(1.0 - p)
    q = p - 0.5
    r = q * q
    num = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
    return num / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityForecast:
    """When the busy-hour p95 crosses ``threshold`` × link speed, in days after the last day.

    ``days`` is None when no crossing is forecast; ``reason`` then says why.
    """

    days: float | None
    days_low: float | None  # earliest day of the 90 % confidence range
    days_high: float | None  # latest day (None = not within the range of a growing trend)
    utilisation: float  # current busy-hour p95 / link speed (busiest weekday)
    growth_per_year: float | None
    reason: str | None = None


def capacity_exhaustion(
    daily_p95: npt.ArrayLike,
    link_speed: float,
    threshold: float = 0.8,
    min_history_days: int = MIN_HISTORY_DAYS,
    max_days: float = 3650.0,
    window_days: int = TREND_WINDOW_DAYS,
) -> CapacityForecast:
    """Days until the weekly busy-hour peak crosses ``threshold`` × ``link_speed`` (same unit).

    ``daily_p95`` holds one value per day, oldest first (see :func:`daily_busy_hours`).
    Less than ``min_history_days`` days of history gives no date, only a reason. The trend
    is :func:`robust_growth_trend` over the last ``window_days`` days; a date is issued only
    when the lower end of the growth's 90 % range is above zero. The range of the date
    combines the growth range with the level's 90 % range.
    """
    y = np.asarray(daily_p95, dtype=np.float64)
    valid = y[np.isfinite(y)]
    current = float(np.max(valid[-7:])) / link_speed if len(valid) else float("nan")
    if len(y) < min_history_days:
        return CapacityForecast(
            days=None,
            days_low=None,
            days_high=None,
            utilisation=current,
            growth_per_year=None,
            reason=f"only {len(y)} days of history; need {min_history_days}",
        )
    trend = robust_growth_trend(y, window_days=window_days)
    limit = threshold * link_speed
    utilisation = trend.peak_level / link_speed
    gap = float(np.log(limit / trend.peak_level))  # log distance to the limit
    if gap <= 0:
        return CapacityForecast(
            days=0.0,
            days_low=0.0,
            days_high=0.0,
            utilisation=utilisation,
            growth_per_year=trend.growth_per_year,
            reason="already above the threshold",
        )
    g = trend.growth_per_day
    g_lo = trend.growth_low if trend.growth_low is not None else g - _Z90 * trend.growth_se
    g_hi = trend.growth_high if trend.growth_high is not None else g + _Z90 * trend.growth_se
    if g <= 0 or g_lo <= 0:
        return CapacityForecast(
            days=None,
            days_low=None,
            days_high=None,
            utilisation=utilisation,
            growth_per_year=trend.growth_per_year,
            reason="no significant growth",
        )
    days = gap / g
    lvl = _Z90 * trend.level_se
    days_low = max(0.0, (gap - lvl) / g_hi)
    days_high = (gap + lvl) / g_lo
    if days > max_days:
        return CapacityForecast(
            days=None,
            days_low=days_low,
            days_high=None,
            utilisation=utilisation,
            growth_per_year=trend.growth_per_year,
            reason=f"beyond {max_days:.0f} days",
        )
    return CapacityForecast(
        days=float(days),
        days_low=float(days_low),
        days_high=float(min(days_high, max_days)),
        utilisation=utilisation,
        growth_per_year=trend.growth_per_year,
    )


# --- flow direction -------------------------------------------------------------------


def direction_split(
    frame: pd.DataFrame, by: str, baseline: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Downstream/upstream split per ``by`` group (district or aggregation node).

    ``frame`` has columns ``by``, ``down_bps``, ``up_bps`` (one row per link and sample, or
    per link). Returns ``down_bps``, ``up_bps``, ``down_share`` per group and, with a
    ``baseline`` frame of the same shape (e.g. the same hour last week), ``down_share_change``
    in share points and ``total_change`` as a ratio − 1.
    """

    def _agg(f: pd.DataFrame) -> pd.DataFrame:
        g = f.groupby(by)[["down_bps", "up_bps"]].sum()
        total = g["down_bps"] + g["up_bps"]
        g["down_share"] = (g["down_bps"] / total).where(total > 0)
        return g

    out = _agg(frame)
    if baseline is not None:
        base = _agg(baseline).reindex(out.index)
        out["down_share_change"] = out["down_share"] - base["down_share"]
        base_total = base["down_bps"] + base["up_bps"]
        out["total_change"] = ((out["down_bps"] + out["up_bps"]) / base_total - 1.0).where(
            base_total > 0
        )
    return out


def top_loaded_links(frame: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` links with the highest utilisation (max of both directions / speed).

    ``frame`` has ``link``, ``down_bps``, ``up_bps``, ``speed_bps``; rows for the same link
    are averaged first (pass the busy-hour rows to rank by busy-hour load).
    """
    g = frame.groupby("link")[["down_bps", "up_bps", "speed_bps"]].mean()
    g["utilisation"] = np.maximum(g["down_bps"], g["up_bps"]) / g["speed_bps"]
    return g.sort_values("utilisation", ascending=False, kind="stable").head(n)


def traffic_matrix(frame: pd.DataFrame, value: str = "down_bps") -> pd.DataFrame:
    """District → uplink matrix of ``value`` (rows districts, columns uplinks, sums, 0 filled).

    ``frame`` has ``district``, ``uplink`` and the value column.
    """
    return (
        frame.pivot_table(
            index="district", columns="uplink", values=value, aggfunc="sum", fill_value=0.0
        )
        .rename_axis(index="district", columns="uplink")
        .astype(np.float64)
    )
