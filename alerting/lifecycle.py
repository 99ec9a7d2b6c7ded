"""Alert and incident lifecycle ``firing → resolved``: new records, history, notifications.

Pure: :func:`reconcile_alerts` and :func:`reconcile_incidents` compare what was open with what
the current cycle says, and return the records to store, the history entries to append and
the alerts to notify. A record that disappears from the cycle is resolved at ``now``, except
an incident whose root alert is still open and only suppressed because its collector is
silent: nobody can see that fault now, so its incident stands as it was (stale, not resolved)
and goes on as the same incident when the collector's data is back.

Notification policy (:func:`should_notify`): a firing alert is notified when it is not
suppressed and no active maintenance window covers it; a resolution is notified exactly when
its firing was. So maintenance mutes what starts inside it, yet a recovery of an alert that
was announced still goes out and every recovery is processed and recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from alerting.correlation import Topology
from alerting.model import (
    Alert,
    AlertStatus,
    Incident,
    MaintenanceWindow,
    Severity,
    Suppression,
    Value,
)

__all__ = [
    "AlertReconciliation",
    "HistoryEntry",
    "HistoryEvent",
    "IncidentReconciliation",
    "muted_by",
    "reconcile_alerts",
    "reconcile_incidents",
    "should_notify",
]


class HistoryEvent(StrEnum):
    """What can happen to an alert or incident; one history entry each."""

    FIRED = "fired"
    SEVERITY_CHANGED = "severity_changed"
    SUPPRESSED = "suppressed"
    UNSUPPRESSED = "unsuppressed"
    INCIDENT_CHANGED = "incident_changed"
    NOTIFIED = "notified"
    RESOLVED = "resolved"
    OPENED = "opened"  # incidents
    UPDATED = "updated"  # incidents: children or impact changed


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    """One line of an alert's or incident's audit trail."""

    key: str  # alert or incident key
    event: HistoryEvent
    at: datetime
    status: AlertStatus
    severity: Severity
    text: str = ""
    values: Mapping[str, Value] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertReconciliation:
    """``open``: firing alerts to keep; ``resolved``: closed this cycle; ``notify``: to send."""

    open: Mapping[str, Alert]
    resolved: tuple[Alert, ...]
    history: tuple[HistoryEntry, ...]
    notify: tuple[Alert, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentReconciliation:
    """``open``: incidents to keep; ``resolved``: closed this cycle."""

    open: Mapping[str, Incident]
    resolved: tuple[Incident, ...]
    history: tuple[HistoryEntry, ...]


def muted_by(
    alert: Alert,
    maintenance: Iterable[MaintenanceWindow],
    now: datetime,
    *,
    topology: Topology | None = None,
) -> tuple[str, ...]:
    """Ids of the maintenance windows that mute ``alert`` at ``now``."""
    upstream = topology.ancestors(alert.entity) if topology is not None else ()
    return tuple(w.id for w in maintenance if w.mutes(alert, now, upstream))


def should_notify(
    alert: Alert,
    maintenance: Iterable[MaintenanceWindow],
    now: datetime,
    *,
    topology: Topology | None = None,
) -> bool:
    """Whether this alert, as it is now, goes to Alertmanager/webhooks (see module docstring)."""
    if alert.status is AlertStatus.RESOLVED:
        return alert.notified
    if alert.suppressed:
        return False
    return not muted_by(alert, maintenance, now, topology=topology)


def _entry(alert: Alert, event: HistoryEvent, at: datetime, text: str = "") -> HistoryEntry:
    return HistoryEntry(
        key=alert.key,
        event=event,
        at=at,
        status=alert.status,
        severity=alert.severity,
        text=text,
        values=dict(alert.values) or None,
    )


def reconcile_alerts(
    previous: Mapping[str, Alert],
    current: Iterable[Alert],
    now: datetime,
    *,
    maintenance: Iterable[MaintenanceWindow] = (),
    topology: Topology | None = None,
) -> AlertReconciliation:
    """Apply one cycle's correlated alerts to the open ones (``previous``, by key).

    ``current`` holds the cycle's firing alerts; resolved ones in it (rule transitions) only
    lend their ``resolved_at``. An open alert missing from the firing ones is resolved.
    """
    windows = tuple(maintenance)
    history: list[HistoryEntry] = []
    notify: list[Alert] = []
    opened: dict[str, Alert] = {}
    resolved_at: dict[str, datetime] = {}
    for alert in sorted(current, key=lambda a: a.key):
        if alert.status is AlertStatus.RESOLVED:
            resolved_at[alert.key] = alert.resolved_at or now
            continue
        before = previous.get(alert.key)
        if before is None:
            history.append(_entry(alert, HistoryEvent.FIRED, now, alert.expression))
            if alert.suppressed:
                history.append(
                    _entry(
                        alert,
                        HistoryEvent.SUPPRESSED,
                        now,
                        f"{alert.suppression} by {alert.suppressed_by}",
                    )
                )
        else:
            alert = replace(alert, started_at=before.started_at, notified=before.notified)
            if alert.severity is not before.severity:
                history.append(
                    _entry(
                        alert,
                        HistoryEvent.SEVERITY_CHANGED,
                        now,
                        f"{before.severity} → {alert.severity}",
                    )
                )
            if alert.suppressed_by != before.suppressed_by:
                if alert.suppressed:
                    text = f"{alert.suppression} by {alert.suppressed_by}"
                    history.append(_entry(alert, HistoryEvent.SUPPRESSED, now, text))
                else:
                    history.append(_entry(alert, HistoryEvent.UNSUPPRESSED, now))
            if alert.incident_key != before.incident_key:
                history.append(
                    _entry(alert, HistoryEvent.INCIDENT_CHANGED, now, str(alert.incident_key))
                )
        announce = should_notify(alert, windows, now, topology=topology) and (
            before is None or not before.notified or alert.severity is not before.severity
        )
        if announce:
            alert = replace(alert, notified=True)
            notify.append(alert)
            history.append(_entry(alert, HistoryEvent.NOTIFIED, now))
        opened[alert.key] = alert

    closed: list[Alert] = []
    for key in sorted(set(previous) - set(opened)):
        done = replace(
            previous[key], status=AlertStatus.RESOLVED, resolved_at=resolved_at.get(key, now)
        )
        closed.append(done)
        history.append(_entry(done, HistoryEvent.RESOLVED, now))
        if should_notify(done, windows, now, topology=topology):
            notify.append(done)
            history.append(_entry(done, HistoryEvent.NOTIFIED, now))
    return AlertReconciliation(
        open=opened, resolved=tuple(closed), history=tuple(history), notify=tuple(notify)
    )


def _incident_entry(
    incident: Incident, event: HistoryEvent, at: datetime, text: str = ""
) -> HistoryEntry:
    return HistoryEntry(
        key=incident.key,
        event=event,
        at=at,
        status=incident.status,
        severity=incident.severity,
        text=text,
    )


def _impact_text(incident: Incident) -> str:
    impact = incident.impact
    return (
        f"root {incident.root_alert_key}; {len(incident.child_alert_keys)} children; "
        f"{impact.devices} devices, {impact.lines} lines, {impact.customers} customers "
        f"{dict(impact.customers_by_sla)}"
    )


def reconcile_incidents(
    previous: Mapping[str, Incident],
    current: Iterable[Incident],
    now: datetime,
    *,
    alerts: Mapping[str, Alert] | None = None,
) -> IncidentReconciliation:
    """Apply one cycle's incidents to the open ones; a missing incident is resolved.

    ``alerts`` are the open alerts after this cycle (``AlertReconciliation.open``): a missing
    incident whose root alert is among them, suppressed as ``collector_silent``, is kept
    unchanged instead (its collector is silent: the fault's state is unknown, not over).
    """
    history: list[HistoryEntry] = []
    opened: dict[str, Incident] = {}
    for key, incident in previous.items():
        root = alerts.get(incident.root_alert_key) if alerts is not None else None
        if root is not None and root.suppression is Suppression.COLLECTOR_SILENT:
            opened[key] = incident  # held as it was; replaced below if the cycle has it
    for incident in sorted(current, key=lambda i: i.key):
        if incident.status is AlertStatus.RESOLVED:
            continue
        before = previous.get(incident.key)
        if before is None:
            history.append(
                _incident_entry(incident, HistoryEvent.OPENED, now, _impact_text(incident))
            )
        else:
            incident = replace(incident, started_at=before.started_at)
            if incident.severity is not before.severity:
                history.append(
                    _incident_entry(
                        incident,
                        HistoryEvent.SEVERITY_CHANGED,
                        now,
                        f"{before.severity} → {incident.severity}",
                    )
                )
            if (incident.child_alert_keys, incident.impact) != (
                before.child_alert_keys,
                before.impact,
            ):
                history.append(
                    _incident_entry(incident, HistoryEvent.UPDATED, now, _impact_text(incident))
                )
        opened[incident.key] = incident
    closed: list[Incident] = []
    for key in sorted(set(previous) - set(opened)):
        done = replace(previous[key], status=AlertStatus.RESOLVED, resolved_at=now)
        closed.append(done)
        history.append(_incident_entry(done, HistoryEvent.RESOLVED, now))
    return IncidentReconciliation(open=opened, resolved=tuple(closed), history=tuple(history))
