"""On-line anomaly early warning: one pass, no look-ahead, O(window) per sample.

Each sample is compared with what came before it (never after):

* a **level/spike** deviation: robust z-score of the sample against the median and MAD of the
  previous ``window`` samples, or against a forecast (``expected``, with a band) when the
  caller has one from :mod:`kpi.forecast`;
* a **shift** deviation: the median of the last ``shift_span`` samples against the same
  reference, in MAD units scaled for the span (level drops, partial outages, reroutes);
* a **slow degradation** statistic: a one-sided CUSUM of the standardised deviations with
  drift ``cusum_drift``, in both directions.

The largest of the three is turned into a *surprise* by comparing its short average with its
own long-run distribution (the anomaly-likelihood idea of Ahmad et al. 2017), so a link that
is always noisy does not alert all day. The score is z / (1 + z) of that surprise z, in
[0, 1) and non-saturating (a threshold sweep can separate values). With ``surprise=False``
the deviation itself is scored, z / (z + ``direct_z_alert``). After an alert
(score ≥ ``alert_level``) scores are forced to 0 for ``refractory`` samples and the
reference window is not polluted by the anomaly, so one event raises one alert.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

__all__ = [
    "SKYLINE_TESTS",
    "AnomalyEvent",
    "AnomalyKind",
    "DetectorConfig",
    "OnlineDetector",
    "SkylineConfig",
    "SkylineDetector",
    "score_series",
    "skyline_score_series",
]

FloatArray = npt.NDArray[np.float64]


class AnomalyKind(StrEnum):
    """What the detector saw."""

    SPIKE = "spike"
    DROP = "drop"
    DEGRADATION = "degradation"


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorConfig:
    """Detector parameters, in samples (defaults: 5-minute data)."""

    window: int = 288  # reference window: one day of 5-minute samples
    min_history: int = 24  # samples before any score other than 0 is produced
    shift_span: int = 6  # samples in the level-shift median (30 min)
    cusum_drift: float = 1.0  # z units per sample absorbed by the CUSUM
    short: int = 6  # samples averaged for the surprise
    long: int = 2016  # samples of raw-score history for the surprise (one week)
    alert_level: float = 0.8  # score at which an event is raised (surprise z = 4)
    surprise: bool = True  # False: score the deviation itself, z / (z + direct_z_alert)
    direct_z_alert: float = 6.0  # robust z scored 0.5 when surprise is off
    refractory: int = 288  # samples with no new alert after one (one day)


@dataclass(frozen=True, slots=True, kw_only=True)
class AnomalyEvent:
    """One raised alert: where it started and what it looked like."""

    index: int  # sample index of the alert
    kind: AnomalyKind
    score: float
    deviation: float  # signed robust z of the triggering statistic


@dataclass(slots=True)
class OnlineDetector:
    """Streaming detector state for one series; feed samples with :meth:`update`."""

    config: DetectorConfig = field(default_factory=DetectorConfig)
    _ref: deque[float] = field(init=False)
    _recent: deque[float] = field(init=False)
    _raw: deque[float] = field(init=False)
    _raw_sum: float = field(init=False, default=0.0)
    _raw_sq: float = field(init=False, default=0.0)
    _short: deque[float] = field(init=False)
    _cusum_hi: float = field(init=False, default=0.0)
    _cusum_lo: float = field(init=False, default=0.0)
    _quiet_until: int = field(init=False, default=-1)
    _index: int = field(init=False, default=-1)

    def __post_init__(self) -> None:
        c = self.config
        self._ref = deque(maxlen=c.window)
        self._recent = deque(maxlen=c.shift_span)
        self._raw = deque(maxlen=c.long)
        self._short = deque(maxlen=c.short)

    def update(
        self,
        value: float,
        expected: float | None = None,
        scale: float | None = None,
    ) -> tuple[float, AnomalyEvent | None]:
        """Score one sample; ``expected``/``scale`` come from a forecast band when known.

        ``scale`` is the band's robust spread (e.g. (upper − lower) / 3.29 for a 90 % band).
        Returns the score in [0, 1] and the event raised by this sample, if any. NaN samples
        score 0 and leave the state unchanged.
        """
        self._index += 1
        c = self.config
        if math.isnan(value):
            return 0.0, None
        if expected is None or scale is None or not scale > 0:
            if len(self._ref) < c.min_history:
                self._ref.append(value)
                self._recent.append(value)
                return 0.0, None
            ref = np.fromiter(self._ref, dtype=np.float64, count=len(self._ref))
            center = float(np.median(ref))
            spread = 1.4826 * float(np.median(np.abs(ref - center)))
            if spread <= 0:
                # Flat reference (e.g. a constant metric): fall back to the mean step size.
                spread = float(np.mean(np.abs(np.diff(ref)))) if len(ref) > 1 else 0.0
            spread = max(spread, 1e-9 * max(abs(center), 1.0))
        else:
            center, spread = expected, scale
        self._recent.append(value)
        z_point = (value - center) / spread
        shift_med = float(np.median(np.fromiter(self._recent, dtype=np.float64)))
        z_shift = (shift_med - center) / spread * math.sqrt(len(self._recent)) / 2.0
        self._cusum_hi = max(0.0, self._cusum_hi + z_point - c.cusum_drift)
        self._cusum_lo = max(0.0, self._cusum_lo - z_point - c.cusum_drift)
        z_cusum = max(self._cusum_hi, self._cusum_lo) / math.sqrt(c.short * 4.0)
        candidates = (abs(z_point), abs(z_shift), z_cusum)
        which = int(np.argmax(candidates))
        raw = math.log1p(candidates[which])

        if c.surprise:
            score = self._surprise(raw)
        else:
            z = candidates[which]
            score = z / (z + c.direct_z_alert)
        event = None
        if self._index <= self._quiet_until:
            score = 0.0
        elif score >= c.alert_level:
            kind = _classify(which, z_point, z_shift, self._cusum_hi, self._cusum_lo)
            event = AnomalyEvent(
                index=self._index,
                kind=kind,
                score=score,
                deviation=(z_point, z_shift, self._cusum_hi - self._cusum_lo)[which],
            )
            self._quiet_until = self._index + c.refractory
            self._cusum_hi = self._cusum_lo = 0.0
        # Keep anomalous samples out of the reference, but let a lasting new level in: a
        # sample enters if it is unsurprising or once the shift median agrees with it.
        if abs(z_point) < 4.0 or abs(z_shift) >= 4.0:
            self._ref.append(value)
        return score, event

    def _surprise(self, raw: float) -> float:
        self._short.append(raw)
        short_mean = sum(self._short) / len(self._short)
        n = len(self._raw)
        if n >= self.config.min_history:
            mean = self._raw_sum / n
            var = max(self._raw_sq / n - mean * mean, 1e-6)
            z = (short_mean - mean) / math.sqrt(var)
            # z / (1 + z): monotone and non-saturating, so a threshold sweep can separate
            # strong from very strong surprises (an erf tail probability ties them at 1.0).
            score = z / (1.0 + z) if z > 0 else 0.0
        else:
            score = 0.0
        if n == self._raw.maxlen:
            old = self._raw[0]
            self._raw_sum -= old
            self._raw_sq -= old * old
        self._raw.append(raw)
        self._raw_sum += raw
        self._raw_sq += raw * raw
        return score


def _classify(which: int, z_point: float, z_shift: float, hi: float, lo: float) -> AnomalyKind:
    if which == 2:
        return AnomalyKind.DEGRADATION
    signed = z_point if which == 0 else z_shift
    return AnomalyKind.SPIKE if signed > 0 else AnomalyKind.DROP


def score_series(
    values: npt.ArrayLike,
    config: DetectorConfig | None = None,
    expected: npt.ArrayLike | None = None,
    scale: npt.ArrayLike | None = None,
) -> tuple[FloatArray, list[AnomalyEvent]]:
    """Run a fresh :class:`OnlineDetector` over a whole series (still strictly causal)."""
    x = np.asarray(values, dtype=np.float64)
    det = OnlineDetector(config or DetectorConfig())
    exp = None if expected is None else np.asarray(expected, dtype=np.float64)
    sc = None if scale is None else np.asarray(scale, dtype=np.float64)
    scores = np.zeros(len(x))
    events: list[AnomalyEvent] = []
    for i in range(len(x)):
        e = None if exp is None or math.isnan(exp[i]) else float(exp[i])
        s = None if sc is None or math.isnan(sc[i]) else float(sc[i])
        scores[i], ev = det.update(float(x[i]), e, s)
        if ev is not None:
            events.append(ev)
    return scores, events


# --- Skyline ensemble ------------------------------------------------------------------------
#
# The ensemble of Etsy Skyline as run by earthgecko Skyline on NAB (numenta/NAB
# ``nab/detectors/earthgecko_skyline``, published standard score 58.2): seven simple tests,
# each judging the newest sample against a trailing window; the score is the fraction of
# tests that fire. Differences from that reference, all for bounded cost per link: the
# window is a trailing ``window`` samples instead of the whole history, the EWMA test runs
# on an incremental exponentially weighted mean/variance (the same weights as pandas
# ``ewm(com=50, adjust=True)``), and time is counted in samples (``day``, ``hour``).

SKYLINE_TESTS = (
    "histogram_bins",
    "first_hour_average",
    "stddev_from_average",
    "mean_subtraction_cumulation",
    "median_absolute_deviation",
    "stddev_from_moving_average",
    "least_squares",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SkylineConfig:
    """Skyline ensemble parameters, in samples (defaults: 5-minute data).

    The constants are Skyline's own (3 sigma, MAD 6, 15 histogram bins with ≤ 20 members,
    EWMA com 50, tail of 3, consensus 5 of 7, expiration 12 h); only the window length is
    nocd's: one week, the longest cycle of access-network traffic.
    """

    window: int = 2016  # trailing samples judged against (one week of 5-minute samples)
    day: int = 288  # samples per day (first_hour_average looks ≥ day − hour back)
    hour: int = 12  # samples per hour
    min_history: int = 12  # samples before any score other than 0
    sigma: float = 3.0
    mad_limit: float = 6.0
    bins: int = 15
    bin_members: int = 20
    ewma_com: float = 50.0
    tail: int = 3
    consensus: int = 5  # tests that must fire for an alert (score ≥ 5/7)
    refractory: int = 144  # samples with score 0 and no alert after one (12 h)
    rearm: int = 12  # event layer: samples below consensus before a new event (1 h)


@dataclass(slots=True)
class SkylineDetector:
    """Streaming Skyline ensemble for one series; feed samples with :meth:`update`.

    Memory is ``window`` floats; each update is O(``window``) numpy work (two medians, a
    histogram, a least-squares fit), about 0.1 ms.
    """

    config: SkylineConfig = field(default_factory=SkylineConfig)
    _values: FloatArray = field(init=False)
    _stamps: FloatArray = field(init=False)
    _count: int = field(init=False, default=0)  # samples held (≤ window)
    _index: int = field(init=False, default=-1)  # index of the latest sample fed
    _n: int = field(init=False, default=0)  # non-NaN samples seen
    _ew_w: float = field(init=False, default=0.0)
    _ew_w2: float = field(init=False, default=0.0)
    _ew_mean: float = field(init=False, default=0.0)
    _ew_m2: float = field(init=False, default=0.0)
    _quiet_until: int = field(init=False, default=-1)
    _calm: int = field(init=False, default=0)  # consecutive samples below consensus
    _armed: bool = field(init=False, default=True)
    last_fired: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        w = self.config.window
        if w < max(self.config.tail, 3):
            raise ValueError("window too short")
        self._values = np.zeros(w)
        self._stamps = np.zeros(w)

    def update(self, value: float) -> tuple[float, AnomalyEvent | None]:
        """Score one sample: (fraction of tests that fire, alert event or None).

        NaN samples score 0 and leave the state unchanged. During the refractory period
        after an alert the score is 0 (Skyline's expiration), but the sample still enters
        the window and the EWMA. Event layer (does not change the score): after an event,
        the next one needs ``rearm`` consecutive samples below consensus first, so a lasting
        new level is one event, not one every expiration period.
        """
        self._index += 1
        c = self.config
        if math.isnan(value):
            return 0.0, None
        slot = self._n % c.window
        self._values[slot] = value
        self._stamps[slot] = float(self._index)
        self._n += 1
        self._count = min(self._count + 1, c.window)
        ew_mean, ew_std = self._ewma(value)
        self.last_fired = ()
        if self._count < c.min_history:
            return 0.0, None
        fired = self._tests(value, ew_mean, ew_std)
        self.last_fired = fired
        if len(fired) < c.consensus:
            self._calm += 1
            if self._calm >= c.rearm:
                self._armed = True
        else:
            self._calm = 0
        if self._index <= self._quiet_until:
            return 0.0, None
        score = len(fired) / len(SKYLINE_TESTS)
        if len(fired) < c.consensus:
            return score, None
        self._quiet_until = self._index + c.refractory
        if not self._armed:
            return score, None
        self._armed = False
        y = self._values[: self._count]
        center = float(np.median(y))
        spread = 1.4826 * float(np.median(np.abs(y - center))) or float(np.std(y)) or 1.0
        deviation = (self._tail() - center) / spread
        kind = AnomalyKind.SPIKE if deviation > 0 else AnomalyKind.DROP
        return score, AnomalyEvent(index=self._index, kind=kind, score=score, deviation=deviation)

    def _ewma(self, value: float) -> tuple[float, float]:
        """Exponentially weighted mean and unbiased std (pandas ewm(com, adjust=True))."""
        decay = 1.0 - 1.0 / (1.0 + self.config.ewma_com)
        self._ew_w = decay * self._ew_w + 1.0
        self._ew_w2 = decay * decay * self._ew_w2 + 1.0
        delta = value - self._ew_mean
        self._ew_mean += delta / self._ew_w
        self._ew_m2 = decay * self._ew_m2 + delta * (value - self._ew_mean)
        denom = self._ew_w * self._ew_w - self._ew_w2
        if denom <= 0:
            return self._ew_mean, float("nan")
        var = max(self._ew_m2, 0.0) * self._ew_w / denom
        return self._ew_mean, math.sqrt(var)

    def _tail(self) -> float:
        t = min(self.config.tail, self._count)
        slots = [(self._n - 1 - k) % self.config.window for k in range(t)]
        return float(np.mean(self._values[slots]))

    def _tests(self, value: float, ew_mean: float, ew_std: float) -> tuple[str, ...]:
        c = self.config
        y = self._values[: self._count]
        ts = self._stamps[: self._count]
        tail = self._tail()
        n = len(y)
        fired: list[str] = []
        mean = float(np.mean(y))
        std = float(np.std(y, ddof=1))
        # histogram_bins: the tail average falls in a bin of ≤ bin_members samples.
        counts, edges = np.histogram(y, bins=c.bins)
        for i, members in enumerate(counts):
            if members > c.bin_members:
                continue
            if (i == 0 and tail <= edges[0]) or (i > 0 and edges[i] <= tail < edges[i + 1]):
                fired.append("histogram_bins")
                break
        # first_hour_average: tail against the samples older than a day minus an hour.
        old = y[ts < self._index - (c.day - c.hour)]
        if len(old) > 1 and abs(tail - float(old.mean())) > c.sigma * float(old.std(ddof=1)):
            fired.append("first_hour_average")
        # stddev_from_average: tail against the whole window.
        if abs(tail - mean) > c.sigma * std:
            fired.append("stddev_from_average")
        # mean_subtraction_cumulation: the newest sample against all the others.
        rest_mean = (mean * n - value) / (n - 1)
        rest = y[ts != self._index]
        if len(rest) > 1 and abs(value - rest_mean) > c.sigma * float(rest.std(ddof=1)):
            fired.append("mean_subtraction_cumulation")
        # median_absolute_deviation: newest sample's deviation > mad_limit × MAD.
        med = float(np.median(y))
        mad = float(np.median(np.abs(y - med)))
        if mad > 0 and abs(value - med) / mad > c.mad_limit:
            fired.append("median_absolute_deviation")
        # stddev_from_moving_average: newest sample against the EWMA (com 50).
        if ew_std == ew_std and abs(value - ew_mean) > c.sigma * ew_std:
            fired.append("stddev_from_moving_average")
        # least_squares: mean of the last three residuals of a line fitted to the window.
        tc = ts - float(ts.mean())
        sxx = float(tc @ tc)
        if n >= 3 and sxx > 0:
            slope = float(tc @ (y - mean)) / sxx
            resid = y - mean - slope * tc
            res_std = float(np.std(resid))
            last3 = [(self._n - 1 - k) % c.window for k in range(3)]
            t3 = float(np.mean(resid[last3]))
            if abs(t3) > c.sigma * res_std and round(res_std) != 0 and round(t3) != 0:
                fired.append("least_squares")
        return tuple(fired)


def skyline_score_series(
    values: npt.ArrayLike, config: SkylineConfig | None = None
) -> tuple[FloatArray, list[AnomalyEvent]]:
    """Run a fresh :class:`SkylineDetector` over a whole series (strictly causal)."""
    x = np.asarray(values, dtype=np.float64)
    det = SkylineDetector(config or SkylineConfig())
    scores = np.zeros(len(x))
    events: list[AnomalyEvent] = []
    for i in range(len(x)):
        scores[i], ev = det.update(float(x[i]))
        if ev is not None:
            events.append(ev)
    return scores, events
