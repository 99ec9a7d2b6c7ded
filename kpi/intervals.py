"""Time-state interval algebra: half-open UTC intervals labelled up/down/maintenance/unknown.

Representation (the contract every other ``kpi`` module and the storage layer rely on):

* **Time** is integer seconds since the Unix epoch, UTC (``int`` / ``int64``), always
  half-open: ``[start, end)``. SNMP polls are seconds apart at best, so sub-second
  precision carries no information, while integers make every sum exact and every
  golden file byte-stable. Use :func:`epoch_s` / :func:`epoch_s_series` at the edge.
  Supported range: ``0 <= t < 2**32`` (1970 … 2106), because entity and time are packed
  into one ``int64`` sort key (``entity_code << 32 | t``) so that every operation here
  runs vectorised over all entities at once.
* A **timeline** is a DataFrame with columns ``entity, start, end, state`` (``state`` holds
  :class:`State` values). Within one entity the intervals are disjoint; a gap means
  "no statement about that time" and becomes ``unknown`` in a report
  (:func:`fill_gaps`).
* A **window set** is a DataFrame with ``entity, start, end`` (per-entity windows, e.g.
  maintenance of one DSLAM) or a sequence of :class:`TimeWindow` (the same windows for
  every entity, e.g. a service schedule). Overlapping windows are merged first.

The report rules (see ``docs/kpi.md``): clip to the report window; an open interval runs
up to ``now``; maintenance is *intersected* with the timeline and overrides whatever was
observed inside it; unknown is never downtime; periods aggregate by summing seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "EVENT_COLUMNS",
    "MAX_EPOCH_S",
    "STATES",
    "TIMELINE_COLUMNS",
    "WINDOW_COLUMNS",
    "State",
    "TimeWindow",
    "Windows",
    "clip",
    "coalesce",
    "empty_timeline",
    "epoch_s",
    "epoch_s_series",
    "fill_gaps",
    "overlay",
    "remove",
    "report_seconds",
    "report_timeline",
    "restrict",
    "seconds_between",
    "state_seconds",
    "timeline_from_events",
    "to_datetime",
]


class State(StrEnum):
    """What an entity was doing during an interval."""

    UP = "up"
    DOWN = "down"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"


STATES: Final[tuple[State, ...]] = tuple(State)
TIMELINE_COLUMNS: Final = ("entity", "start", "end", "state")
EVENT_COLUMNS: Final = ("entity", "ts", "state")
WINDOW_COLUMNS: Final = ("entity", "start", "end")
MAX_EPOCH_S: Final = 2**32  # exclusive upper bound of a timestamp, seconds

_SHIFT: Final = 32
_MASK: Final = (1 << _SHIFT) - 1
_STATE_VALUES: Final = np.array([s.value for s in STATES], dtype=object)
_STATE_CODE: Final = {s.value: i for i, s in enumerate(STATES)}
_STATE_INDEX: Final = pd.Index([s.value for s in STATES], dtype=object)

IntArray = npt.NDArray[np.int64]
_ObjArray = npt.NDArray[np.object_]


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeWindow:
    """A half-open UTC window ``[start, end)`` in epoch seconds.

    ``TimeWindow(start=1714492800, end=1717171200)`` or
    ``TimeWindow.from_datetimes(datetime(2024, 5, 1, tzinfo=tz), datetime(2024, 6, 1, tzinfo=tz))``.
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end < MAX_EPOCH_S:
            raise ValueError(f"invalid window [{self.start}, {self.end})")

    @classmethod
    def from_datetimes(cls, start: datetime, end: datetime) -> TimeWindow:
        """Window between two time-zone-aware datetimes."""
        return cls(start=epoch_s(start), end=epoch_s(end))

    @property
    def seconds(self) -> int:
        """Length of the window in seconds."""
        return self.end - self.start


Windows = pd.DataFrame | Sequence[TimeWindow]


