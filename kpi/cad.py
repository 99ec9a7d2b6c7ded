"""CAD OSE: the Contextual Anomaly Detector, Open Source Edition, as it was scored on NAB.

The algorithm is Mikhail Smirnov's (2016, github.com/smirmik/CAD), in the version that
produced NAB's published ``contextOSE`` results (standard 69.9, reward-low-FP 67.0,
reward-low-FN 73.2; numenta/NAB ``nab/detectors/context_ose/``). This is an independent
re-implementation from that description; no code is copied. Per sample:

1. the value is quantised to ``value_bits`` bits over [``min_value``, ``max_value``] and
   each bit becomes a *sensor fact* (bit position and value);
2. the previous step's facts (its sensor facts plus up to ``max_active_neurons`` *neuron*
   facts, one per context active then) form a left half, the current sensor facts a right
   half; the pair is a zero-level *context*. Contexts are stored as left/right
   *semi-contexts* indexed by fact, and new contexts are grown from the intersections of
   the current facts with stored zero-level contexts (left part ≤
   ``max_left_semi_context_len`` facts);
3. the raw score is (1 − active/selected + added/potential) / 2: the share of the
   contexts whose left half fully matched that did *not* also match on the right, plus the
   share of candidate contexts that were new. It is reported only when no raw score of the
   last ``rest_period`` samples reached ``base_threshold`` (0 otherwise), so one anomaly
   gives one high score.

The constants are the published ones (3 bits, 7, 15, 0.75); NAB's wrapper passes the file's
minimum and maximum and ``rest_period`` = ⌊0.15 n⌋ / 5 samples. Active contexts are ranked
by activation count, ties broken by the Python 2 hash of their left and right fact tuples,
and contexts are visited in Python 2 dictionary order: both are what the reference run used
(reproduced here bit for bit so that its result files can be reproduced) and otherwise
arbitrary but deterministic.

Memory grows with the number of stored contexts, fast in the first days and slowly after
(about 3200 contexts, 0.7 MB, after ten weeks of 5-minute backbone traffic), and without
bound on novel input (white noise adds contexts every sample). To keep it small, contexts are
columns of machine ints indexed by context id and semi-contexts are interned once per side
(see :class:`_SemiTable`), instead of Python objects per context (≈ 0.7 KB each).
``max_contexts`` bounds it: above the cap a fresh detector is trained alongside on the same
samples and takes over after ``handover`` samples; see :class:`CadDetector`.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import numpy.typing as npt

from kpi.anomaly import AnomalyEvent, AnomalyKind

__all__ = ["CadConfig", "CadDetector", "cad_score_series", "nab_rest_period"]

FloatArray = npt.NDArray[np.float64]
_MASK64 = (1 << 64) - 1
_NEURON_BASE = 2**31  # neuron facts are 2**31 + context id; sensor facts are < 2 * bits
_Pair = tuple[tuple[int, ...], tuple[int, ...]]


def nab_rest_period(rows: int) -> int:
    """The rest period NAB's wrapper gives a file of ``rows`` rows: ⌊0.15 rows⌋ / 5."""
    return max(1, int(math.floor(0.15 * rows) / 5.0))


@dataclass(frozen=True, slots=True, kw_only=True)
class CadConfig:
    """CAD OSE parameters; the defaults are the published ones except the value range.

    ``rest_period`` is in samples (120 = 10 h of 5-minute samples, what NAB's wrapper gives
    its 4032-row two-week 5-minute files). ``alert_level`` is NAB's published standard-profile
    threshold for this detector (the corpus-wide single-threshold optimisation); it is used
    only by the event layer, never to alter scores.
    """

    min_value: float
    max_value: float
    rest_period: int = 120
    base_threshold: float = 0.75
    max_left_semi_context_len: int = 7
    max_active_neurons: int = 15
    value_bits: int = 3
    alert_level: float = 0.7655273437500002
    max_contexts: int | None = None  # None: unbounded, as published
    handover: int = 2016  # samples a replacement learns before it takes over (a week)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_value) and math.isfinite(self.max_value)):
            raise ValueError("CadConfig: min_value and max_value must be finite")
        if self.max_value < self.min_value:
            raise ValueError(
                f"CadConfig: max_value {self.max_value} is below min_value {self.min_value}"
            )
        if self.rest_period < 1:
            raise ValueError("CadConfig: rest_period must be at least 1 sample")
        if not 1 <= self.value_bits <= 16:
            raise ValueError("CadConfig: value_bits must be within 1..16")
        if self.max_contexts is not None and self.max_contexts < 1:
            raise ValueError("CadConfig: max_contexts must be positive (or None)")
        if self.handover < 1:
            raise ValueError("CadConfig: handover must be at least 1 sample")


