"""A district silence does not split an incident (reliability.md finding 2).

Central marks the district silent (``DistrictWatch``), its devices become ``unknown``; the
incident that was firing stays open as it was, and when the district's backlog arrives
(``district_repo.apply_batch``) the same incident goes on: one fault, one incident.
Real storage (SQLite and PostgreSQL), real alerting service; only the clock is injected.
"""

from __future__ import annotations

import pytest

from nocd.districts import DistrictWatch
from nocd.storage import db, district_repo
from nocd.storage.poll_repo import PollRecord
from tests.fixtures.alerting import StoredNetwork

pytestmark = pytest.mark.integration

DOWN = "device_down:device:dslam-1"
INCIDENT = f"incident:{DOWN}"
D1 = ["agg-1", "dslam-1", "dslam-2"]


async def test_incident_firing_through_a_district_silence_is_one_incident(
    fresh_db_url: str,
) -> None:
    net = await StoredNetwork.create(
        fresh_db_url,
        dslams=2,
        lines=2,
        extra=[{"name": "sw-9", "district": "d2", "kind": "access_switch"}],
        alerting={"district_silent_after_s": 120},
    )
    sessions = db.session_factory(net.engine)
    try:
        net.poll(0, up=[*D1, "sw-9"])
        await net.cycle(5)
        for t in range(30, 121, 30):  # dslam-1 is down: one incident opens
            net.poll(t - 5, up=["agg-1", "dslam-2", "sw-9"], down=["dslam-1"])
            await net.cycle(t)
        (before,) = (await net.get("/api/v1/incidents?status=firing"))["items"]
        assert before["root_alert_key"] == DOWN

        # Central hears nothing from d1 and marks it silent: its devices become unknown.
        with sessions() as session:  # d2 sends (an empty batch): it is not silent
            district_repo.apply_batch(session, district="d2", epoch="e2", items=[], now=net.at(149))
            session.commit()
        watch = DistrictWatch(
            sessions=sessions,
            silent_after_s=60,
            started_at=net.at(0),
            wall_clock=lambda: net.at(150),
        )
        assert [s.district for s in await watch.check()] == ["d1"]
        for t in range(150, 421, 30):
            net.poll(t - 5, up=["sw-9"])
            await net.cycle(t)
            firing = (await net.get("/api/v1/incidents?status=firing"))["items"]
            roots = sorted(i["root_alert_key"] for i in firing)
            assert roots == [DOWN, "district_silent:district:d1"], f"at {t} s: {roots}"
        assert (await net.get("/api/v1/incidents?status=resolved"))["total"] == 0

        # The backlog arrives: dslam-1 was down all along. The incident goes on, unsplit.
        backlog = [
            (i + 1, PollRecord(device=d, at=net.at(t), outcome=outcome, reason=reason))
            for i, (t, d, outcome, reason) in enumerate(
                (t, d, "timeout" if d == "dslam-1" else "ok", "timed out" if d == "dslam-1" else "")
                for t in range(145, 426, 30)
                for d in D1
            )
        ]
        with sessions() as session:
            result = district_repo.apply_batch(
                session, district="d1", epoch="e1", items=backlog, now=net.at(426)
            )
            session.commit()
        assert result.came_back
        for t in (430, 460):
            net.poll(t - 5, up=["agg-1", "dslam-2", "sw-9"], down=["dslam-1"])
            await net.cycle(t)
        every = (await net.get("/api/v1/incidents?limit=100"))["items"]
        mine = [i for i in every if i["root_alert_key"] == DOWN]
        assert len(mine) == 1, f"one fault, one incident: {mine}"
        assert mine[0]["status"] == "firing"
        assert mine[0]["started_at"] == before["started_at"]
        assert mine[0]["id"] == before["id"]

        # dslam-1 recovers: the one incident resolves once.
        net.poll(485, up=[*D1, "sw-9"])
        await net.cycle(490)
        await net.cycle(520)
        mine = [
            i
            for i in (await net.get("/api/v1/incidents?limit=100"))["items"]
            if i["root_alert_key"] == DOWN
        ]
        assert [(i["id"], i["status"]) for i in mine] == [(before["id"], "resolved")]
    finally:
        await net.close()
