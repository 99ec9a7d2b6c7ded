"""The Alertmanager notifier when Alertmanager is away: logged once, retried, never raised."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerting.model import AlertStatus
from alerting.notify.alertmanager import AlertmanagerNotifier, postable_alert
from alerting.rules import DEFAULT_RULES, EvaluationState, evaluate
from tests.fixtures.prom import PromStack, free_port
from tests.unit.alerting.network import DOWN, at, build_network, observe

pytestmark = pytest.mark.integration


def _alerts():
    net = build_network(dslams=1, lines_per_dslam=1)
    obs = [observe(net.dslams[0], at(0), DOWN)]
    state, _ = evaluate(DEFAULT_RULES, obs, EvaluationState(), at(0))
    state, _ = evaluate(DEFAULT_RULES, obs, state, at(300))
    (alert,) = state.firing()
    return replace(alert, labels={**alert.labels, "device": "dslam-1"})


async def test_unreachable_alertmanager_is_logged_once_and_resolutions_wait_for_it(
    caplog: pytest.LogCaptureFixture, prom_stack: PromStack
) -> None:
    now = datetime.now(UTC)
    alert = replace(_alerts(), started_at=now - timedelta(minutes=1))
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    am = prom_stack.alertmanager(webhook_url="http://127.0.0.1:9/x", token="unused")
    results: list[tuple[str, bool]] = []
    notifier = AlertmanagerNotifier(
        [dead, am.url], expires_after=timedelta(minutes=5), timeout_s=1.0,
        record=lambda url, ok, _n: results.append((url, ok)),
    )
    try:
        with caplog.at_level(logging.ERROR, logger="alerting.notify.alertmanager"):
            for _ in range(3):
                await notifier.send([alert], now=now)
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1, errors  # once per outage, not once per cycle
        assert notifier.down() == (dead,)
        # The live Alertmanager got it regardless of the dead one.
        (got,) = am.get("/api/v2/alerts")
        assert got["labels"]["alertname"] == "device_down"
        assert got["labels"]["device"] == "dslam-1"
        # A resolution that cannot be delivered is kept and re-sent with the next push.
        done = replace(alert, status=AlertStatus.RESOLVED, resolved_at=datetime.now(UTC))
        await notifier.send([done], now=datetime.now(UTC))
        await notifier.send([], now=datetime.now(UTC))
        assert results.count((dead, False)) == 5
        assert am.get("/api/v2/alerts") == []  # resolved where it was reachable
    finally:
        await notifier.aclose()


def test_postable_alert_carries_the_routing_labels_and_an_expiry() -> None:
    alert = replace(_alerts(), incident_key="incident:device_down:device:dslam-1")
    body = postable_alert(alert, now=at(300), expires_after=timedelta(minutes=1), origin="nocd")
    assert body["labels"] == {
        "alertname": "device_down",
        "severity": "critical",
        "district": "d1",
        "device": "dslam-1",
        "incident": "incident:device_down:device:dslam-1",
        "entity": "device:dslam-1",
        "origin": "nocd",
    }
    assert body["endsAt"] == at(360).isoformat()
    assert body["annotations"]["summary"] == "device dslam-1 is down"