def _py2_tuple_hash(items: tuple[int, ...]) -> int:
    """CPython 2.7's 64-bit hash of a tuple of small ints (the reference's tie-breaker)."""
    x = 0x345678
    mult = 1000003
    n = len(items)
    for k, y in enumerate(items):
        x = ((x ^ y) * mult) & _MASK64
        rem = n - 1 - k
        mult = (mult + 82520 + rem + rem) & _MASK64
    x = (x + 97531) & _MASK64
    if x >= 1 << 63:
        x -= 1 << 64
    return -2 if x == -1 else x


class _Py2KeyOrder:
    """Iteration order of a CPython 2.7 dict with non-negative int keys, insert-only."""

    __slots__ = ("_cache", "_mask", "_table", "_used")

    def __init__(self) -> None:
        self._table = [-1] * 8
        self._mask = 7
        self._used = 0
        self._cache: list[int] | None = None

    @staticmethod
    def _place(table: list[int], mask: int, key: int) -> None:
        i = key & mask
        perturb = key
        while table[i & mask] != -1:
            i = (i << 2) + i + perturb + 1
            perturb >>= 5
        table[i & mask] = key

    def add(self, key: int) -> None:
        self._place(self._table, self._mask, key)
        self._used += 1
        self._cache = None
        if self._used * 3 >= (self._mask + 1) * 2:
            minused = (4 if self._used <= 50000 else 2) * self._used
            size = 8
            while size <= minused:
                size <<= 1
            table = [-1] * size
            for k in self._table:
                if k != -1:
                    self._place(table, size - 1, k)
            self._table, self._mask = table, size - 1

    def ordered(self) -> list[int]:
        if self._cache is None:
            self._cache = [k for k in self._table if k != -1]
        return self._cache


class _SemiTable:
    """The semi-contexts of one side, as parallel columns indexed by semi-context id.

    A semi-context is a sorted fact tuple; it is stored once, keyed by its facts packed as
    unsigned 32-bit ints, with its length, its Python 2 tuple hash (the tie-breaker) and a
    posting list per fact (ids in creation order). Left semi-contexts also hold their
    contexts' ids in the order the reference visits them (Python 2 dict order of the right
    semi-context ids, see :class:`_Py2KeyOrder`).
    """

    __slots__ = ("contexts", "hashes", "ids", "keys", "postings", "sizes")

    def __init__(self) -> None:
        self.ids: dict[bytes, int] = {}
        self.keys: list[bytes] = []  # by id
        self.sizes = array("I")
        self.hashes = array("q")
        self.postings: dict[int, array[int]] = {}
        self.contexts: list[array[int]] = []

    def get(self, facts: tuple[int, ...], *, left: bool) -> int:
        """The id of the semi-context of ``facts``, created if new."""
        key = array("I", facts).tobytes()
        sid = self.ids.get(key)
        if sid is None:
            sid = len(self.sizes)
            self.ids[key] = sid
            self.keys.append(key)
            self.sizes.append(len(facts))
            self.hashes.append(_py2_tuple_hash(facts))
            if left:
                self.contexts.append(array("i"))
            for fact in facts:
                posting = self.postings.get(fact)
                if posting is None:
                    self.postings[fact] = array("i", (sid,))
                else:
                    posting.append(sid)
        return sid

    def cross(self, facts: tuple[int, ...]) -> Counter[int]:
        """Semi-context id -> how many of ``facts`` it holds, for those holding any."""
        postings = self.postings
        return Counter(chain.from_iterable(postings.get(fact, ()) for fact in facts))

    def shared(self, sid: int, facts: tuple[int, ...]) -> tuple[int, ...]:
        """The facts of ``facts`` that semi-context ``sid`` holds, in the order of ``facts``."""
        own = set(array("I", self.keys[sid]))
        return tuple([fact for fact in facts if fact in own])  # exact size: no resize


