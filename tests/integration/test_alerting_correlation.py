"""Alerting against storage and the API: alert storm, silent district, flapping port.

The network lives in a real database (SQLite and PostgreSQL) written the way the collection
writes it; the alerting service, its storage and the REST API are the real ones; only the
clock is injected, so a five-minute story runs in a second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fixtures.alerting import StoredNetwork

pytestmark = pytest.mark.integration

AGG_DOWN = "device_down:device:agg-1"
DSLAMS = [f"dslam-{d}" for d in range(1, 5)]
LINES = 48


@pytest.fixture
async def storm_net(fresh_db_url: str) -> AsyncIterator[StoredNetwork]:
    net = await StoredNetwork.create(fresh_db_url, dslams=4, lines=LINES)
    yield net
    await net.close()


async def test_alert_storm_is_one_incident_with_every_child_suppressed_and_explained(
    storm_net: StoredNetwork,
) -> None:
    net = storm_net
    every_line_up = {d: net.line_values(LINES, True) for d in DSLAMS}
    net.poll(0, up=["agg-1", *DSLAMS], values=every_line_up)
    await net.cycle(5)
    # agg-1 dies at ~10 s. The DSLAMs were polled once more at 15 s and had lost their lines
    # (children seen before the parent: the poll-order race), then stop answering too.
    net.poll(15, up=DSLAMS, values={d: net.line_values(LINES, False) for d in DSLAMS})
    net.poll(16, up=["agg-1"])  # polled just before it died: still "up"
    await net.cycle(20)
    for t in range(40, 241, 30):
        net.poll(t - 5, down=["agg-1", *DSLAMS])
        await net.cycle(t)

    unsuppressed = await net.get("/api/v1/alerts?status=firing&suppressed=false")
    assert [a["key"] for a in unsuppressed["items"]] == [AGG_DOWN]
    firing = await net.get("/api/v1/alerts?status=firing&limit=1000")
    assert firing["total"] == 1 + 4 + 4 * LINES
    incidents = await net.get("/api/v1/incidents?status=firing")
    assert incidents["total"] == 1, incidents
    (incident,) = incidents["items"]
    assert incident["root_alert_key"] == AGG_DOWN
    assert incident["children"] == 4 + 4 * LINES
    # One customer per line: 4 DSLAMs x 48 lines; per line j: every 12th enterprise,
    # every other 4th business, the rest residential -> per DSLAM 4 / 8 / 36.
    assert incident["impact"] == {
        "devices": 5,
        "lines": 4 * LINES,
        "customers": 4 * LINES,
        "customers_by_sla": {"business": 32, "enterprise": 16, "residential": 144},
    }
    # Every child says why it is quiet: the topmost outage upstream.
    for alert in firing["items"]:
        if alert["key"] == AGG_DOWN:
            continue
        assert alert["suppressed_by"] == AGG_DOWN, alert
        explanation = await net.get(f"/api/v1/alerts/{alert['id']}/explain")
        assert explanation["live"] is True
        assert explanation["suppression"] == "parent_down"
        assert explanation["root_alert_key"] == AGG_DOWN
        assert "device:agg-1" in explanation["upstream"]
        assert "topmost upstream outage" in explanation["reason"]
    root = next(a for a in firing["items"] if a["key"] == AGG_DOWN)
    root_why = await net.get(f"/api/v1/alerts/{root['id']}/explain")
    assert root_why["suppressed"] is False
    assert f"root of incident:{AGG_DOWN}" in root_why["reason"]
    assert root_why["values"] == {"state": "down"}
    # The pager heard of one thing only.
    assert net.notifier.firing_keys() == {AGG_DOWN}

    # It comes back: everything resolves, the incident too, and the recovery is announced.
    net.poll(250, up=["agg-1", *DSLAMS], values=every_line_up)
    await net.cycle(255)
    await net.cycle(285)
    assert (await net.get("/api/v1/alerts?status=firing"))["total"] == 0
    assert (await net.get("/api/v1/incidents?status=firing"))["total"] == 0
    resolved = await net.get("/api/v1/incidents?status=resolved")
    assert [i["root_alert_key"] for i in resolved["items"]] == [AGG_DOWN]
    assert net.notifier.resolved_keys() == {AGG_DOWN}
    detail = await net.get(f"/api/v1/alerts/{root['id']}")
    assert detail["history"][0]["event"] == "fired"
    assert detail["history"][-1]["event"] in ("resolved", "notified")
    assert detail["status"] == "resolved"


async def test_silent_district_raises_one_alert_and_no_device_alarms(fresh_db_url: str) -> None:
    net = await StoredNetwork.create(
        fresh_db_url,
        dslams=4,
        lines=2,
        extra=[{"name": "sw-9", "district": "d2", "kind": "access_switch"}],
        alerting={"district_silent_after_s": 120},
    )
    try:
        d1 = ["agg-1", *DSLAMS]
        net.poll(0, up=[*d1, "sw-9"])
        await net.cycle(5)
        # A real outage first: dslam-1 stops answering, its alert fires and is announced.
        for t in range(30, 121, 30):
            net.poll(t - 5, up=[d for d in d1 if d != "dslam-1"] + ["sw-9"], down=["dslam-1"])
            await net.cycle(t)
        assert net.notifier.firing_keys() == {"device_down:device:dslam-1"}
        # Then d1's collector goes silent (nothing stored from d1 after 115 s); d2 carries on.
        for t in range(150, 421, 30):
            net.poll(t - 5, up=["sw-9"])
            await net.cycle(t)
        unsuppressed = await net.get("/api/v1/alerts?status=firing&suppressed=false")
        assert [a["key"] for a in unsuppressed["items"]] == ["district_silent:district:d1"]
        device_alarms = await net.get("/api/v1/alerts?rule=device_down")
        # Only the one that fired before the silence; it is held, not resolved or repeated.
        assert [(a["key"], a["status"], a["suppression"]) for a in device_alarms["items"]] == [
            ("device_down:device:dslam-1", "firing", "collector_silent")
        ]
        assert net.notifier.firing_keys() == {
            "device_down:device:dslam-1",
            "district_silent:district:d1",
        }
        # The collector is back and so is dslam-1: both resolve.
        net.poll(425, up=[*d1, "sw-9"])
        await net.cycle(430)
        await net.cycle(460)
        assert (await net.get("/api/v1/alerts?status=firing"))["total"] == 0
    finally:
        await net.close()


async def test_flapping_uplink_port_is_one_flapping_alert(fresh_db_url: str) -> None:
    net = await StoredNetwork.create(
        fresh_db_url,
        dslams=1,
        lines=1,
        extra=[{"name": "sw-1", "district": "d1", "kind": "access_switch", "parent": "agg-1"}],
        uplink_ports=[("sw-1", 25)],
    )
    try:
        devices = ["agg-1", "dslam-1", "sw-1"]
        state = 1.0
        for cycle in range(12):  # 6 minutes, the port changes state every 10 s
            base = cycle * 30
            for step in (0, 10, 20):
                net.poll(base + step, up=devices,
                         values={"sw-1": [("if:25", "oper_up", state)]})
                state = 1.0 - state
            await net.cycle(base + 25)
        firing = await net.get("/api/v1/alerts?status=firing")
        keys = {a["key"]: a for a in firing["items"]}
        assert "flapping:port:sw-1/if:25" in keys
        unsuppressed = [k for k, a in keys.items() if not a["suppressed"]]
        assert unsuppressed == ["flapping:port:sw-1/if:25"]
        for key, alert in keys.items():
            if key != "flapping:port:sw-1/if:25":
                assert alert["suppression"] == "flapping", alert
        assert net.notifier.firing_keys() == {"flapping:port:sw-1/if:25"}
        # It settles (up for 20 minutes): the flapping alert resolves, nothing else fires.
        for t in range(400, 1600, 60):
            net.poll(t, up=devices, values={"sw-1": [("if:25", "oper_up", 1.0)]})
            await net.cycle(t + 5)
        assert (await net.get("/api/v1/alerts?status=firing"))["total"] == 0
        assert net.notifier.firing_keys() == {"flapping:port:sw-1/if:25"}
    finally:
        await net.close()


async def test_maintenance_window_mutes_notifications_but_alerts_still_fire_and_resolve(
    fresh_db_url: str,
) -> None:
    from nocd.storage import maintenance_repo
    from nocd.storage.maintenance_repo import MaintenanceRecord

    net = await StoredNetwork.create(fresh_db_url, dslams=2, lines=2)
    try:
        with net.app.state.session_factory() as session:
            window = maintenance_repo.create_window(
                session,
                MaintenanceRecord(district=None, device="dslam-1", starts_at=net.at(0),
                                  ends_at=net.at(600), reason="line card swap"),
            )
            session.commit()
        everyone = ["agg-1", *DSLAMS[:2]]
        net.poll(0, up=everyone)
        await net.cycle(5)
        for t in range(30, 181, 30):
            net.poll(t - 5, up=["agg-1", "dslam-2"], down=["dslam-1"])
            await net.cycle(t)
        firing = (await net.get("/api/v1/alerts?status=firing"))["items"]
        assert [a["key"] for a in firing] == ["device_down:device:dslam-1"]
        assert firing[0]["notified"] is False
        why = await net.get(f"/api/v1/alerts/{firing[0]['id']}/explain")
        assert why["maintenance"] == [f"maintenance-{window.id}"]
        assert net.notifier.firing_keys() == set()
        net.poll(200, up=everyone)
        await net.cycle(205)
        assert (await net.get("/api/v1/alerts?status=firing"))["total"] == 0
        assert net.notifier.resolved_keys() == set()  # never announced, so no recovery either
    finally:
        await net.close()
