"""kpi.cad's compact memory layout changes no output: full score sequences against digests
recorded with the previous (per-context Python object) implementation, commit f708eeb."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from kpi.cad import CadConfig, CadDetector
from tests.conftest import require_shared_data

# (SHA-256 of the score bytes, contexts at the end, replacements, event indices)
UK_EXPECTED = (
    "64ca640c01f20efdbb2c18801a12b1cc95e8504c6ef144d12e029ac28ce38820",
    1567,
    0,
    [657, 874],
)
NOISE_EXPECTED = ("1677f96c3d965a44953cb644796fd1137be5df37e38513fd5587e55751f23880", 454, 21, [])


def _run(values: np.ndarray, config: CadConfig) -> tuple[str, int, int, list[int]]:
    """SHA-256 of the float64 score bytes, final contexts, replacements, event indices."""
    det = CadDetector(config)
    scores = np.zeros(len(values))
    events: list[int] = []
    for i, v in enumerate(values):
        scores[i], ev = det.update(float(v))
        if ev is not None:
            events.append(ev.index)
    return hashlib.sha256(scores.tobytes()).hexdigest(), det.contexts, det.replacements, events


def test_uk_backbone_scores_are_bit_identical_to_the_recorded_run():
    """3,000 rows (10.4 days) of the UK academic backbone 5-minute series, configured as the
    service runs it: range 0 .. peak of the first week, rest 120, cap 4096."""
    path = require_shared_data("traffic", "isp_uk_academic_backbone_5min.csv")
    y = pd.read_csv(path).iloc[:3000, 1].to_numpy(np.float64)
    config = CadConfig(min_value=0.0, max_value=float(y[:2016].max()), max_contexts=4096)
    assert _run(y, config) == UK_EXPECTED


def test_noise_with_cap_and_handovers_is_bit_identical_to_the_recorded_run():
    """White noise over 8 levels with gaps: contexts pile up, the cap binds, replacements
    start, overflow and take over (every branch of CadDetector.update)."""
    z = np.random.default_rng(7).integers(0, 8, 700).astype(float)
    z[[100, 101, 350]] = np.nan
    config = CadConfig(min_value=0.0, max_value=7.0, rest_period=20, max_contexts=250, handover=60)
    assert _run(z, config) == NOISE_EXPECTED