class _CadCore:
    """One CAD OSE memory; :meth:`raw` returns the unsuppressed score of a sample.

    Contexts are columns indexed by context id (creation order): their right semi-context,
    activation count and zero-level flag; the left semi-context owns the context's id.
    """

    def __init__(self, config: CadConfig) -> None:
        self.config = config
        self._bins = 2**config.value_bits - 1
        span = config.max_value - config.min_value
        self._step = (span if span != 0.0 else float(self._bins)) / float(self._bins)
        self._left_group: tuple[int, ...] = ()
        self._current: tuple[int, ...] = ()
        self._lefts = _SemiTable()
        self._rights = _SemiTable()
        self._crossed_limit = 0  # left semi-contexts that existed when _left_group was set
        self._ctx_right = array("i")
        self._activations = array("i")
        self._zero_level = bytearray()
        self._new_id: int | None = None
        self.history: deque[float] = deque([1.0], maxlen=config.rest_period)
        self.samples = 0

    @property
    def size(self) -> int:
        """Number of stored contexts."""
        return len(self._ctx_right)

    def sensor_facts(self, value: float) -> tuple[int, ...]:
        """Quantise (clamped to the range) and encode: one fact per bit, 2·position + bit."""
        c = self.config
        v = min(max(value, c.min_value), c.max_value)
        level = min(max(int((v - c.min_value) / self._step), 0), self._bins)
        return tuple(2 * k + ((level >> k) & 1) for k in range(c.value_bits))

    def _store(self, pairs: list[_Pair], zero_level: bool) -> int:
        """Find or create the contexts of ``pairs``; count the new ones.

        For a zero-level pair (always alone) returns 1 if it was new and marks it as the
        step's new context, else marks the stored context as zero-level and returns 0.
        """
        added = 0
        for left_facts, right_facts in pairs:
            lid = self._lefts.get(left_facts, left=True)
            rid = self._rights.get(right_facts, left=False)
            owned = self._lefts.contexts[lid]
            cid = next((c for c in owned if self._ctx_right[c] == rid), None)
            if cid is None:
                cid = len(self._ctx_right)
                self._ctx_right.append(rid)
                self._activations.append(0)
                self._zero_level.append(zero_level)
                order = _Py2KeyOrder()  # replayed in insertion (= context id) order
                by_right = {self._ctx_right[c]: c for c in sorted((*owned, cid))}
                for right in by_right:
                    order.add(right)
                self._lefts.contexts[lid] = array("i", (by_right[r] for r in order.ordered()))
                added += 1
                if zero_level:
                    self._new_id = cid
                    return 1
            elif zero_level:
                self._zero_level[cid] = True
                return 0
        return added

    def _activate(
        self, new_context: bool
    ) -> tuple[list[tuple[int, int, int, int]], int, list[_Pair]]:
        """Visit the contexts of the left semi-contexts crossed at the previous step.

        Returns the active contexts (left and right fully matched) as sort keys with their
        ids, the number of contexts whose left half fully matched, and the candidate new
        contexts. As in the reference, the context created this step is skipped; with none
        created, context 0 is skipped (the reference compares ``False != id``).
        """
        c = self.config
        skip = self._new_id if self._new_id is not None else 0
        active: list[tuple[int, int, int, int]] = []
        selected = 0
        candidates: list[_Pair] = []
        lefts, rights = self._lefts, self._rights
        left_group, current = self._left_group, self._current
        right_counts = rights.cross(current)
        ctx_right, activations, zero_level = self._ctx_right, self._activations, self._zero_level

        def candidate(lid: int, rid: int) -> _Pair:
            return lefts.shared(lid, left_group), rights.shared(rid, current)

        left_counts = lefts.cross(left_group)
        for lid in sorted(left_counts):  # creation order, as the reference
            if lid >= self._crossed_limit:
                continue  # created after the previous sample's crossing
            count = left_counts[lid]
            full = lefts.sizes[lid] == count
            short = count <= c.max_left_semi_context_len
            left_hash = lefts.hashes[lid]
            for cid in lefts.contexts[lid]:
                if cid == skip:
                    continue
                rid = ctx_right[cid]
                shared = right_counts.get(rid, 0)
                if full:
                    selected += 1
                    if shared > 0:
                        if rights.sizes[rid] == shared:
                            activations[cid] += 1
                            active.append((activations[cid], left_hash, rights.hashes[rid], cid))
                        elif zero_level[cid] and new_context and short:
                            candidates.append(candidate(lid, rid))
                elif zero_level[cid] and new_context and shared > 0 and short:
                    candidates.append(candidate(lid, rid))
        self._new_id = None
        return active, selected, candidates

    def raw(self, value: float) -> float:
        """Learn one sample and return its raw score (before the rest-period suppression)."""
        current = self._current = self.sensor_facts(value)
        potential: set[_Pair] = set()
        new_context = False
        if self._left_group:
            pair = (self._left_group, current)
            potential.add(pair)
            new_context = self._store([pair], zero_level=True) == 1
        active, selected, candidates = self._activate(new_context)
        potential.update(candidates)
        share_active = len(active) / float(selected) if selected > 0 else 0.0
        active.sort()
        neurons = {_NEURON_BASE + a[3] for a in active[-self.config.max_active_neurons :]}
        self._left_group = tuple(sorted(set(current) | neurons))
        added = self._store(candidates, zero_level=False) if candidates else 0
        self._crossed_limit = len(self._lefts.sizes)  # crossed lazily, at the next sample
        if new_context:
            added += 1
        share_new = added / float(len(potential)) if new_context and potential else 0.0
        self.samples += 1
        return (1.0 - share_active + share_new) / 2.0

    def score(self, value: float) -> float:
        """Learn one sample; its score, 0 within ``rest_period`` of a raw score ≥ base."""
        raw = self.raw(value)
        quiet = max(self.history) >= self.config.base_threshold
        self.history.append(raw)
        return 0.0 if quiet else raw


