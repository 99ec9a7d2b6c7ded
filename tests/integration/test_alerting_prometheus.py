"""Prometheus ↔ Alertmanager ↔ nocd with the real servers and the configs from ``deploy/``.

- promtool/amtool accept deploy/ and the rule unit tests pass;
- a Prometheus rule on a nocd metric fires → Alertmanager → nocd's webhook → incident stored,
  and resolves the same way;
- the webhook needs the ``integration`` role and drops nocd's own alerts (the loop guard).

Every wait polls with a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn

from nocd.metrics import PollMetrics
from nocd.storage import db
from nocd.storage.tokens import TokenRole, create_token
from tests.conftest import REPO, require_service
from tests.fixtures.alerting import StoredNetwork
from tests.fixtures.prom import PromStack, free_port

pytestmark = pytest.mark.integration

DEADLINE_S = 45.0
PROM_DIR = REPO / "deploy" / "prometheus"


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_promtool_checks_the_rules_and_config_and_runs_the_rule_unit_tests() -> None:
    require_service(shutil.which("promtool") is not None, "promtool (prometheus)")
    rules = sorted(str(p) for p in (PROM_DIR / "rules").glob("*.yml"))
    tests = sorted(str(p) for p in (PROM_DIR / "tests").glob("*.yml"))
    assert rules and tests
    for argv in (
        ["promtool", "check", "rules", *rules],
        ["promtool", "check", "config", str(PROM_DIR / "prometheus.yml")],
        ["promtool", "test", "rules", *tests],
    ):
        result = _run(*argv)
        assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}\n{result.stderr}"
    amtool = shutil.which("amtool")
    if amtool is not None:  # ships with prometheus-alertmanager on Debian
        config = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
        result = _run(amtool, "check-config", str(config))
        assert result.returncode == 0, result.stdout + result.stderr


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await check():
        assert time.monotonic() < deadline, f"timed out after {DEADLINE_S} s waiting for {what}"
        await asyncio.sleep(0.2)  # re-check interval of this wait loop, not a sync point


class Served:
    """nocd's app served by uvicorn in this event loop (the webhook then runs cycles here)."""

    def __init__(self, net: StoredNetwork, port: int, integration_token: str) -> None:
        self.net = net
        self.port = port
        self.integration_token = integration_token

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    url = f"sqlite:///{tmp_path / 'nocd.db'}"
    db.upgrade(url)
    net = await StoredNetwork.create(url, dslams=2, lines=4)
    net.service.clock = lambda: datetime.now(UTC)  # real time: Prometheus and AM use it
    with db.session_factory(net.engine)() as session:
        token = create_token(session, "alertmanager", TokenRole.INTEGRATION)
        session.commit()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(net.app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient() as client:

            async def up() -> bool:
                try:
                    return (await client.get(f"http://127.0.0.1:{port}/healthz")).is_success
                except httpx.HTTPError:
                    return False

            await until(up, "nocd HTTP")
        yield Served(net, port, token)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        await net.close()


async def test_prometheus_rule_on_a_nocd_metric_becomes_a_nocd_incident_and_resolves(
    served: Served, prom_stack: PromStack
) -> None:
    net = served.net
    am = prom_stack.alertmanager(
        webhook_url=f"{served.url}/api/v1/alertmanager/webhook", token=served.integration_token
    )
    prom_stack.prometheus(nocd=f"127.0.0.1:{served.port}", alertmanager=am)
    # What the collection sets when a device's verdict is down.
    metrics = PollMetrics(net.app.state.registry)
    metrics.up.labels("d1", "dslam-2").set(0)
    metrics.up.labels("d1", "dslam-1").set(1)

    async def incident_open() -> bool:
        page = await net.get("/api/v1/incidents?status=firing")
        return page["total"] >= 1

    await until(incident_open, "NocdDeviceDown as a nocd incident")
    incidents = (await net.get("/api/v1/incidents?status=firing"))["items"]
    assert len(incidents) == 1, incidents
    (incident,) = incidents
    assert incident["root_alert_key"].startswith("alertmanager:NocdDeviceDown:")
    alerts = (await net.get("/api/v1/alerts?status=firing"))["items"]
    (alert,) = alerts
    assert alert["source"] == "alertmanager"
    assert alert["entity"] == "device:dslam-2"
    assert alert["device"] == "dslam-2"
    assert alert["severity"] == "major"
    assert alert["labels"]["alertname"] == "NocdDeviceDown"
    # Received alerts are never pushed back (they came from Alertmanager).
    assert alert["key"] not in net.notifier.firing_keys()

    metrics.up.labels("d1", "dslam-2").set(1)

    async def incident_resolved() -> bool:
        page = await net.get("/api/v1/incidents?status=firing")
        return page["total"] == 0

    await until(incident_resolved, "the resolved notification to resolve the incident")
    assert (await net.get("/api/v1/alerts?status=resolved"))["items"][0]["key"] == alert["key"]


WEBHOOK_BODY = {
    "version": "4",
    "groupKey": "{}:{alertname=\"X\"}",
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "nocd",
    "groupLabels": {},
    "commonLabels": {},
    "commonAnnotations": {},
    "externalURL": "http://am",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "CustomerComplaintsHigh", "district": "d1",
                       "severity": "warning"},
            "annotations": {"summary": "complaints up"},
            "startsAt": "2025-03-01T08:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom/graph",
            "fingerprint": "aaaa000011112222",
        },
        {
            "status": "firing",
            "labels": {"alertname": "device_down", "origin": "nocd", "device": "dslam-1",
                       "severity": "critical"},
            "annotations": {},
            "startsAt": "2025-03-01T08:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "",
            "fingerprint": "bbbb000011112222",
        },
    ],
}


async def test_webhook_needs_the_integration_role_and_drops_nocds_own_alerts(
    fresh_db_url: str,
) -> None:
    net = await StoredNetwork.create(fresh_db_url, dslams=1, lines=1)
    try:
        with db.session_factory(net.engine)() as session:
            tokens = {role: create_token(session, f"wh-{role.value}", role) for role in TokenRole}
            session.commit()
        path = "/api/v1/alertmanager/webhook"
        anonymous = await net.client.post(path, json=WEBHOOK_BODY, headers={"Authorization": ""})
        assert anonymous.status_code == 401
        for role in (TokenRole.VIEWER, TokenRole.OPERATOR, TokenRole.DISTRICT):
            denied = await net.client.post(
                path, json=WEBHOOK_BODY, headers={"Authorization": f"Bearer {tokens[role]}"}
            )
            assert denied.status_code == 403, (role, denied.text)
        ok = await net.client.post(
            path,
            json=WEBHOOK_BODY,
            headers={"Authorization": f"Bearer {tokens[TokenRole.INTEGRATION]}"},
        )
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"stored": 1, "loop_dropped": 1}
        wrong_version = await net.client.post(
            path,
            json={**WEBHOOK_BODY, "version": "3"},
            headers={"Authorization": f"Bearer {tokens[TokenRole.INTEGRATION]}"},
        )
        assert wrong_version.status_code == 422
        await net.cycle(60)
        firing = (await net.get("/api/v1/alerts?status=firing"))["items"]
        assert [(a["rule"], a["entity"], a["source"]) for a in firing] == [
            ("CustomerComplaintsHigh", "district:d1", "alertmanager")
        ]
        assert (await net.get("/api/v1/incidents?status=firing"))["total"] == 1
    finally:
        await net.close()
