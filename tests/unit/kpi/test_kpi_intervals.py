"""Interval algebra edge cases, with expected seconds worked out by hand.

Times are offsets in seconds from ``T0`` (2024-05-01 00:00 Asia/Shanghai = 2024-04-30
16:00 UTC) unless a case says otherwise; the report window is ``[0, 1000)``.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from kpi.intervals import (
    State,
    TimeWindow,
    clip,
    coalesce,
    epoch_s,
    epoch_s_series,
    fill_gaps,
    overlay,
    remove,
    report_seconds,
    restrict,
    seconds_between,
    state_seconds,
    timeline_from_events,
)
from kpi.sla import PeriodKind, ReportingPeriod

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = epoch_s(datetime(2024, 5, 1, tzinfo=SHANGHAI))
WINDOW = TimeWindow(start=T0, end=T0 + 1000)


def events(*rows: tuple[str, int, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"entity": e, "ts": T0 + t, "state": s} for e, t, s in rows],
        columns=["entity", "ts", "state"],
    )


def windows(*rows: tuple[str, int, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"entity": e, "start": T0 + s, "end": T0 + t} for e, s, t in rows],
        columns=["entity", "start", "end"],
    )


def secs(up: int = 0, down: int = 0, maintenance: int = 0, unknown: int = 0) -> dict[str, int]:
    return {"up": up, "down": down, "maintenance": maintenance, "unknown": unknown}


REPORT_CASES = [
    # description, events, now (offset), maintenance, expected seconds for line "a"
    (
        "maintenance overlapping an outage is intersected, not subtracted",
        # up [0,300) down [300,700) up [700,1000); maintenance [500,800).
        # down keeps 300–500 = 200; maintenance 500–800 = 300; up 0–300 + 800–1000 = 500.
        # Subtracting (400 down − 300 maintenance = 100) would be wrong.
        [("a", 0, "up"), ("a", 300, "down"), ("a", 700, "up")],
        1000,
        [("a", 500, 800)],
        secs(up=500, down=200, maintenance=300),
    ),
    (
        "maintenance away from the outage takes nothing from downtime",
        # down [100,200); maintenance [500,600) over up time → up 800, down 100, maint 100.
        [("a", 0, "up"), ("a", 100, "down"), ("a", 200, "up")],
        1000,
        [("a", 500, 600)],
        secs(up=800, down=100, maintenance=100),
    ),
    (
        "maintenance covering the whole outage removes it all",
        # down [300,400) inside maintenance [250,450): up 800, maintenance 200.
        [("a", 0, "up"), ("a", 300, "down"), ("a", 400, "up")],
        1000,
        [("a", 250, 450)],
        secs(up=800, maintenance=200),
    ),
    (
        "overlapping maintenance windows are merged, not counted twice",
        # [100,400) ∪ [300,600) = [100,600): maintenance 500, up 500.
        [("a", 0, "up")],
        1000,
        [("a", 100, 400), ("a", 300, 600)],
        secs(up=500, maintenance=500),
    ),
    (
        "maintenance of another entity does not touch this one",
        [("a", 0, "down")],
        1000,
        [("b", 0, 1000)],
        secs(down=1000),
    ),
    (
        "maintenance reaching outside the window is clipped to it",
        # maintenance [-100,100) → only [0,100) counts.
        [("a", -500, "up")],
        1000,
        [("a", -100, 100)],
        secs(up=900, maintenance=100),
    ),
    (
        "outage spanning the window start counts only inside the window",
        # down since −100 (state set by an event before the window), up again at 200.
        [("a", -500, "up"), ("a", -100, "down"), ("a", 200, "up")],
        1000,
        [],
        secs(up=800, down=200),
    ),
    (
        "outage spanning the window end counts only inside the window",
        # down from 900 until 1500 → 100 s in [0,1000).
        [("a", -10, "up"), ("a", 900, "down"), ("a", 1500, "up")],
        2000,
        [],
        secs(up=900, down=100),
    ),
    (
        "open outage counts up to now when now is inside the window",
        # down since 600, still open at now=800: down 200; 800–1000 has not happened → unknown.
        [("a", 0, "up"), ("a", 600, "down")],
        800,
        [],
        secs(up=600, down=200, unknown=200),
    ),
    (
        "open outage counts to the window end when now is after it",
        # down since 600, still open at now=5000 → down 400 inside the window.
        [("a", 0, "up"), ("a", 600, "down")],
        5000,
        [],
        secs(up=600, down=400),
    ),
    (
        "events after now are ignored",
        # report recomputed for now=500: the recovery at 700 has not happened yet.
        [("a", 0, "up"), ("a", 300, "down"), ("a", 700, "up")],
        500,
        [],
        secs(up=300, down=200, unknown=500),
    ),
    (
        "unknown inside downtime is never downtime",
        # up −50; down 100; poller loses contact 300; sees down again 400; up 600.
        # down = 100–300 + 400–600 = 400; unknown 100; up 0–100 + 600–1000 = 500.
        [
            ("a", -50, "up"),
            ("a", 100, "down"),
            ("a", 300, "unknown"),
            ("a", 400, "down"),
            ("a", 600, "up"),
        ],
        1000,
        [],
        secs(up=500, down=400, unknown=100),
    ),
    (
        "time before the first event is unknown, not up",
        [("a", 200, "up")],
        1000,
        [],
        secs(up=800, unknown=200),
    ),
    (
        "unknown inside maintenance becomes maintenance",
        # unknown [300,500) inside maintenance [200,600): maintenance 400, up 600.
        [("a", 0, "up"), ("a", 300, "unknown"), ("a", 500, "up")],
        1000,
        [("a", 200, 600)],
        secs(up=600, maintenance=400),
    ),
    (
        "repeated events of the same state merge into one interval",
        [("a", 0, "up"), ("a", 100, "up"), ("a", 200, "down"), ("a", 250, "down")],
        1000,
        [],
        secs(up=200, down=800),
    ),
    (
        "of two events at the same second the later one wins",
        [("a", 0, "up"), ("a", 500, "up"), ("a", 500, "down")],
        1000,
        [],
        secs(up=500, down=500),
    ),
]


@pytest.mark.parametrize(
    ("description", "rows", "now", "maintenance", "expected"),
    REPORT_CASES,
    ids=[c[0] for c in REPORT_CASES],
)
def test_report_seconds(description, rows, now, maintenance, expected):
    timeline = timeline_from_events(events(*rows), now=T0 + now)
    got = report_seconds(timeline, WINDOW, maintenance=windows(*maintenance), entities=["a"])
    assert got.loc["a"].to_dict() == expected, description
    assert int(got.loc["a"].sum()) == WINDOW.seconds, f"{description}: seconds must add up"


def test_entity_without_events_is_unknown_for_the_whole_window():
    timeline = timeline_from_events(events(("a", 0, "up")), now=T0 + 1000)
    got = report_seconds(timeline, WINDOW, entities=["a", "silent"])
    assert got.loc["silent"].to_dict() == secs(unknown=1000)


def test_global_windows_apply_to_every_entity():
    timeline = timeline_from_events(events(("a", 0, "up"), ("b", 0, "down")), now=T0 + 1000)
    night = [TimeWindow(start=T0 + 100, end=T0 + 300)]
    got = state_seconds(overlay(timeline, night, state=State.MAINTENANCE))
    assert got.loc["a"].to_dict() == secs(up=800, maintenance=200)
    assert got.loc["b"].to_dict() == secs(down=800, maintenance=200)


RESTRICT_CASES = [
    # description, windows, inside, outside — for up [0,300) down [300,700) up [700,1000),
    # i.e. up 600 + down 400; inside + outside must give those back.
    ("window inside one interval", [(100, 200)], secs(up=100), secs(up=500, down=400)),
    ("window across a state change", [(200, 400)], secs(up=100, down=100), secs(up=500, down=300)),
    ("two windows", [(0, 100), (650, 750)], secs(up=150, down=50), secs(up=450, down=350)),
    ("window outside the timeline", [(2000, 3000)], secs(), secs(up=600, down=400)),
]


@pytest.mark.parametrize(
    ("description", "spans", "inside", "outside"),
    RESTRICT_CASES,
    ids=[c[0] for c in RESTRICT_CASES],
)
def test_restrict_and_remove_partition_the_timeline(description, spans, inside, outside):
    timeline = timeline_from_events(
        events(("a", 0, "up"), ("a", 300, "down"), ("a", 700, "up")), now=T0 + 1000
    )
    ws = [TimeWindow(start=T0 + s, end=T0 + e) for s, e in spans]
    got_in = state_seconds(restrict(timeline, ws)).reindex(["a"], fill_value=0).loc["a"].to_dict()
    got_out = state_seconds(remove(timeline, ws)).loc["a"].to_dict()
    assert got_in == inside, description
    assert got_out == outside, description


def test_overlapping_timeline_is_refused():
    bad = pd.DataFrame(
        {"entity": ["a", "a"], "start": [0, 50], "end": [100, 150], "state": ["up", "down"]}
    )
    with pytest.raises(ValueError, match="overlapping"):
        coalesce(bad)


def test_unknown_state_is_refused():
    with pytest.raises(ValueError, match="unknown states"):
        timeline_from_events(events(("a", 0, "flapping")), now=T0 + 10)


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="naive"):
        epoch_s(datetime(2024, 5, 1))


def test_epoch_s_series_floors_to_seconds_whatever_the_resolution():
    stamps = pd.Series(pd.to_datetime(["2024-04-30T16:00:00.900Z", "2024-04-30T16:00:01.000Z"]))
    assert epoch_s_series(stamps).tolist() == [T0, T0 + 1]


def test_clip_and_fill_gaps_keep_seconds_exact_over_a_large_fleet():
    """100k lines with an outage each: every line's seconds still add up to the window."""
    n = 100_000
    rng = np.random.default_rng(7)
    lines = np.array([f"line-{i}" for i in range(n)], dtype=object)
    down_at = rng.integers(0, 900, n)
    ev = pd.DataFrame(
        {
            "entity": np.concatenate([lines, lines, lines]),
            "ts": np.concatenate([np.full(n, T0 - 10), T0 + down_at, T0 + down_at + 50]),
            "state": ["up"] * n + ["down"] * n + ["up"] * n,
        }
    )
    got = report_seconds(timeline_from_events(ev, now=T0 + 1000), WINDOW)
    assert len(got) == n
    assert (got["down"] == 50).all()
    assert (got.sum(axis=1) == 1000).all()


