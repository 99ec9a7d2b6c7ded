"""The wide-area alert and stability scoring read the same DSL line bins.

A VDSL2 DSLAM has no running retrain/ES counters: the collector stores the agent's last
completed 15-minute bin as ``pm15_*`` samples, polled during the following bin. The
alerting service's wide-area feed must see those bins exactly as the KPI service's
stability scoring does (``nocd.kpi_service.read_line_bins``). Real alerting service and
rollups on SQLite and PostgreSQL, with a driven clock.
"""

from __future__ import annotations

import pytest

from kpi.dsl_line import BIN_S, line_scores
from nocd.kpi_service import read_line_bins
from nocd.storage import db, kpi_repo, rollup_repo
from tests.fixtures.alerting import LINE_BASE, StoredNetwork

pytestmark = pytest.mark.integration

LINES = 12


def vdsl2_values(t: int, retrained: set[int]) -> list[tuple[str, str, float]]:
    """Agent-bin samples only: polled in [900, 1800), the bin [0, 900) counted one init
    on each ``retrained`` line; no line reports errored seconds."""
    values: list[tuple[str, str, float]] = []
    for j in range(LINES):
        entity = f"line:{LINE_BASE + j}"
        inits = 1.0 if t >= BIN_S and LINE_BASE + j in retrained else 0.0
        values += [(entity, "pm15_inits", inits), (entity, "pm15_es", 0.0)]
    return values


@pytest.mark.parametrize(
    ("retrained_lines", "fires"),
    [
        (4, True),  # 4 / 12 = 33 % > 20 %: one network event
        (2, False),  # 2 / 12 = 17 %: line faults, scored per line
    ],
)
async def test_vdsl2_agent_bins_feed_the_wide_area_alert_like_stability_scoring(
    fresh_db_url: str, retrained_lines: int, fires: bool
) -> None:
    net = await StoredNetwork.create(fresh_db_url, dslams=1, lines=LINES)
    try:
        retrained = {LINE_BASE + j for j in range(retrained_lines)}
        for t in range(0, 1501, 60):
            net.poll(t, up=["agg-1", "dslam-1"], values={"dslam-1": vdsl2_values(t, retrained)})
            # at 1200 the buckets up to 900 are final: bin [0, 900) has no agent count yet
            # (judged, nothing flagged); at 1500 up to 1200: its agent count is in
            if t in (1200, 1500):
                with db.session_factory(net.engine)() as session:
                    rollup_repo.run_rollups(session, now=net.at(t))
                    session.commit()
            await net.cycle(t + 5)
            if t == 1200:
                wide = [
                    a for a in net.service.open_alerts.values() if a.rule == "dslam_wide_area_event"
                ]
                assert not wide, "flagged before the agent counted the bin"

        alerts = (await net.get("/api/v1/alerts?limit=1000"))["items"]
        wide = [a for a in alerts if a["rule"] == "dslam_wide_area_event"]
        assert bool(wide) is fires, wide

        # Stability scoring, from the same bins, leaves exactly that bin out (or keeps it).
        with db.session_factory(net.engine)() as session:
            lines = kpi_repo.line_inventory(session)
            bins = read_line_bins(session, lines, since=net.at(0), until=net.at(1500))
        # polled in [0, 900): the agent's bin [-900, 0); in [900, 1500): its bin [0, 900)
        assert set(bins["start"]) == {net.at(-BIN_S), net.at(0)}
        assert bins.loc[bins["start"] == net.at(0), "full_inits"].sum() == retrained_lines
        scores = line_scores(bins, now=net.at(900))
        assert (scores["excluded_bins"] == (1 if fires else 0)).all()
    finally:
        await net.close()
