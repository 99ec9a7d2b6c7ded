"""Lifecycle: history, notification policy and maintenance windows (mute, still recover)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from alerting.lifecycle import HistoryEvent, reconcile_alerts, reconcile_incidents, should_notify
from alerting.model import (
    Alert,
    AlertStatus,
    EntityKind,
    EntityRef,
    Impact,
    Incident,
    MaintenanceWindow,
    Severity,
    Suppression,
)
from tests.unit.alerting.network import DOWN, UP, Pipeline, at, build_network, device, line, observe

DSLAM_DOWN = "device_down:device:dslam-1"


def window(start: float, end: float, **scope) -> MaintenanceWindow:
    scope.setdefault("entities", frozenset({device("dslam-1")}))
    return MaintenanceWindow(id="chg-1", start=at(start), end=at(end), **scope)


def alert(**changes) -> Alert:
    base = Alert(
        key=DSLAM_DOWN,
        rule="device_down",
        severity=Severity.WARNING,
        entity=device("dslam-1"),
        district="d1",
        status=AlertStatus.FIRING,
        started_at=at(60),
    )
    return replace(base, **changes)


SHOULD_NOTIFY = [
    # description, alert, windows, now (s), expected
    ("a plain firing alert is notified", alert(), [], 100, True),
    (
        "a suppressed firing alert is not",
        alert(suppressed_by="x", suppression=Suppression.PARENT_DOWN),
        [],
        100,
        False,
    ),
    ("maintenance on the device mutes it", alert(), [window(0, 3600)], 100, False),
    ("maintenance not yet started does not", alert(), [window(200, 3600)], 100, True),
    ("maintenance already over does not", alert(), [window(0, 50)], 100, True),
    (
        "maintenance on another device does not",
        alert(),
        [window(0, 3600, entities=frozenset({device("dslam-2")}))],
        100,
        True,
    ),
    (
        "maintenance on the district mutes it",
        alert(),
        [window(0, 3600, entities=frozenset(), districts=frozenset({"d1"}))],
        100,
        False,
    ),
    (
        "maintenance limited to other rules does not",
        alert(),
        [window(0, 3600, rules=frozenset({"uplink_utilisation"}))],
        100,
        True,
    ),
    (
        "a recovery of a notified alert is notified, even inside maintenance",
        alert(status=AlertStatus.RESOLVED, resolved_at=at(100), notified=True),
        [window(0, 3600)],
        100,
        True,
    ),
    (
        "a recovery of an alert never notified is not",
        alert(status=AlertStatus.RESOLVED, resolved_at=at(100), notified=False),
        [],
        100,
        False,
    ),
]


@pytest.mark.parametrize(
    ("description", "subject", "windows", "now", "expected"),
    SHOULD_NOTIFY,
    ids=[c[0] for c in SHOULD_NOTIFY],
)
def test_should_notify(description, subject, windows, now, expected) -> None:
    assert should_notify(subject, windows, at(now)) is expected, description


def test_maintenance_scope_covers_everything_behind_the_device() -> None:
    net = build_network(dslams=1, lines_per_dslam=1)
    on_agg = window(0, 3600, entities=frozenset({device("agg-1")}))
    line_alert = alert(
        key="line_down:line:dslam-1/line-0", rule="line_down", entity=line("dslam-1/line-0")
    )
    assert should_notify(line_alert, [on_agg], at(100)), "without topology only the agg is covered"
    assert not should_notify(line_alert, [on_agg], at(100), topology=net.topology)


def down_up(pipe: Pipeline, down: range, up: range, windows) -> None:
    dslam = pipe.network.dslams[0]
    for t in down:
        pipe.cycle([observe(dslam, at(t), DOWN)], at(t), maintenance=windows)
    for t in up:
        pipe.cycle([observe(dslam, at(t), UP)], at(t), maintenance=windows)


def test_maintenance_mutes_notifications_but_processes_the_outage_and_recovery() -> None:
    pipe = Pipeline(network=build_network(dslams=1, lines_per_dslam=0))
    down_up(pipe, range(0, 301, 30), range(330, 391, 30), [window(-10, 3600)])
    assert pipe.notified == []
    events = [(e.event, e.severity) for e in pipe.history if e.key == DSLAM_DOWN]
    assert events == [
        (HistoryEvent.FIRED, Severity.WARNING),
        (HistoryEvent.SEVERITY_CHANGED, Severity.CRITICAL),
        (HistoryEvent.RESOLVED, Severity.CRITICAL),
    ]
    assert [a.key for a in pipe.resolved] == [DSLAM_DOWN]
    assert pipe.resolved[0].resolved_at == at(330)
    assert pipe.open_alerts == {} and pipe.open_incidents == {}


def test_recovery_inside_maintenance_of_an_announced_alert_is_notified() -> None:
    pipe = Pipeline(network=build_network(dslams=1, lines_per_dslam=0))
    down_up(pipe, range(0, 301, 30), range(330, 391, 30), [window(200, 3600)])
    sent = [(a.key, a.status, a.severity) for a in pipe.notified]
    assert sent == [
        (DSLAM_DOWN, AlertStatus.FIRING, Severity.WARNING),  # t=60, before the window
        # t=240 the escalation to critical falls inside the window: muted
        (DSLAM_DOWN, AlertStatus.RESOLVED, Severity.CRITICAL),  # recoveries still go out
    ]


def test_alert_still_firing_when_maintenance_ends_is_notified_then() -> None:
    pipe = Pipeline(network=build_network(dslams=1, lines_per_dslam=0))
    down_up(pipe, range(0, 601, 30), range(0), [window(-10, 400)])
    sent = [(a.key, a.status, a.severity) for a in pipe.notified]
    assert sent == [(DSLAM_DOWN, AlertStatus.FIRING, Severity.CRITICAL)]
    notified_at = [e.at for e in pipe.history if e.event is HistoryEvent.NOTIFIED]
    assert notified_at == [at(420)]


def test_history_without_maintenance() -> None:
    pipe = Pipeline(network=build_network(dslams=1, lines_per_dslam=0))
    down_up(pipe, range(0, 301, 30), range(330, 331), [])
    events = [(e.event.value, e.at) for e in pipe.history if e.key == DSLAM_DOWN]
    assert events == [
        ("fired", at(60)),
        ("notified", at(60)),
        ("severity_changed", at(240)),
        ("notified", at(240)),
        ("resolved", at(330)),
        ("notified", at(330)),
    ]
    incident_events = [e.event.value for e in pipe.history if e.key == f"incident:{DSLAM_DOWN}"]
    assert incident_events == ["opened", "severity_changed", "resolved"]


def test_reconcile_alerts_is_idempotent_for_the_same_cycle() -> None:
    first = reconcile_alerts({}, [alert()], at(60))
    again = reconcile_alerts(first.open, [alert()], at(60))
    assert again.history == () and again.notify == () and again.resolved == ()
    assert again.open == first.open


def test_reconcile_keeps_first_start_and_uses_rule_resolution_time() -> None:
    first = reconcile_alerts({}, [alert(started_at=at(60))], at(60))
    later = reconcile_alerts(first.open, [alert(started_at=at(90))], at(90))
    assert later.open[DSLAM_DOWN].started_at == at(60)
    gone = reconcile_alerts(
        later.open, [alert(status=AlertStatus.RESOLVED, resolved_at=at(100))], at(120)
    )
    assert gone.resolved[0].resolved_at == at(100)
    assert [a.status for a in gone.notify] == [AlertStatus.RESOLVED]


def test_reconcile_incidents_opens_updates_and_resolves() -> None:
    base = Incident(
        key="incident:x",
        root_alert_key="x",
        severity=Severity.WARNING,
        district="d1",
        status=AlertStatus.FIRING,
        started_at=at(0),
    )
    opened = reconcile_incidents({}, [base], at(0))
    grown = replace(base, child_alert_keys=("y",), impact=Impact(lines=1))
    updated = reconcile_incidents(opened.open, [grown], at(30))
    closed = reconcile_incidents(updated.open, [], at(60))
    events = [e.event for r in (opened, updated, closed) for e in r.history]
    assert events == [HistoryEvent.OPENED, HistoryEvent.UPDATED, HistoryEvent.RESOLVED]
    assert closed.resolved[0].resolved_at == at(60)
    assert closed.resolved[0].impact.lines == 1


@pytest.mark.parametrize(
    ("description", "start", "end", "scope"),
    [
        ("end before start", 10, 0, {"districts": frozenset({"d1"})}),
        ("empty scope", 0, 10, {}),
    ],
    ids=["end before start", "empty scope"],
)
def test_invalid_maintenance_windows_are_refused(description, start, end, scope) -> None:
    with pytest.raises(ValueError, match="maintenance chg-9"):
        MaintenanceWindow(id="chg-9", start=at(start), end=at(end), **scope)


def test_maintenance_on_an_entity_ref() -> None:
    target = EntityRef(kind=EntityKind.PORT, id="agg-1/uplink")
    w = MaintenanceWindow(
        id="m", start=at(0), end=at(0) + timedelta(hours=1), entities=frozenset({target})
    )
    assert w.mutes(alert(entity=target), at(10))
    assert not w.mutes(alert(entity=target), at(3600))