def test_seconds_between_counts_each_bin():
    timeline = timeline_from_events(
        events(("a", 0, "up"), ("a", 300, "down"), ("a", 700, "up")), now=T0 + 1000
    )
    queries = windows(("a", 0, 1000), ("a", 250, 650), ("a", 650, 650), ("z", 0, 100))
    got = seconds_between(timeline, queries)
    assert got.to_dict("records") == [
        secs(up=600, down=400),
        secs(up=50, down=350),
        secs(),
        secs(),
    ]


def test_fill_gaps_labels_holes_unknown():
    timeline = pd.DataFrame(
        {
            "entity": ["a", "a"],
            "start": [T0 + 100, T0 + 600],
            "end": [T0 + 400, T0 + 900],
            "state": ["up", "down"],
        }
    )
    filled = fill_gaps(timeline, WINDOW)
    assert [(r.start - T0, r.end - T0, r.state) for r in filled.itertuples()] == [
        (0, 100, "unknown"),
        (100, 400, "up"),
        (400, 600, "unknown"),
        (600, 900, "down"),
        (900, 1000, "unknown"),
    ]
    assert clip(timeline, TimeWindow(start=T0 + 200, end=T0 + 700))["end"].tolist() == [
        T0 + 400,
        T0 + 700,
    ]


