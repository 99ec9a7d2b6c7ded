"""CAD OSE (kpi.cad) on small series whose answers can be worked out by hand, and against
NAB's published contextOSE result file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kpi.anomaly import AnomalyKind
from kpi.cad import (
    CadConfig,
    CadDetector,
    _CadCore,
    _py2_tuple_hash,
    _Py2KeyOrder,
    cad_score_series,
    nab_rest_period,
)
from tests.conftest import require_shared_data


def test_config_rejects_bad_ranges_and_periods():
    with pytest.raises(ValueError, match="below min_value"):
        CadConfig(min_value=5.0, max_value=1.0)
    with pytest.raises(ValueError, match="finite"):
        CadConfig(min_value=0.0, max_value=float("inf"))
    with pytest.raises(ValueError, match="rest_period"):
        CadConfig(min_value=0.0, max_value=1.0, rest_period=0)
    with pytest.raises(ValueError, match="max_contexts"):
        CadConfig(min_value=0.0, max_value=1.0, max_contexts=0)


def test_nab_rest_period_is_a_fifth_of_the_probation():
    """4032 rows: probation ⌊604.8⌋ = 604 rows, rest ⌊604 / 5⌋ = 120 (10 h of 5-minute data)."""
    assert nab_rest_period(4032) == 120
    assert nab_rest_period(1538) == 46  # ⌊230.7⌋ = 230 → 46
    assert nab_rest_period(10) == 1  # never 0 (0 would mean "the whole history")


def test_values_are_quantised_to_three_bits_and_clamped():
    """Range 0..7, step 1: level = ⌊v⌋; fact = 2·bit position + bit value."""
    core = _CadCore(CadConfig(min_value=0.0, max_value=7.0))
    assert core.sensor_facts(0.0) == (0, 2, 4)  # 000
    assert core.sensor_facts(5.9) == (1, 2, 5)  # level 5 = 101
    assert core.sensor_facts(7.0) == (1, 3, 5)  # 111
    assert core.sensor_facts(1e9) == (1, 3, 5)  # clamped to the top level
    assert core.sensor_facts(-3.0) == (0, 2, 4)  # clamped to the bottom level
    flat = _CadCore(CadConfig(min_value=2.0, max_value=2.0))  # empty range: step 1
    assert flat.sensor_facts(2.0) == (0, 2, 4)


def test_python2_tuple_hash_matches_cpython_2_7():
    """Known 64-bit CPython 2.7 values: hash(()) and hash((1, 2))."""
    assert _py2_tuple_hash(()) == 3527539
    assert _py2_tuple_hash((1, 2)) == 3713081631934410656


def test_python2_dict_order_probes_and_resizes():
    """Keys 10, 2, 3 in an 8-slot table: 10 → slot 2, 2 collides → slot (2·5 + 2 + 1) & 7 = 5,
    3 → slot 3: order 10, 3, 2. Keys 9, 0, 1, 2, 3, 4: 1 collides with 9 and goes to slot 7;
    the sixth key triggers a resize to 32 slots, where every key sits in its own slot."""
    order = _Py2KeyOrder()
    for k in (10, 2, 3):
        order.add(k)
    assert order.ordered() == [10, 3, 2]
    order = _Py2KeyOrder()
    for k in (9, 0, 1, 2, 3, 4):
        order.add(k)
    assert order.ordered() == [0, 1, 2, 3, 4, 9]


def test_constant_series_scores_one_half_after_the_rest_period():
    """Raw scores by hand: sample 0 has no left context (0.5); sample 1 stores its first
    context, new out of one candidate (1 + 1) / 2 = 1.0; from then on the one stored context
    is context 0, which the reference skips when nothing new was stored, so nothing is
    selected and nothing is new: 0.5. With rest 3 the history [1.0, .5, 1.0, .5, .5] keeps
    the score at 0 until sample 5."""
    scores, events = cad_score_series(
        np.full(10, 3.0), CadConfig(min_value=0.0, max_value=7.0, rest_period=3)
    )
    np.testing.assert_array_equal(scores, [0, 0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert events == []


def test_learned_cycle_stays_quiet_and_a_drop_raises_one_event_at_once():
    """A 4-sample cycle over levels 3, 5, 6, 5 is learned; a drop to level 0 (never seen
    after that context) is one event at the first dropped sample, none before, and the rest
    period keeps the lasting new level from raising another."""
    cycle = np.tile([3.0, 5.0, 6.0, 5.0], 150)
    y = np.concatenate([cycle, np.zeros(100)])
    config = CadConfig(min_value=0.0, max_value=7.0, rest_period=12)
    scores, events = cad_score_series(y, config)
    assert scores[100 : len(cycle)].max() < config.alert_level
    assert [e.index for e in events] == [len(cycle)]
    assert events[0].kind is AnomalyKind.DROP
    assert events[0].score >= config.alert_level


def test_spike_is_classified_as_spike():
    cycle = np.tile([1.0, 2.0], 200)
    y = np.concatenate([cycle, [7.0], cycle[:50]])
    _, events = cad_score_series(y, CadConfig(min_value=0.0, max_value=7.0, rest_period=12))
    assert [e.index for e in events] == [len(cycle)]
    assert events[0].kind is AnomalyKind.SPIKE


def test_nan_samples_score_zero_and_leave_the_state_unchanged():
    config = CadConfig(min_value=0.0, max_value=7.0, rest_period=5)
    y = np.tile([1.0, 4.0, 6.0], 40)
    with_gaps = np.insert(y, [30, 61], np.nan)
    plain, _ = cad_score_series(y, config)
    gapped, _ = cad_score_series(with_gaps, config)
    assert gapped[30] == 0.0 and gapped[62] == 0.0
    np.testing.assert_array_equal(np.delete(gapped, [30, 62]), plain)


def test_context_cap_bounds_memory_and_changes_nothing_before_it_binds():
    """White noise over 8 levels keeps creating contexts; with a cap of 300 the two memories
    together never exceed 4 × 300 (plus one sample's growth), the replacement takes over
    repeatedly, and until the cap first binds the scores equal the uncapped run."""
    z = np.random.default_rng(1).integers(0, 8, 400).astype(float)
    capped = CadDetector(CadConfig(min_value=0.0, max_value=7.0, max_contexts=300, handover=50))
    free = CadDetector(CadConfig(min_value=0.0, max_value=7.0))
    peak, first_bind = 0, None
    for i, v in enumerate(z):
        a, _ = capped.update(float(v))
        b, _ = free.update(float(v))
        peak = max(peak, capped.contexts)
        if first_bind is None and capped.contexts > 300:
            first_bind = i
        if first_bind is None:
            assert a == b
    assert first_bind is not None and capped.replacements >= 1
    assert peak <= 4 * 300 + 100
    assert free.contexts > 4 * 300


def test_reproduces_nab_published_contextose_scores():
    """Row scores of NAB's published results/contextOSE/realAdExchange/
    contextOSE_exchange-3_cpm_results.csv (numenta/NAB), with NAB's wrapper conventions:
    range = the file's min..max, rest = ⌊0.15 · 1538⌋ / 5 = 46 rows."""
    path = require_shared_data("nab", "data", "realAdExchange", "exchange-3_cpm_results.csv")
    frame = pd.read_csv(path)
    values = frame["value"].to_numpy(np.float64)
    config = CadConfig(
        min_value=float(values.min()),
        max_value=float(values.max()),
        rest_period=nab_rest_period(len(values)),
    )
    scores, _ = cad_score_series(values, config)
    got = dict(zip(frame["timestamp"], scores, strict=True))
    published = {
        "2011-07-05 11:15:01": 0.0,
        "2011-07-05 12:15:01": 0.195402298851,
        "2011-07-05 13:15:01": 0.160256410256,
        "2011-07-05 14:15:01": 0.135135135135,
        "2011-07-05 15:15:01": 0.137931034483,
        "2011-07-07 12:15:01": 0.195402298851,
        "2011-07-07 13:15:01": 0.211538461538,
        "2011-07-07 14:15:01": 0.325367647059,
        "2011-07-08 16:15:01": 0.686991869919,
        "2011-08-16 10:15:01": 0.152,
        "2011-08-19 18:15:01": 1.0,
        "2011-08-19 19:15:01": 0.0,
        "2011-08-21 18:15:01": 0.0,
        "2011-08-21 19:15:01": 0.181818181818,
        "2011-09-03 12:15:01": 0.691429801895,
        "2011-09-07 14:15:01": 0.355952380952,
    }
    for ts, want in published.items():
        assert got[ts] == pytest.approx(want, abs=1e-11), ts
