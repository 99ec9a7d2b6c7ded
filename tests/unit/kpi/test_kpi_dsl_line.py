"""DSL line scoring: MTBR/MTBE, stability classes, wide-area events, rate attainment, UAS.

A week is 672 bins of 900 s (604 800 s). Unless a case says otherwise a line is in
showtime for every second of every bin, with 6 dB SNR margin and no errors.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kpi.dsl_line import (
    BIN_S,
    StabilityThresholds,
    line_scores,
    rate_attainment,
    uas_adjustment,
    wide_area_events,
)

NOW = 1_717_171_200  # 2024-05-31 16:00 UTC, bin-aligned
WEEK_BINS = 7 * 96


def week(line: str = "L1", dslam: str = "D1", **overrides: object) -> pd.DataFrame:
    n = WEEK_BINS
    frame = pd.DataFrame(
        {
            "line": line,
            "dslam": dslam,
            "start": NOW - (n - np.arange(n)) * BIN_S,  # oldest first, last bin ends at NOW
            "in_service": True,
            "showtime_s": BIN_S,
            "full_inits": 0,
            "failed_inits": 0,
            "es": 0,
            "ses": 0,
            "uas": 0,
            "snr_margin_down_db": 6.0,
            "snr_margin_up_db": 6.0,
        }
    )
    for column, spec in overrides.items():
        values = frame[column].to_numpy().copy()
        for index, value in dict(spec).items():  # type: ignore[call-overload]
            values[index] = value
        frame[column] = values
    return frame


def every(step: int, value: object) -> dict[int, object]:
    return dict.fromkeys(range(0, WEEK_BINS, step), value)


STABILITY_CASES = [
    # description, bins, expected class
    ("clean line is stable (MTBR and MTBE infinite)", week(), "stable"),
    (
        "6 retrains a week: MTBR = 604800 / 6 = 100800 s = 28 h ≥ 24 h → stable",
        week(full_inits=every(112, 1)),
        "stable",
    ),
    (
        "8 retrains a week: MTBR = 604800 / 8 = 75600 s = 21 h < 24 h → unstable",
        week(full_inits=every(84, 1)),
        "unstable",
    ),
    (
        "3 retrains in one bin → unstable although MTBR = 604800 / 3 = 56 h",
        week(full_inits={500: 3}),
        "unstable",
    ),
    ("2 retrains in one bin → stable", week(full_inits={500: 2}), "stable"),
    (
        "one ES every second bin: 336 ES, MTBE = 604800 / 336 = 1800 s < 1 h → errored",
        week(es=every(2, 1)),
        "errored",
    ),
    (
        "one ES every fourth bin: 168 ES, MTBE = 3600 s, not < 1 h → stable",
        week(es=every(4, 1)),
        "stable",
    ),
    (
        "SNR margin 2.5 dB down in 2 bins → marginal",
        week(snr_margin_down_db={10: 2.5, 400: 2.5}),
        "marginal",
    ),
    (
        "SNR margin low in only 1 bin (upstream) → stable",
        week(snr_margin_up_db={10: 2.9}),
        "stable",
    ),
    (
        "SNR margin of exactly 3 dB is not below 3 dB → stable",
        week(snr_margin_down_db=every(1, 3.0)),
        "stable",
    ),
    (
        "unstable wins over errored and marginal",
        week(full_inits={5: 3}, es=every(2, 1), snr_margin_down_db=every(1, 1.0)),
        "unstable",
    ),
    (
        "errored wins over marginal",
        week(es=every(2, 1), snr_margin_down_db=every(1, 1.0)),
        "errored",
    ),
    (
        "line out of showtime all week → not scored",
        week(showtime_s=every(1, 0), snr_margin_down_db=every(1, np.nan)),
        None,
    ),
]


@pytest.mark.parametrize(
    ("description", "bins", "expected"), STABILITY_CASES, ids=[c[0] for c in STABILITY_CASES]
)
def test_stability_class(description, bins, expected):
    got = line_scores(bins, now=NOW).loc["L1", "stability"]
    assert got == expected, description


def test_mtbr_and_mtbe_over_24h_and_7d():
    """4 retrains and 8 ES in the last day, 1 retrain more earlier in the week.

    24 h: 96 bins × 900 = 86400 s → MTBR 86400/4 = 21600, MTBE 86400/8 = 10800.
    7 d: 604800 s → MTBR 604800/5 = 120960, MTBE 604800/8 = 75600.
    """
    last_day = range(WEEK_BINS - 96, WEEK_BINS)
    bins = week(
        full_inits={0: 1, **dict.fromkeys(list(last_day)[:4], 1)},
        es=dict.fromkeys(list(last_day)[10:18], 1),
    )
    row = line_scores(bins, now=NOW).loc["L1"]
    assert (row["mtbr_24h_s"], row["mtbe_24h_s"]) == (21600, 10800)
    assert (row["mtbr_7d_s"], row["mtbe_7d_s"]) == (120960, 75600)


def test_incomplete_and_old_bins_are_ignored():
    bins = week()
    extra = bins.iloc[:2].copy()
    extra["start"] = [NOW - 600, NOW - 8 * 86400]  # still running / older than 7 d
    extra["full_inits"] = 5
    got = line_scores(pd.concat([bins, extra]), now=NOW).loc["L1"]
    assert got["stability"] == "stable"
    assert math.isinf(got["mtbr_7d_s"])


def test_thresholds_are_configurable():
    bins = week(es=every(4, 1))  # MTBE exactly 3600 s
    strict = StabilityThresholds(errored_mtbe_s=7200)
    assert line_scores(bins, now=NOW, thresholds=strict).loc["L1", "stability"] == "errored"


def dslam_bin(
    *, lines: int, retrained: int, errored: int, out_of_service_retrained: int = 0
) -> pd.DataFrame:
    """One bin of one DSLAM: ``retrained`` lines with a full init, ``errored`` with ES."""
    n = lines + out_of_service_retrained
    return pd.DataFrame(
        {
            "line": [f"L{i}" for i in range(n)],
            "dslam": "D1",
            "start": NOW - BIN_S,
            "in_service": [True] * lines + [False] * out_of_service_retrained,
            "showtime_s": BIN_S,
            "full_inits": [1 if i < retrained else 0 for i in range(lines)]
            + [1] * out_of_service_retrained,
            "failed_inits": 0,
            "es": [1 if i < errored else 0 for i in range(lines)] + [0] * out_of_service_retrained,
            "ses": 0,
            "uas": 0,
            "snr_margin_down_db": 6.0,
            "snr_margin_up_db": 6.0,
        }
    )


WIDE_AREA_CASES = [
    (
        "5 of 20 lines retrained: 25 % > 20 % → wide-area",
        dslam_bin(lines=20, retrained=5, errored=0),
        True,
    ),
    (
        "4 of 20 retrained: exactly 20 %, not above → line faults",
        dslam_bin(lines=20, retrained=4, errored=0),
        False,
    ),
    (
        "11 of 20 errored (55 %) and 3 retrained (15 %) → wide-area",
        dslam_bin(lines=20, retrained=3, errored=11),
        True,
    ),
    (
        "11 of 20 errored but only 2 retrained (10 %, not above) → line faults",
        dslam_bin(lines=20, retrained=2, errored=11),
        False,
    ),
    (
        "10 of 20 errored (50 %, not above) with 3 retrained → line faults",
        dslam_bin(lines=20, retrained=3, errored=10),
        False,
    ),
    (
        "lines out of service count in neither numerator nor denominator",
        dslam_bin(lines=20, retrained=2, errored=0, out_of_service_retrained=30),
        False,
    ),
    (
        "a 5-line cabinet is below the 10-line minimum: 2 retrains stay line faults",
        dslam_bin(lines=5, retrained=2, errored=0),
        False,
    ),
]


@pytest.mark.parametrize(
    ("description", "bins", "expected"), WIDE_AREA_CASES, ids=[c[0] for c in WIDE_AREA_CASES]
)
def test_wide_area_event(description, bins, expected):
    flags = wide_area_events(bins)
    assert len(flags) == 1, description
    assert bool(flags["wide_area"].iloc[0]) is expected, description


def test_wide_area_bins_are_excluded_from_line_scoring():
    """A DSLAM-wide event retrains all 20 lines 3 times in one bin.

    Without the exclusion every line would be unstable (3 retrains in one bin); with it,
    all are stable and the bin is reported in ``excluded_bins``.
    """
    frames = [week(line=f"L{i}", full_inits={600: 3}) for i in range(20)]
    bins = pd.concat(frames, ignore_index=True)
    scores = line_scores(bins, now=NOW)
    assert set(scores["stability"]) == {"stable"}
    assert set(scores["excluded_bins"]) == {1}
    # the same retrains on one line of the 20 (5 %) are a line fault
    alone = pd.concat([frames[0], *(week(line=f"L{i}") for i in range(1, 20))], ignore_index=True)
    scores = line_scores(alone, now=NOW)
    assert scores.loc["L0", "stability"] == "unstable"
    assert scores.loc["L1", "stability"] == "stable"


def test_rate_attainment_and_headroom():
    lines = pd.DataFrame(
        {
            "actual_down_bps": [95e6, 80e6, 50e6],
            "attainable_down_bps": [120e6, 85e6, 60e6],
            "plan_down_bps": [100e6, 100e6, 0],
        },
        index=pd.Index(["A", "B", "C"], name="line"),
    )
    got = rate_attainment(lines, min_share_of_plan=0.9)
    assert got["rate_attainment_down_ratio"].tolist()[:2] == [0.95, 0.8]
    assert math.isnan(got["rate_attainment_down_ratio"].iloc[2])
    assert got["headroom_down_bps"].tolist() == [25e6, 5e6, 10e6]
    assert got["attains_plan_down"].tolist()[:2] == [True, False]
    assert pd.isna(got["attains_plan_down"].iloc[2])


UAS_CASES = [
    # description, timeline rows inside one bin [0,900), uas, expected deltas (up, down, unknown)
    (
        "UAS already covered by downtime adds nothing",
        [(0, 300, "up"), (300, 600, "down"), (600, 900, "up")],
        200,
        (0, 0, 0),
    ),
    (
        "UAS beyond downtime takes unknown first, then up: 250 − 100 = 150 → 100 unknown + 50 up",
        [(0, 300, "up"), (300, 400, "down"), (400, 500, "unknown"), (500, 900, "up")],
        250,
        (-50, 150, -100),
    ),
    (
        "UAS in a bin that is all maintenance is ignored",
        [(0, 900, "maintenance")],
        900,
        (0, 0, 0),
    ),
    (
        "UAS cannot exceed the up and unknown time of the bin",
        [(0, 600, "maintenance"), (600, 900, "up")],
        900,
        (-300, 300, 0),
    ),
]


@pytest.mark.parametrize(
    ("description", "rows", "uas", "expected"), UAS_CASES, ids=[c[0] for c in UAS_CASES]
)
def test_uas_adjustment(description, rows, uas, expected):
    timeline = pd.DataFrame(
        [{"entity": "L1", "start": NOW + s, "end": NOW + e, "state": st} for s, e, st in rows]
    )
    bins = pd.DataFrame({"entity": ["L1"], "start": [NOW], "end": [NOW + BIN_S], "uas_s": [uas]})
    delta = uas_adjustment(timeline, bins).loc["L1"]
    assert (delta["up"], delta["down"], delta["unknown"]) == expected, description
    assert delta.sum() == 0, description