# Month boundaries: the period is bounded by local midnights in its zone.
MONTH_CASES = [
    # description, zone, local instant inside the month, expected seconds of the month
    ("May in Asia/Shanghai (UTC+8, no DST): 31 days", "Asia/Shanghai", (2024, 5, 15), 31 * 86400),
    (
        "February 2024 in Asia/Shanghai: leap year, 29 days",
        "Asia/Shanghai",
        (2024, 2, 10),
        29 * 86400,
    ),
    (
        "March 2024 in Asia/Shanghai: no DST, 31 full days",
        "Asia/Shanghai",
        (2024, 3, 10),
        31 * 86400,
    ),
    # CET→CEST on 2024-03-31 02:00: the month loses one hour.
    (
        "March 2024 in Europe/Berlin: spring forward, 31 d − 1 h",
        "Europe/Berlin",
        (2024, 3, 10),
        31 * 86400 - 3600,
    ),
    # CEST→CET on 2024-10-27 03:00: the month gains one hour.
    (
        "October 2024 in Europe/Berlin: fall back, 31 d + 1 h",
        "Europe/Berlin",
        (2024, 10, 10),
        31 * 86400 + 3600,
    ),
    ("June 2024 in Europe/Berlin: no change, 30 days", "Europe/Berlin", (2024, 6, 10), 30 * 86400),
]


@pytest.mark.parametrize(
    ("description", "zone", "day", "expected"), MONTH_CASES, ids=[c[0] for c in MONTH_CASES]
)
def test_calendar_month_length_in_zone(description, zone, day, expected):
    period = ReportingPeriod(kind=PeriodKind.MONTH, time_zone=zone)
    inside = epoch_s(datetime(*day, 12, tzinfo=ZoneInfo(zone)))
    window = period.containing(inside)
    assert window.seconds == expected, description
    assert datetime.fromtimestamp(window.start, ZoneInfo(zone)).timetuple()[2:6] == (1, 0, 0, 0)


def test_outage_across_a_month_boundary_in_shanghai_splits_at_local_midnight():
    """Down from 2024-05-31 23:00 to 2024-06-01 01:00 Asia/Shanghai (15:00–17:00 UTC).

    May (ends 2024-05-31 16:00 UTC) gets 3600 s, June gets 3600 s; a UTC-month report
    would have put all 7200 s into May.
    """
    period = ReportingPeriod(time_zone="Asia/Shanghai")
    start = epoch_s(datetime(2024, 5, 31, 23, tzinfo=SHANGHAI))
    ev = pd.DataFrame(
        {
            "entity": ["a", "a", "a"],
            "ts": [start - 86400, start, start + 7200],
            "state": ["up", "down", "up"],
        }
    )
    timeline = timeline_from_events(ev, now=start + 86400)
    may = period.containing(start)
    june = period.containing(start + 7200)
    assert report_seconds(timeline, may).loc["a", "down"] == 3600
    assert report_seconds(timeline, june).loc["a", "down"] == 3600


def test_touching_lists_the_periods_late_data_makes_dirty():
    period = ReportingPeriod(time_zone="Asia/Shanghai")
    may_end = epoch_s(datetime(2024, 6, 1, tzinfo=SHANGHAI))
    dirty = period.touching([may_end - 1, may_end, may_end + 5])
    assert [w.end - w.start for w in dirty] == [31 * 86400, 30 * 86400]