def epoch_s(moment: datetime) -> int:
    """Epoch seconds (floored) of a time-zone-aware datetime; naive datetimes are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: nocd keeps time zone-aware")
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() // 1)


def to_datetime(seconds: int) -> datetime:
    """UTC datetime of epoch seconds."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def epoch_s_series(values: pd.Series) -> pd.Series:
    """Epoch seconds (floored, int64) of a datetime64 series; naive values are taken as UTC."""
    stamps = pd.to_datetime(values, utc=True)
    return ((stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).astype("int64")


def empty_timeline() -> pd.DataFrame:
    """A timeline with no intervals and the right dtypes."""
    return pd.DataFrame(
        {
            "entity": pd.Series([], dtype=object),
            "start": pd.Series([], dtype="int64"),
            "end": pd.Series([], dtype="int64"),
            "state": pd.Series([], dtype=object),
        }
    )


# --------------------------------------------------------------------------- internals


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame lacks columns {missing}")


def _ints(series: pd.Series, what: str) -> IntArray:
    values = series.to_numpy(dtype=np.int64)
    if len(values) and (values.min() < 0 or values.max() >= MAX_EPOCH_S):
        raise ValueError(f"{what}: timestamps outside [0, 2**32) epoch seconds")
    return values


def _state_codes(series: pd.Series) -> npt.NDArray[np.int8]:
    codes = _STATE_INDEX.get_indexer(pd.Index(series.to_numpy(dtype=object)))
    if np.any(codes < 0):
        bad = sorted({str(v) for v in series.to_numpy(dtype=object)[codes < 0]})
        raise ValueError(f"unknown states {bad}; expected one of {[s.value for s in STATES]}")
    return codes.astype(np.int8)


def _sorted_unique(values: IntArray) -> IntArray:
    """np.unique for int64 keys (sort-based: much faster than the hash path here)."""
    values = np.sort(values)
    if len(values) == 0:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _factorize(*columns: pd.Series) -> tuple[list[IntArray], _ObjArray]:
    """Shared integer codes for entity labels appearing in several frames."""
    sizes = [len(c) for c in columns]
    joined: _ObjArray = np.concatenate([c.to_numpy(dtype=object) for c in columns])
    codes, uniques = pd.factorize(joined, sort=True)
    parts = np.split(codes.astype(np.int64), np.cumsum(sizes)[:-1])
    return list(parts), np.asarray(uniques, dtype=object)


def _key(codes: IntArray, seconds: IntArray | np.int64) -> IntArray:
    return (codes << _SHIFT) | seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class _Keyed:
    """A timeline as sorted composite keys (entity_code << 32 | seconds)."""

    start: IntArray
    end: IntArray
    state: npt.NDArray[np.int8]


def _keyed(codes: IntArray, start: IntArray, end: IntArray, state: npt.NDArray[np.int8]) -> _Keyed:
    if np.any(end < start):
        raise ValueError("timeline interval with end < start")
    ks, ke = _key(codes, start), _key(codes, end)
    order = np.argsort(ks, kind="stable")
    ks, ke, st = ks[order], ke[order], state[order]
    if len(ks) > 1 and np.any(ks[1:] < ke[:-1]):
        raise ValueError("overlapping intervals within one entity's timeline")
    return _Keyed(start=ks, end=ke, state=st)


def _merge(start: IntArray, end: IntArray) -> tuple[IntArray, IntArray]:
    """Union of (possibly overlapping or touching) keyed windows, sorted and disjoint."""
    if len(start) == 0:
        return start, end
    order = np.argsort(start, kind="stable")
    start, end = start[order], end[order]
    reach = np.maximum.accumulate(end)
    # A window opens a new group when it starts after everything before it has ended.
    new = np.ones(len(start), dtype=bool)
    new[1:] = start[1:] > reach[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(start) - 1)
    return start[first], reach[last]


def _frame(
    uniques: _ObjArray, keys_start: IntArray, keys_end: IntArray, state: npt.NDArray[np.int8]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity": uniques[keys_start >> _SHIFT],
            "start": (keys_start & _MASK).astype(np.int64),
            "end": (keys_end & _MASK).astype(np.int64),
            "state": _STATE_VALUES[state.astype(np.int64)],
        }
    )


def _coalesced(k: _Keyed) -> _Keyed:
    """Merge touching intervals of one entity with the same state; drop empty ones."""
    keep = k.end > k.start
    start, end, state = k.start[keep], k.end[keep], k.state[keep]
    if len(start) == 0:
        return _Keyed(start=start, end=end, state=state)
    new = np.ones(len(start), dtype=bool)
    # keys of different entities never touch, since end < 2**32 within an entity's range
    new[1:] = (start[1:] != end[:-1]) | (state[1:] != state[:-1])
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(start) - 1)
    return _Keyed(start=start[first], end=end[last], state=state[first])