@dataclass(slots=True)
class CadDetector:
    """Streaming CAD OSE for one series; feed samples with :meth:`update`.

    With ``max_contexts`` set, once the live memory holds more contexts a replacement starts
    learning from the next sample; after ``handover`` samples it becomes the live detector
    and the old memory is dropped, so at most two memories exist and the replacement is not
    scored cold. Hard bound: a live memory above 2 × ``max_contexts`` hands over at once, and
    a replacement above it starts over, so together they never hold more than
    4 × ``max_contexts`` contexts (plus one sample's growth). On traffic the live memory
    stays near ``max_contexts`` plus one ``handover`` of learning.
    """

    config: CadConfig
    _live: _CadCore = field(init=False)
    _next: _CadCore | None = field(init=False, default=None)
    _recent: deque[float] = field(init=False)
    _index: int = field(init=False, default=-1)
    replacements: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._live = _CadCore(self.config)
        self._recent = deque(maxlen=max(12, self.config.rest_period))

    @property
    def contexts(self) -> int:
        """Contexts held in memory (live plus replacement in training)."""
        return self._live.size + (self._next.size if self._next else 0)

    def update(self, value: float) -> tuple[float, AnomalyEvent | None]:
        """Score one sample: (score in [0, 1], event when the score reaches ``alert_level``).

        NaN samples score 0 and leave the state unchanged. Scores within ``rest_period``
        samples of a raw score ≥ ``base_threshold`` are 0 (CAD's own rest period), so one
        anomaly raises one event. The event's kind is ``spike`` or ``drop`` by the sample's
        side of the median of the recent samples (CAD itself has no direction).
        """
        self._index += 1
        if math.isnan(value):
            return 0.0, None
        c = self.config
        score = self._live.score(value)
        if self._next is not None and c.max_contexts is not None:
            self._next.score(value)
            hard = 2 * c.max_contexts
            if self._next.samples >= c.handover or self._live.size > hard:
                self._live, self._next = self._next, None
                self.replacements += 1
            elif self._next.size > hard:
                self._next = _CadCore(c)  # a replacement that overflows starts over
        elif c.max_contexts is not None and self._live.size > c.max_contexts:
            self._next = _CadCore(c)
        event = None
        if score >= c.alert_level:
            center = float(np.median(self._recent)) if self._recent else value
            spread = (c.max_value - c.min_value) or 1.0
            deviation = (value - center) / spread
            kind = AnomalyKind.SPIKE if deviation >= 0 else AnomalyKind.DROP
            event = AnomalyEvent(index=self._index, kind=kind, score=score, deviation=deviation)
        self._recent.append(value)
        return score, event


def cad_score_series(
    values: npt.ArrayLike, config: CadConfig
) -> tuple[FloatArray, list[AnomalyEvent]]:
    """Run a fresh :class:`CadDetector` over a whole series (strictly causal)."""
    x = np.asarray(values, dtype=np.float64)
    det = CadDetector(config)
    scores = np.zeros(len(x))
    events: list[AnomalyEvent] = []
    for i in range(len(x)):
        scores[i], ev = det.update(float(x[i]))
        if ev is not None:
            events.append(ev)
    return scores, events
