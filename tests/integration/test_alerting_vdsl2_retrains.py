"""Retrains of VDSL2 lines from the running 15-minute bin, into the retrain-storm and flapping.

A VDSL2 line has no running init counter (``inits_total``); the collector stores the
agent's count of full inits in the running bin (``xdsl2PMLInitCurr15MFullInits``) as
``curr15_inits`` with the seconds elapsed in the bin as ``curr15_elapsed_s``. The count
restarts at every quarter hour. Real alerting service on SQLite and PostgreSQL, driven clock;
polls at 30 s past each minute, so the bin [900, 1800) is first seen at 930 (elapsed 30).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kpi.dsl_line import BIN_S
from tests.fixtures.alerting import LINE_BASE, StoredNetwork

pytestmark = pytest.mark.integration

LINES = 12
POLLS = range(30, 1291, 60)
STORM_KEY = "dslam_retrain_storm:device:dslam-1"


def bin_samples(t: int, count: Callable[[int, int, int], int]) -> list[tuple[str, str, float]]:
    """Every line's ``curr15_*`` samples at ``t``; ``count(j, bin_start, t)`` is line j's
    inits in the running bin so far."""
    start = t // BIN_S * BIN_S
    values: list[tuple[str, str, float]] = []
    for j in range(LINES):
        entity = f"line:{LINE_BASE + j}"
        values += [
            (entity, "curr15_inits", float(count(j, start, t))),
            (entity, "curr15_elapsed_s", float(t - start)),
        ]
    return values


def retrains_at(times: range, start: int, t: int) -> int:
    """Retrains at ``times`` that fall in the bin beginning at ``start``, up to ``t``."""
    return sum(1 for r in times if start <= r <= t)


def early_inits(j: int, start: int) -> int:
    """A calm line's count: 1-3 inits in the first seconds of the bin [0, 900), before the first
    poll (so already in the first sample), none in the next bin."""
    return j % 3 + 1 if start == 0 else 0


async def test_retrain_storm_on_vdsl2_lines_fires_and_holds_across_the_bin_rollover(
    fresh_db_url: str,
) -> None:
    """Lines 1000-1003 retrain every 20 s in [300, 1110): 3 per poll, 4 / 12 = 33 % of the
    lines (> 20 %): the storm fires with the first poll after 300 and stays one alert through
    the rollover at 900 (at 930 the new bin's count, 2, is the retrains since 870); the storm
    lines flap. The other lines' counts only restart: no retrains. Flat again → resolved."""
    storm = range(300, 1110, 20)

    def count(j: int, start: int, t: int) -> int:
        return retrains_at(storm, start, t) if j < 4 else early_inits(j, start)

    net = await StoredNetwork.create(fresh_db_url, dslams=1, lines=LINES)
    try:
        firing: dict[int, bool] = {}
        for t in POLLS:
            net.poll(t, up=["agg-1", "dslam-1"], values={"dslam-1": bin_samples(t, count)})
            await net.cycle(t + 5)
            firing[t] = STORM_KEY in net.service.open_alerts
            if t == 330:
                assert net.service.open_alerts[STORM_KEY].values == {
                    "dslam_retrained_lines_ratio": pytest.approx(4 / LINES)
                }
        assert firing == {t: 330 <= t <= 1110 for t in POLLS}, "storm while the lines retrain"
        alerts = (await net.get("/api/v1/alerts?limit=1000"))["items"]
        storms = [a for a in alerts if a["rule"] == "dslam_retrain_storm"]
        assert [(a["key"], a["status"]) for a in storms] == [(STORM_KEY, "resolved")]
        flapping = {a["key"] for a in alerts if a["rule"] == "flapping"}
        assert flapping == {f"flapping:line:dslam-1/line:{LINE_BASE + j}" for j in range(4)}
    finally:
        await net.close()


async def test_bin_rollover_does_not_invent_a_storm(fresh_db_url: str) -> None:
    """Ten calm lines hold 1-3 early inits through the bin [0, 900) and restart at 0: no
    retrains (the count since the bin began is not the count since the last poll, and a
    restart is not a negative retrain). Lines 1000 and 1001 retrain once a minute: 2 / 12 =
    17 %, below the storm's 20 %, and they alone flap, so the feed is not silent."""
    minutely = range(0, 1291, 60)

    def count(j: int, start: int, t: int) -> int:
        return retrains_at(minutely, start, t) if j < 2 else early_inits(j, start)

    net = await StoredNetwork.create(fresh_db_url, dslams=1, lines=LINES)
    try:
        for t in POLLS:
            net.poll(t, up=["agg-1", "dslam-1"], values={"dslam-1": bin_samples(t, count)})
            await net.cycle(t + 5)
            assert STORM_KEY not in net.service.open_alerts, f"a storm at {t}"
        alerts = (await net.get("/api/v1/alerts?limit=1000"))["items"]
        assert not [a for a in alerts if a["rule"] == "dslam_retrain_storm"]
        flapping = {a["key"] for a in alerts if a["rule"] == "flapping"}
        assert flapping == {f"flapping:line:dslam-1/line:{LINE_BASE + j}" for j in range(2)}
    finally:
        await net.close()