def _timeline_keyed(
    timeline: pd.DataFrame, *others: pd.Series
) -> tuple[_Keyed, list[IntArray], _ObjArray]:
    _require(timeline, TIMELINE_COLUMNS, "timeline")
    codes, uniques = _factorize(timeline["entity"], *others)
    keyed = _keyed(
        codes[0],
        _ints(timeline["start"], "timeline.start"),
        _ints(timeline["end"], "timeline.end"),
        _state_codes(timeline["state"]),
    )
    return keyed, codes[1:], uniques


def _window_keys(
    timeline: pd.DataFrame, windows: Windows
) -> tuple[_Keyed, IntArray, IntArray, _ObjArray]:
    """The timeline and the merged window set, keyed on shared entity codes."""
    if isinstance(windows, pd.DataFrame):
        _require(windows, WINDOW_COLUMNS, "window")
        keyed, (w_codes,), uniques = _timeline_keyed(timeline, windows["entity"])
        ws = _key(w_codes, _ints(windows["start"], "windows.start"))
        we = _key(w_codes, _ints(windows["end"], "windows.end"))
    else:
        keyed, _, uniques = _timeline_keyed(timeline)
        # Global windows apply to every entity that has a timeline.
        n, m = len(uniques), len(windows)
        w_codes = np.repeat(np.arange(n, dtype=np.int64), m)
        ws = _key(w_codes, np.tile(np.array([w.start for w in windows], dtype=np.int64), n))
        we = _key(w_codes, np.tile(np.array([w.end for w in windows], dtype=np.int64), n))
    if np.any(we < ws):
        raise ValueError("window with end < start")
    ws, we = _merge(ws, we)
    return keyed, ws, we, uniques


def _sweep(
    k: _Keyed, ws: IntArray, we: IntArray
) -> tuple[IntArray, IntArray, npt.NDArray[np.int8], npt.NDArray[np.bool_]]:
    """Elementary segments of the timeline cut at every window edge, each flagged inside/outside."""
    bounds = _sorted_unique(np.concatenate([k.start, k.end, ws, we]))
    seg_s, seg_e = bounds[:-1], bounds[1:]
    i = np.searchsorted(k.start, seg_s, side="right") - 1
    if len(k.start):
        covered = (i >= 0) & (k.end[np.maximum(i, 0)] > seg_s)
    else:
        covered = np.zeros(len(seg_s), dtype=bool)
    seg_s, seg_e, i = seg_s[covered], seg_e[covered], i[covered]
    if len(ws):
        j = np.searchsorted(ws, seg_s, side="right") - 1
        inside = (j >= 0) & (we[np.maximum(j, 0)] > seg_s)
    else:
        inside = np.zeros(len(seg_s), dtype=bool)
    return seg_s, seg_e, k.state[i], inside


# --------------------------------------------------------------------------- public


def coalesce(timeline: pd.DataFrame) -> pd.DataFrame:
    """Sorted timeline with touching same-state intervals merged and empty ones dropped."""
    keyed, _, uniques = _timeline_keyed(timeline)
    k = _coalesced(keyed)
    return _frame(uniques, k.start, k.end, k.state)


def timeline_from_events(events: pd.DataFrame, *, now: int) -> pd.DataFrame:
    """Timeline from state-change events (``entity, ts, state``).

    Each event's state lasts until the entity's next event; the last one stays open up to
    ``now`` (an outage still open at report time counts up to that time). Events at or
    after ``now`` are ignored, so a report recomputed later for an earlier ``now`` gives
    the same answer. Of several events with the same ``ts``, the last in input order wins.
    Time before an entity's first event is not covered (it becomes unknown in a report):
    pass each entity's last event before the report window along with the window's events.
    """
    _require(events, EVENT_COLUMNS, "event")
    ts_all = _ints(events["ts"], "events.ts")
    mask = ts_all < now
    (codes,), uniques = _factorize(events["entity"][mask])
    ts = ts_all[mask]
    state = _state_codes(events["state"][mask])
    order = np.lexsort((ts, codes))  # stable: equal (entity, ts) keep input order
    codes, ts, state = codes[order], ts[order], state[order]
    end = np.full(len(ts), now, dtype=np.int64)
    same_next = codes[1:] == codes[:-1]
    end[:-1] = np.where(same_next, ts[1:], now)
    k = _coalesced(_Keyed(start=_key(codes, ts), end=_key(codes, end), state=state))
    return _frame(uniques, k.start, k.end, k.state)


