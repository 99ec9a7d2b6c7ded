"""Fault/complaint trend ("苗头") detection: a CUSUM on daily counts per district.

Counts are Poisson or over-dispersed (negative binomial). Each day's count x is put on a
unit-variance scale with the Anscombe transform, z = (2√(x + 3/8) − 2√(λ₀ + 3/8)) / √φ,
where λ₀ is the baseline rate (mean of a trailing window that ends ``guard_days`` before the
day, so a rise now is not yet in it) and φ ≥ 1 the dispersion (variance / mean) of that
window. A one-sided CUSUM
S = max(0, S + z − k) with k half the shift to detect raises a warning when S ≥ h; h is
chosen from the requested in-control average run length (days between false alarms) with
Siegmund's approximation for a Gaussian CUSUM, so the false-alarm rate is a parameter, not
a tuned constant. After a warning the statistic restarts from 0 (one warning per event unless
the rise persists beyond another run length).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["TrendConfig", "TrendWarning", "cusum_threshold", "detect_rate_increase"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrendConfig:
    """CUSUM parameters: what rise to look for and how often a false warning is acceptable."""

    rise: float = 0.5  # relative rate increase the detector is tuned for (+50 %)
    false_alarms_per_year: float = 1.0  # in-control rate of warnings, per district
    baseline_days: int = 56  # trailing window for λ₀ and φ
    guard_days: int = 7  # most recent days kept out of the baseline
    min_baseline_days: int = 21


@dataclass(frozen=True, slots=True, kw_only=True)
class TrendWarning:
    """A raised trend warning."""

    day: int  # index of the day on which the warning is raised
    baseline_rate: float  # λ₀, events per day
    recent_rate: float  # mean of the last 7 days
    statistic: float  # CUSUM value at the warning


def cusum_threshold(k: float, arl0: float) -> float:
    """CUSUM limit h giving an in-control ARL of ``arl0`` samples (Siegmund's approximation)."""
    if k <= 0:
        raise ValueError("k must be positive")

    def arl(h: float) -> float:
        b = h + 1.166
        return (math.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k)

    lo, hi = 0.0, 1.0
    while arl(hi) < arl0:
        hi *= 2.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if arl(mid) < arl0:
            lo = mid
        else:
            hi = mid
    return hi


def detect_rate_increase(
    counts: npt.ArrayLike, config: TrendConfig | None = None
) -> list[TrendWarning]:
    """Warnings raised over a series of daily counts (oldest first; NaN = no report that day).

    Causal: the decision on day t uses only days ≤ t.
    """
    c = config or TrendConfig()
    x = np.asarray(counts, dtype=np.float64)
    arl0 = 365.0 / c.false_alarms_per_year
    warnings: list[TrendWarning] = []
    s = 0.0
    for t in range(len(x)):
        end = t - c.guard_days
        start = max(0, end - c.baseline_days)
        if end - start < c.min_baseline_days or math.isnan(x[t]):
            continue
        base = x[start:end]
        base = base[~np.isnan(base)]
        if len(base) < c.min_baseline_days:
            continue
        lam = max(float(np.mean(base)), 0.1)
        var = float(np.var(base, ddof=1))
        phi = max(1.0, var / lam)
        target = lam * (1.0 + c.rise)
        shift = (2 * math.sqrt(target + 0.375) - 2 * math.sqrt(lam + 0.375)) / math.sqrt(phi)
        k = shift / 2.0
        h = cusum_threshold(k, arl0)
        z = (2 * math.sqrt(x[t] + 0.375) - 2 * math.sqrt(lam + 0.375)) / math.sqrt(phi)
        s = max(0.0, s + z - k)
        if s >= h:
            recent = x[max(0, t - 6) : t + 1]
            warnings.append(
                TrendWarning(
                    day=t,
                    baseline_rate=lam,
                    recent_rate=float(np.nanmean(recent)),
                    statistic=s,
                )
            )
            s = 0.0
    return warnings
