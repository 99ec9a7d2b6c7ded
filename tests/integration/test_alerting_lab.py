"""End to end: lab DSLAM unreachable → nocd alert → Alertmanager → resolved when it returns.

Real snmpsim agents, the real collection and alerting service on SQLite, a real
Alertmanager configured from deploy/. Every wait polls with a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from alerting.notify.alertmanager import AlertmanagerNotifier
from collectors.lab import Fault, LabNetwork
from nocd.alerting_config import AlertingSettings
from nocd.alerting_service import AlertingService
from nocd.collection import Collection
from nocd.config import PollConfig, Settings, StorageSettings
from nocd.inventory import import_documents, read_inventory
from nocd.metrics import AlertingMetrics, PollMetrics
from nocd.storage import alert_repo, db, poll_repo
from tests.fixtures.prom import PromStack

pytestmark = [pytest.mark.integration, pytest.mark.snmp, pytest.mark.asyncio(loop_scope="module")]

DEADLINE_S = 45.0
DSLAM = "d01-agg01-dslam-02"
KEY = f"device_down:device:{DSLAM}"


async def until(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {DEADLINE_S} s waiting for {what}"
        await asyncio.sleep(0.25)  # re-check interval of this wait loop, not a sync point


async def test_unreachable_dslam_reaches_alertmanager_and_resolves_there(
    lab: LabNetwork, prom_stack: PromStack, tmp_path: Path
) -> None:
    am = prom_stack.alertmanager(
        webhook_url="http://127.0.0.1:9/api/v1/alertmanager/webhook", token="unused"
    )
    url = f"sqlite:///{tmp_path / 'nocd.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    sessions = db.session_factory(engine)
    with sessions() as session:
        import_documents(session, [read_inventory(lab.inventory_path)])
        session.commit()
    settings = Settings(
        storage=StorageSettings(url=url),
        poll=PollConfig(interfaces_s=1, dsl_lines_s=2, down_after_s=1.0, timeout_s=0.5,
                        retries=0, deadline_s=3.0, backoff_max_s=1.0),
        # The built-in device_down waits 1 min / 4 min; the same rule without grace here.
        alerting=AlertingSettings.model_validate({
            "interval_s": 0.5,
            "alertmanager_urls": [am.url],
            "rules": [{"name": "device_down", "entity": "device", "expr": "state == down",
                       "for": "0s", "severity": "critical", "impact": "subtree"}],
        }),
    )
    registry = CollectorRegistry()
    metrics = AlertingMetrics(registry)
    notifier = AlertmanagerNotifier(
        settings.alerting.push_urls(), expires_after=timedelta(minutes=1), record=metrics.pushed
    )
    service = AlertingService(settings=settings, sessions=sessions, notifiers=[notifier])
    collection = Collection(settings=settings, sessions=sessions, metrics=PollMetrics(registry))

    async def alerting_loop() -> None:
        while True:  # what the scheduler job does every interval_s
            await service.run_cycle()
            await asyncio.sleep(settings.alerting.interval_s)

    tasks = [asyncio.create_task(collection.run()), asyncio.create_task(alerting_loop())]

    def am_alerts() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = am.get("/api/v2/alerts", filter='alertname="device_down"')
        return found

    try:
        def all_up() -> bool:
            with sessions() as session:
                states = {s.device: s.state for s in poll_repo.device_statuses(session)}
            return len(states) == len(lab.devices) and set(states.values()) == {"up"}

        await until(all_up, "every lab device up")
        lab.set_fault(DSLAM, Fault.UNREACHABLE)
        found = await until(am_alerts, "nocd's device_down alert in Alertmanager")
        (alert,) = found
        labels = alert["labels"]
        assert labels["alertname"] == "device_down"
        assert labels["device"] == DSLAM
        assert labels["district"] == "d01"
        assert labels["severity"] == "critical"
        assert labels["incident"] == f"incident:{KEY}"
        assert labels["origin"] == "nocd"
        assert alert["status"]["state"] == "active"
        assert alert["annotations"]["nocd_alert_key"] == KEY
        with sessions() as session:
            stored = alert_repo.get_alert_by_key(session, KEY)
        assert stored is not None and stored.alert.firing and stored.alert.notified

        lab.clear_fault(DSLAM)
        await until(lambda: not am_alerts(), "the resolution to reach Alertmanager")

        def resolved() -> bool:
            with sessions() as session:
                record = alert_repo.get_alert_by_key(session, KEY)
            return record is not None and not record.alert.firing

        await until(resolved, "the alert resolved in storage")
        assert registry.get_sample_value(
            "nocd_alertmanager_pushes_total", {"alertmanager": am.url, "result": "failed"}
        ) in (None, 0.0)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        lab.clear_fault(DSLAM)
        await notifier.aclose()
        engine.dispose()