def clip(timeline: pd.DataFrame, window: TimeWindow) -> pd.DataFrame:
    """The part of the timeline inside ``window``."""
    _require(timeline, TIMELINE_COLUMNS, "timeline")
    out = timeline.loc[:, list(TIMELINE_COLUMNS)].copy()
    out["start"] = np.maximum(out["start"].to_numpy(dtype=np.int64), window.start)
    out["end"] = np.minimum(out["end"].to_numpy(dtype=np.int64), window.end)
    return out.loc[out["end"] > out["start"]].reset_index(drop=True)


def fill_gaps(
    timeline: pd.DataFrame,
    window: TimeWindow,
    *,
    entities: Sequence[object] | pd.Series | None = None,
    state: State = State.UNKNOWN,
) -> pd.DataFrame:
    """Clip to ``window`` and label every uncovered second of it ``state`` (default unknown).

    ``entities`` adds entities that have no interval at all (they become wholly ``state``).
    """
    clipped = clip(timeline, window)
    extra = pd.Series(list(entities) if entities is not None else [], dtype=object)
    # ``extra`` only registers entities without intervals in ``uniques``
    keyed, _, uniques = _timeline_keyed(clipped, extra)
    ks, ke = keyed.start, keyed.end
    codes = ks >> _SHIFT
    first_of_entity = np.ones(len(ks), dtype=bool)
    first_of_entity[1:] = codes[1:] != codes[:-1]
    last_of_entity = np.append(first_of_entity[1:], True) if len(ks) else first_of_entity
    prev_end = np.empty_like(ks)
    prev_end[1:] = ke[:-1]
    prev_end[first_of_entity] = _key(codes[first_of_entity], np.int64(window.start))
    # gaps before each interval, after each entity's last one, and whole windows for the rest
    gap_s = [prev_end[ks > prev_end], ke[last_of_entity]]
    gap_e = [ks[ks > prev_end], _key(codes[last_of_entity], np.int64(window.end))]
    present = np.zeros(len(uniques), dtype=bool)
    present[codes] = True
    absent = np.flatnonzero(~present).astype(np.int64)
    if len(absent) and window.seconds:
        gap_s.append(_key(absent, np.int64(window.start)))
        gap_e.append(_key(absent, np.int64(window.end)))
    gs, ge = np.concatenate(gap_s), np.concatenate(gap_e)
    all_s = np.concatenate([ks, gs])
    all_e = np.concatenate([ke, ge])
    all_st = np.concatenate([keyed.state, np.full(len(gs), _STATE_CODE[state.value], np.int8)])
    order = np.argsort(all_s, kind="stable")
    merged = _Keyed(start=all_s[order], end=all_e[order], state=all_st[order])
    k = _coalesced(merged)
    return _frame(uniques, k.start, k.end, k.state)


def overlay(timeline: pd.DataFrame, windows: Windows, *, state: State) -> pd.DataFrame:
    """Relabel every part of the timeline inside ``windows`` as ``state``.

    This is an intersection: only time both in the timeline and in a window changes, so a
    maintenance window that only half-overlaps an outage turns only that half into
    maintenance, and a window over time the timeline does not cover adds nothing.
    """
    keyed, ws, we, uniques = _window_keys(timeline, windows)
    seg_s, seg_e, seg_state, inside = _sweep(keyed, ws, we)
    seg_state = np.where(inside, np.int8(_STATE_CODE[state.value]), seg_state).astype(np.int8)
    k = _coalesced(_Keyed(start=seg_s, end=seg_e, state=seg_state))
    return _frame(uniques, k.start, k.end, k.state)


def restrict(timeline: pd.DataFrame, windows: Windows) -> pd.DataFrame:
    """Only the parts of the timeline inside ``windows`` (e.g. a weekly service schedule)."""
    keyed, ws, we, uniques = _window_keys(timeline, windows)
    seg_s, seg_e, seg_state, inside = _sweep(keyed, ws, we)
    k = _coalesced(_Keyed(start=seg_s[inside], end=seg_e[inside], state=seg_state[inside]))
    return _frame(uniques, k.start, k.end, k.state)


