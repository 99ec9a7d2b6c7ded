"""Retrains between two samples of a VDSL2 line's running 15-minute init count."""

from __future__ import annotations

import pytest

from nocd.alerting_service import _BinCount, _inits_between

# (description, earlier (ts, inits, elapsed_s), after (ts, inits, elapsed_s), retrains)
CASES = [
    ("same bin: the increase", (1000, 3, 100), (1060, 7, 160), 4),
    ("same bin, no inits", (1000, 3, 100), (1060, 3, 160), 0),
    ("new bin, count restarted at 0", (1000, 5, 870), (1060, 0, 30), 0),
    ("new bin: its count, inits since it began", (1000, 5, 870), (1060, 2, 30), 2),
    ("new bin with more inits than the old one had", (1000, 1, 870), (1060, 4, 30), 4),
    ("agent restarted the bin (elapsed went back)", (1000, 2, 400), (1060, 2, 50), 2),
    ("a gap of over a bin: elapsed grew, still a new bin", (1000, 2, 100), (2000, 5, 200), 5),
    ("no elapsed time stored: the count alone decides", (1000, 2, None), (1060, 5, None), 3),
    ("no elapsed time stored, count dropped: new bin", (1000, 6, None), (1060, 1, None), 1),
    ("clock jitter: bin began at the earlier sample", (1000, 0, 1), (1061, 2, 60), 2),
]


@pytest.mark.parametrize(("description", "earlier", "after", "retrains"), CASES)
def test_inits_between_two_samples_of_the_running_bin(
    description: str,
    earlier: tuple[int, float, float | None],
    after: tuple[int, float, float | None],
    retrains: float,
) -> None:
    def count(ts: int, inits: float, elapsed_s: float | None) -> _BinCount:
        return _BinCount(ts=ts, inits=inits, elapsed_s=elapsed_s)

    assert _inits_between(count(*earlier), count(*after)) == retrains, description
