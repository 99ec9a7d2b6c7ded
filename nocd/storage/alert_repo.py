"""Alerting in storage: alerts, incidents, history, pipeline memory and the Alertmanager inbox.

    open_ = open_alerts(session)                            # key -> Alert (firing rows)
    save_cycle(session, alerts=rec, incidents=inc, now=now, devices=devices_of)
    page = list_alerts(session, status="firing", district="xihu", limit=50)
    store_webhook_alerts(session, [WebhookAlert(...)], now=now)

Every function takes a ``Session`` and never commits: the caller owns the transaction.
Repositories return dataclasses; the ORM rows stay in here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import column, delete, func, inspect, select, table
from sqlalchemy.orm import Session

from alerting.lifecycle import AlertReconciliation, HistoryEntry, IncidentReconciliation
from alerting.model import Alert, AlertStatus, Impact, Incident, Severity
from nocd.storage.alerting_codec import decode_alert, encode_alert
from nocd.storage.inventory_repo import Page
from nocd.storage.models import (
    AlertHistoryRow,
    AlertingStateRow,
    AlertmanagerAlertRow,
    AlertRow,
    Customer,
    Device,
    IncidentRow,
    Line,
    Port,
    Sample,
)

__all__ = [
    "AlertRecord",
    "DeviceNode",
    "HistoryRecord",
    "IncidentRecord",
    "LineNode",
    "PortNode",
    "SampleRow",
    "TopologyRows",
    "WebhookAlert",
    "alert_history",
    "alert_ids",
    "firing_webhook_alerts",
    "get_alert",
    "get_alert_by_key",
    "get_incident",
    "incident_history",
    "list_alerts",
    "list_incidents",
    "load_state",
    "open_alerts",
    "open_incidents",
    "prune_history",
    "prune_webhook_alerts",
    "samples_since",
    "save_cycle",
    "save_state",
    "silent_districts",
    "store_webhook_alerts",
    "topology_rows",
]

ALERTMANAGER_SOURCE = "alertmanager"
RULE_SOURCE = "rule"


# --- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRecord:
    """A stored alert episode: its id, the alert, where it came from and its device."""

    id: int
    alert: Alert
    source: str
    device: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentRecord:
    """A stored incident and its id."""

    id: int
    incident: Incident
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryRecord:
    """One stored history entry."""

    key: str
    event: str
    at: datetime
    status: str
    severity: str
    text: str
    values: Mapping[str, float | str] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookAlert:
    """One alert of an Alertmanager webhook payload (already validated at the API edge)."""

    fingerprint: str
    status: AlertStatus
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str = ""
    receiver: str = ""


# --- row <-> value -------------------------------------------------------------------------------


def _alert(row: AlertRow) -> Alert:
    return decode_alert(
        {
            "key": row.key,
            "rule": row.rule,
            "severity": row.severity,
            "entity": f"{row.entity_kind}:{row.entity_id}",
            "district": row.district,
            "status": row.status,
            "started_at": _aware(row.started_at).isoformat(),
            "resolved_at": _aware(row.resolved_at).isoformat() if row.resolved_at else None,
            "labels": row.labels,
            "annotations": row.annotations,
            "values": row.observed,
            "expression": row.expression,
            "suppressed_by": row.suppressed_by,
            "suppression": row.suppression,
            "incident_key": row.incident_key,
            "notified": row.notified,
        }
    )


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _record(row: AlertRow) -> AlertRecord:
    return AlertRecord(
        id=row.id,
        alert=_alert(row),
        source=row.source,
        device=row.device,
        updated_at=_aware(row.updated_at),
    )


def _fill(row: AlertRow, alert: Alert, *, device: str | None, source: str, now: datetime) -> None:
    data = encode_alert(alert)
    row.key = alert.key
    row.rule = alert.rule
    row.severity = alert.severity.value
    row.status = alert.status.value
    row.source = source
    row.entity_kind = alert.entity.kind.value
    row.entity_id = alert.entity.id
    row.district = alert.district
    row.device = device
    row.started_at = alert.started_at
    row.resolved_at = alert.resolved_at
    row.updated_at = now
    row.labels = data["labels"]
    row.annotations = data["annotations"]
    row.observed = data["values"]
    row.expression = alert.expression
    row.suppressed_by = alert.suppressed_by
    row.suppression = data["suppression"]
    row.incident_key = alert.incident_key
    row.notified = alert.notified


def _incident(row: IncidentRow) -> Incident:
    return Incident(
        key=row.key,
        root_alert_key=row.root_alert_key,
        severity=Severity(row.severity),
        district=row.district,
        status=AlertStatus(row.status),
        started_at=_aware(row.started_at),
        resolved_at=_aware(row.resolved_at) if row.resolved_at else None,
        child_alert_keys=tuple(row.child_alert_keys),
        impact=Impact(
            devices=row.devices, lines=row.lines, customers_by_sla=dict(row.customers_by_sla)
        ),
        summary=row.summary,
    )


def _fill_incident(row: IncidentRow, incident: Incident, now: datetime) -> None:
    row.key = incident.key
    row.root_alert_key = incident.root_alert_key
    row.severity = incident.severity.value
    row.status = incident.status.value
    row.district = incident.district
    row.started_at = incident.started_at
    row.resolved_at = incident.resolved_at
    row.updated_at = now
    row.child_alert_keys = list(incident.child_alert_keys)
    row.devices = incident.impact.devices
    row.lines = incident.impact.lines
    row.customers = incident.impact.customers
    row.customers_by_sla = dict(incident.impact.customers_by_sla)
    row.summary = incident.summary


# --- the pipeline's reads and writes ------------------------------------------------------------


def open_alerts(session: Session) -> dict[str, Alert]:
    """Every firing alert by key (the pipeline's ``previous``)."""
    rows = session.scalars(select(AlertRow).where(AlertRow.status == "firing"))
    return {row.key: _alert(row) for row in rows}


def open_incidents(session: Session) -> dict[str, Incident]:
    """Every open incident by key."""
    rows = session.scalars(select(IncidentRow).where(IncidentRow.status == "firing"))
    return {row.key: _incident(row) for row in rows}


def alert_ids(session: Session, keys: Iterable[str]) -> dict[str, int]:
    """Ids of the firing rows of ``keys`` (for links in notifications)."""
    wanted = list(keys)
    if not wanted:
        return {}
    rows = session.execute(
        select(AlertRow.key, AlertRow.id).where(
            AlertRow.status == "firing", AlertRow.key.in_(wanted)
        )
    )
    return {key: ident for key, ident in rows}


def save_cycle(
    session: Session,
    *,
    alerts: AlertReconciliation,
    incidents: IncidentReconciliation,
    now: datetime,
    devices: Callable[[Alert], str | None],
    sources: Callable[[Alert], str] = lambda _a: RULE_SOURCE,
) -> None:
    """Store one cycle: open alerts/incidents upserted by key, resolved ones closed, history.

    Only rows that changed are written, so a quiet cycle on a big network costs one read.
    """
    firing = {
        row.key: row for row in session.scalars(select(AlertRow).where(AlertRow.status == "firing"))
    }
    for key, alert in alerts.open.items():
        row = firing.get(key)
        if row is None:
            row = AlertRow()
            session.add(row)
            firing[key] = row
        elif _alert(row) == alert:
            continue
        _fill(row, alert, device=devices(alert), source=sources(alert), now=now)
    for alert in alerts.resolved:
        row = firing.get(alert.key)
        if row is None:  # resolved before it was ever stored (same cycle): nothing to close
            continue
        row.status = AlertStatus.RESOLVED.value
        row.resolved_at = alert.resolved_at or now
        row.updated_at = now
    open_rows = {
        row.key: row
        for row in session.scalars(select(IncidentRow).where(IncidentRow.status == "firing"))
    }
    for key, incident in incidents.open.items():
        irow = open_rows.get(key)
        if irow is None:
            irow = IncidentRow()
            session.add(irow)
            open_rows[key] = irow
        elif _incident(irow) == incident:
            continue
        _fill_incident(irow, incident, now)
    for incident in incidents.resolved:
        irow = open_rows.get(incident.key)
        if irow is None:
            continue
        irow.status = AlertStatus.RESOLVED.value
        irow.resolved_at = incident.resolved_at or now
        irow.updated_at = now
    session.flush()  # ids for the history rows
    for entry in alerts.history:
        arow = firing.get(entry.key)
        session.add(_history(entry, alert_id=arow.id if arow is not None else None))
    for entry in incidents.history:
        irow = open_rows.get(entry.key)
        session.add(_history(entry, incident_id=irow.id if irow is not None else None))


def _history(
    entry: HistoryEntry, *, alert_id: int | None = None, incident_id: int | None = None
) -> AlertHistoryRow:
    return AlertHistoryRow(
        alert_id=alert_id,
        incident_id=incident_id,
        key=entry.key,
        event=entry.event.value,
        at=entry.at,
        status=entry.status.value,
        severity=entry.severity.value,
        text=entry.text,
        observed=dict(entry.values) if entry.values is not None else None,
    )


def prune_history(session: Session, *, before: datetime) -> int:
    """Delete resolved alerts and incidents (and their history) resolved before ``before``."""
    gone = 0
    for statement in (
        delete(AlertRow).where(AlertRow.status == "resolved", AlertRow.resolved_at < before),
        delete(IncidentRow).where(
            IncidentRow.status == "resolved", IncidentRow.resolved_at < before
        ),
    ):
        gone += int(getattr(session.execute(statement), "rowcount", 0) or 0)
    session.execute(
        delete(AlertHistoryRow).where(
            AlertHistoryRow.alert_id.is_(None),
            AlertHistoryRow.incident_id.is_(None),
            AlertHistoryRow.at < before,
        )
    )
    return gone


def load_state(session: Session, name: str) -> dict[str, Any] | None:
    """The stored memory ``name`` (``evaluation``, ``correlation``…), or None."""
    row = session.get(AlertingStateRow, name)
    return dict(row.data) if row is not None else None


def save_state(session: Session, name: str, data: Mapping[str, Any], *, now: datetime) -> None:
    """Replace the stored memory ``name``."""
    row = session.get(AlertingStateRow, name)
    if row is None:
        session.add(AlertingStateRow(name=name, data=dict(data), updated_at=now))
    else:
        row.data = dict(data)
        row.updated_at = now


# --- observations and topology --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleRow:
    """One stored value with its device and district."""

    device: str
    district: str
    entity: str
    metric: str
    ts: int
    value: float


def samples_since(session: Session, since: int, metrics: Sequence[str]) -> list[SampleRow]:
    """Values of ``metrics`` stored with ``ts > since``, oldest first."""
    query = (
        select(
            Device.name, Device.district_id, Sample.entity, Sample.metric, Sample.ts, Sample.value
        )
        .join(Device, Device.id == Sample.device_id)
        .where(Sample.ts > since, Sample.metric.in_(list(metrics)))
        .order_by(Sample.ts)
    )
    return [
        SampleRow(device=d, district=dist, entity=e, metric=m, ts=t, value=v)
        for d, dist, e, m, t, v in session.execute(query)
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceNode:
    name: str
    district: str
    kind: str
    parent: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PortNode:
    device: str
    ifindex: int
    uplink: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LineNode:
    device: str
    ifindex: int
    customer_id: str | None
    sla_class: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TopologyRows:
    """The inventory as the alerting topology needs it."""

    devices: tuple[DeviceNode, ...]
    ports: tuple[PortNode, ...]
    lines: tuple[LineNode, ...]


def topology_rows(session: Session) -> TopologyRows:
    """Devices with parents, ports (uplink flag) and lines with customer and SLA class."""
    parent = select(Device.id, Device.name).subquery()
    devices = tuple(
        DeviceNode(name=n, district=d, kind=k, parent=p)
        for n, d, k, p in session.execute(
            select(Device.name, Device.district_id, Device.kind, parent.c.name)
            .outerjoin(parent, parent.c.id == Device.parent_id)
            .order_by(Device.name)
        )
    )
    ports = tuple(
        PortNode(device=n, ifindex=i, uplink=bool(u))
        for n, i, u in session.execute(
            select(Device.name, Port.ifindex, Port.is_uplink).join(
                Device, Device.id == Port.device_id
            )
        )
    )
    lines = tuple(
        LineNode(device=n, ifindex=i, customer_id=c, sla_class=s)
        for n, i, c, s in session.execute(
            select(Device.name, Line.ifindex, Line.customer_id, Customer.sla_class)
            .join(Device, Device.id == Line.device_id)
            .outerjoin(Customer, Customer.id == Line.customer_id)
        )
    )
    return TopologyRows(devices=devices, ports=ports, lines=lines)


# The central side's view of its districts (the two-tier work's ``district_status`` table),
# addressed by name so that this module does not depend on that model being present.
_DISTRICT_STATUS = table("district_status", column("district"), column("state"))


def silent_districts(session: Session) -> set[str]:
    """Districts central has marked ``silent`` (none when that table does not exist)."""
    if not inspect(session.get_bind()).has_table("district_status"):
        return set()
    rows = session.execute(
        select(_DISTRICT_STATUS.c.district).where(_DISTRICT_STATUS.c.state == "silent")
    )
    return {str(district) for (district,) in rows}


# --- Alertmanager inbox ---------------------------------------------------------------------


def store_webhook_alerts(session: Session, alerts: Iterable[WebhookAlert], *, now: datetime) -> int:
    """Upsert received alerts by fingerprint; returns how many were stored."""
    count = 0
    for alert in alerts:
        row = session.get(AlertmanagerAlertRow, alert.fingerprint)
        if row is None:
            row = AlertmanagerAlertRow(fingerprint=alert.fingerprint)
            session.add(row)
        row.status = alert.status.value
        row.labels = dict(alert.labels)
        row.annotations = dict(alert.annotations)
        row.starts_at = alert.starts_at
        row.ends_at = alert.ends_at
        row.generator_url = alert.generator_url
        row.receiver = alert.receiver
        row.received_at = now
        count += 1
    return count


def firing_webhook_alerts(
    session: Session, *, now: datetime, expire: timedelta
) -> tuple[list[WebhookAlert], list[WebhookAlert]]:
    """``(firing, resolved)`` inbox alerts received within ``expire`` (a firing one not
    re-sent since is over; :func:`prune_webhook_alerts` deletes the old rows). Read only."""
    horizon = now - expire
    firing: list[WebhookAlert] = []
    resolved: list[WebhookAlert] = []
    rows = session.scalars(
        select(AlertmanagerAlertRow).where(AlertmanagerAlertRow.received_at >= horizon)
    )
    for row in rows:
        alert = WebhookAlert(
            fingerprint=row.fingerprint,
            status=AlertStatus(row.status),
            labels=dict(row.labels),
            annotations=dict(row.annotations),
            starts_at=_aware(row.starts_at),
            ends_at=_aware(row.ends_at) if row.ends_at else None,
            generator_url=row.generator_url,
            receiver=row.receiver,
        )
        (firing if alert.status is AlertStatus.FIRING else resolved).append(alert)
    return firing, resolved


def prune_webhook_alerts(session: Session, *, before: datetime) -> None:
    """Delete inbox alerts received before ``before`` (the caller commits)."""
    session.execute(delete(AlertmanagerAlertRow).where(AlertmanagerAlertRow.received_at < before))


# --- API reads --------------------------------------------------------------------------------


def list_alerts(
    session: Session,
    *,
    status: str | None = None,
    severity: str | None = None,
    district: str | None = None,
    device: str | None = None,
    rule: str | None = None,
    suppressed: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page[AlertRecord]:
    """Alerts, newest first, filtered; one page and the total."""
    query = select(AlertRow)
    if status is not None:
        query = query.where(AlertRow.status == status)
    if severity is not None:
        query = query.where(AlertRow.severity == severity)
    if district is not None:
        query = query.where(AlertRow.district == district)
    if device is not None:
        query = query.where(AlertRow.device == device)
    if rule is not None:
        query = query.where(AlertRow.rule == rule)
    if suppressed is not None:
        query = query.where(
            AlertRow.suppressed_by.is_not(None) if suppressed else AlertRow.suppressed_by.is_(None)
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(AlertRow.started_at.desc(), AlertRow.id.desc()).limit(limit).offset(offset)
    )
    return Page(items=tuple(_record(row) for row in rows), total=total, limit=limit, offset=offset)


def get_alert(session: Session, alert_id: int) -> AlertRecord | None:
    """One alert episode by id."""
    row = session.get(AlertRow, alert_id)
    return _record(row) if row is not None else None


def get_alert_by_key(session: Session, key: str) -> AlertRecord | None:
    """The newest episode of the alert ``key``."""
    row = session.scalars(
        select(AlertRow).where(AlertRow.key == key).order_by(AlertRow.id.desc()).limit(1)
    ).first()
    return _record(row) if row is not None else None


def _history_records(rows: Iterable[AlertHistoryRow]) -> list[HistoryRecord]:
    return [
        HistoryRecord(
            key=r.key,
            event=r.event,
            at=_aware(r.at),
            status=r.status,
            severity=r.severity,
            text=r.text,
            values=r.observed,
        )
        for r in rows
    ]


def alert_history(session: Session, alert_id: int) -> list[HistoryRecord]:
    """History of one alert episode, oldest first."""
    rows = session.scalars(
        select(AlertHistoryRow)
        .where(AlertHistoryRow.alert_id == alert_id)
        .order_by(AlertHistoryRow.id)
    )
    return _history_records(rows)


def incident_history(session: Session, incident_id: int) -> list[HistoryRecord]:
    """History of one incident, oldest first."""
    rows = session.scalars(
        select(AlertHistoryRow)
        .where(AlertHistoryRow.incident_id == incident_id)
        .order_by(AlertHistoryRow.id)
    )
    return _history_records(rows)


def list_incidents(
    session: Session,
    *,
    status: str | None = None,
    severity: str | None = None,
    district: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page[IncidentRecord]:
    """Incidents, newest first, filtered; one page and the total."""
    query = select(IncidentRow)
    if status is not None:
        query = query.where(IncidentRow.status == status)
    if severity is not None:
        query = query.where(IncidentRow.severity == severity)
    if district is not None:
        query = query.where(IncidentRow.district == district)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(IncidentRow.started_at.desc(), IncidentRow.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return Page(
        items=tuple(
            IncidentRecord(id=r.id, incident=_incident(r), updated_at=_aware(r.updated_at))
            for r in rows
        ),
        total=total,
        limit=limit,
        offset=offset,
    )


def get_incident(session: Session, incident_id: int) -> IncidentRecord | None:
    """One incident by id."""
    row = session.get(IncidentRow, incident_id)
    if row is None:
        return None
    return IncidentRecord(id=row.id, incident=_incident(row), updated_at=_aware(row.updated_at))