def remove(timeline: pd.DataFrame, windows: Windows) -> pd.DataFrame:
    """Only the parts of the timeline outside ``windows`` (e.g. excluded downtimes)."""
    keyed, ws, we, uniques = _window_keys(timeline, windows)
    seg_s, seg_e, seg_state, inside = _sweep(keyed, ws, we)
    out = ~inside
    k = _coalesced(_Keyed(start=seg_s[out], end=seg_e[out], state=seg_state[out]))
    return _frame(uniques, k.start, k.end, k.state)


def state_seconds(timeline: pd.DataFrame) -> pd.DataFrame:
    """Seconds per state per entity: index ``entity`` (sorted), an int64 column per state."""
    keyed, _, uniques = _timeline_keyed(timeline)
    n = len(uniques)
    codes = keyed.start >> _SHIFT
    dur = (keyed.end - keyed.start).astype(np.float64)  # < 2**53: exact
    flat = np.bincount(codes * len(STATES) + keyed.state, weights=dur, minlength=n * len(STATES))
    table = flat.reshape(n, len(STATES)).astype(np.int64)
    return pd.DataFrame(
        table, index=pd.Index(uniques, name="entity"), columns=[s.value for s in STATES]
    )


def report_timeline(
    timeline: pd.DataFrame,
    window: TimeWindow,
    *,
    maintenance: Windows | None = None,
    entities: Sequence[object] | pd.Series | None = None,
) -> pd.DataFrame:
    """The canonical report pipeline: clip, unknown for uncovered time, then maintenance.

    Maintenance overrides every observed state inside its windows (up, down and unknown):
    the window is a declared fact, not an observation, and its time is owed to nobody.
    """
    filled = fill_gaps(timeline, window, entities=entities)
    if maintenance is None:
        return filled
    return overlay(filled, maintenance, state=State.MAINTENANCE)


def report_seconds(
    timeline: pd.DataFrame,
    window: TimeWindow,
    *,
    maintenance: Windows | None = None,
    entities: Sequence[object] | pd.Series | None = None,
) -> pd.DataFrame:
    """:func:`state_seconds` of :func:`report_timeline`; rows sum to ``window.seconds``."""
    return state_seconds(
        report_timeline(timeline, window, maintenance=maintenance, entities=entities)
    )


def seconds_between(timeline: pd.DataFrame, queries: pd.DataFrame) -> pd.DataFrame:
    """Seconds per state of each query row's entity within its ``[start, end)``.

    Vectorised (binary search over cumulative durations), for many small windows such as
    15-minute bins; the result has the index of ``queries`` and one column per state.
    """
    _require(queries, WINDOW_COLUMNS, "query")
    keyed, (q_codes,), _ = _timeline_keyed(timeline, queries["entity"])
    qs = _key(q_codes, _ints(queries["start"], "queries.start"))
    qe = _key(q_codes, _ints(queries["end"], "queries.end"))
    if np.any(qe < qs):
        raise ValueError("query with end < start")
    result = _covered_before(keyed, qe) - _covered_before(keyed, qs)
    return pd.DataFrame(result, index=queries.index, columns=[s.value for s in STATES])


def _covered_before(k: _Keyed, q: IntArray) -> IntArray:
    """Per query key: seconds per state of all intervals before it (shape (len(q), 4))."""
    n_states = len(STATES)
    out = np.zeros((len(q), n_states), dtype=np.int64)
    if len(k.start) == 0:
        return out
    dur = k.end - k.start
    cum = np.zeros((len(k.start) + 1, n_states), dtype=np.int64)
    onehot = np.zeros((len(k.start), n_states), dtype=np.int64)
    onehot[np.arange(len(k.start)), k.state.astype(np.int64)] = dur
    cum[1:] = np.cumsum(onehot, axis=0)
    i = np.searchsorted(k.start, q, side="right") - 1
    valid = i >= 0
    iv = np.maximum(i, 0)
    out[valid] = cum[iv[valid]]
    partial = np.clip(q - k.start[iv], 0, dur[iv])
    rows = np.flatnonzero(valid)
    out[rows, k.state[iv[rows]].astype(np.int64)] += partial[rows]
    return out
