"""``/api/v1`` alerts and incidents (read), their explanations, and the Alertmanager webhook.

Reads need a token of any role. ``POST /api/v1/alertmanager/webhook`` needs role
``integration``: Alertmanager sends its webhook payload (version 4) there with that token
(``http_config.authorization.credentials_file`` in ``deploy/alertmanager/alertmanager.yml``).
Alerts carrying ``origin=<alerting.origin>`` are nocd's own, pushed to Alertmanager and routed
back; they are dropped here (the loop guard) and counted.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerting.model import Alert, AlertStatus, Explanation, Incident, Severity
from alerting.notify.alertmanager import ORIGIN_LABEL
from nocd.alerting_service import AlertingService
from nocd.api.deps import Offset, ReadAccess, RowId, SessionDep, require_role
from nocd.api.schemas import PageOut
from nocd.storage import alert_repo
from nocd.storage.alert_repo import AlertRecord, HistoryRecord, IncidentRecord, WebhookAlert
from nocd.storage.tokens import TokenRecord, TokenRole

__all__ = ["MAX_PAGE_SIZE", "router"]

MAX_PAGE_SIZE = 1000

router = APIRouter(prefix="/api/v1", tags=["alerts"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="items per page")]
IntegrationAccess = Annotated[TokenRecord, Depends(require_role(TokenRole.INTEGRATION))]


class StatusFilter(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


# --- schemas -----------------------------------------------------------------------------------


class HistoryOut(BaseModel):
    """One audit-trail entry."""

    event: str
    at: datetime
    status: str
    severity: str
    text: str
    values: dict[str, float | str] | None = None

    @classmethod
    def of(cls, record: HistoryRecord) -> HistoryOut:
        return cls(
            event=record.event,
            at=record.at,
            status=record.status,
            severity=record.severity,
            text=record.text,
            values=dict(record.values) if record.values is not None else None,
        )


class AlertOut(BaseModel):
    """One alert episode (a re-fire after resolution is a new id with the same key)."""

    id: int
    key: str
    rule: str
    severity: Severity
    status: AlertStatus
    source: str = Field(description="rule (nocd's own) or alertmanager (received)")
    entity: str
    district: str
    device: str | None
    started_at: datetime
    resolved_at: datetime | None
    suppressed: bool
    suppressed_by: str | None
    suppression: str | None
    incident_key: str | None
    notified: bool
    expression: str
    values: dict[str, float | str]
    labels: dict[str, str]
    annotations: dict[str, str]
    updated_at: datetime

    @classmethod
    def of(cls, record: AlertRecord) -> AlertOut:
        a = record.alert
        return cls(
            id=record.id,
            key=a.key,
            rule=a.rule,
            severity=a.severity,
            status=a.status,
            source=record.source,
            entity=str(a.entity),
            district=a.district,
            device=record.device,
            started_at=a.started_at,
            resolved_at=a.resolved_at,
            suppressed=a.suppressed,
            suppressed_by=a.suppressed_by,
            suppression=a.suppression.value if a.suppression else None,
            incident_key=a.incident_key,
            notified=a.notified,
            expression=a.expression,
            values=dict(a.values),
            labels=dict(a.labels),
            annotations=dict(a.annotations),
            updated_at=record.updated_at,
        )


class AlertDetailOut(AlertOut):
    """An alert with its history."""

    history: list[HistoryOut]


class ExplanationOut(BaseModel):
    """Which rule fired with which values, and why the alert is or is not suppressed."""

    alert_id: int
    alert_key: str
    rule: str
    entity: str
    status: AlertStatus
    severity: Severity
    expression: str
    values: dict[str, float | str]
    fired_at: datetime
    resolved_at: datetime | None = None
    suppressed: bool
    suppressed_by: str | None
    suppression: str | None
    incident_key: str | None
    root_alert_key: str | None
    upstream: list[str] = Field(description="the entity's ancestors, nearest first")
    maintenance: list[str] = Field(description="maintenance windows muting it now")
    live: bool = Field(description="computed from the last cycle (else from the stored row)")
    reason: str

    @classmethod
    def of(
        cls, alert_id: int, e: Explanation, *, live: bool, resolved_at: datetime | None
    ) -> ExplanationOut:
        return cls(
            alert_id=alert_id,
            alert_key=e.alert_key,
            rule=e.rule,
            entity=str(e.entity),
            status=e.status,
            severity=e.severity,
            expression=e.expression,
            values=dict(e.values),
            fired_at=e.fired_at,
            resolved_at=resolved_at,
            suppressed=e.suppressed,
            suppressed_by=e.suppressed_by,
            suppression=e.suppression.value if e.suppression else None,
            incident_key=e.incident_key,
            root_alert_key=e.root_alert_key,
            upstream=[str(ref) for ref in e.upstream],
            maintenance=list(e.maintenance),
            live=live,
            reason=e.reason,
        )


class ImpactOut(BaseModel):
    """Who is behind an incident."""

    devices: int
    lines: int
    customers: int
    customers_by_sla: dict[str, int]


class IncidentOut(BaseModel):
    """One incident: a root alert, the alerts it explains, and the impact."""

    id: int
    key: str
    root_alert_key: str
    severity: Severity
    status: AlertStatus
    district: str
    started_at: datetime
    resolved_at: datetime | None
    children: int
    child_alert_keys: list[str] | None = Field(
        default=None, description="only on GET /incidents/{id}"
    )
    impact: ImpactOut
    summary: str
    updated_at: datetime

    @classmethod
    def of(cls, record: IncidentRecord, *, with_children: bool = False) -> IncidentOut:
        i: Incident = record.incident
        return cls(
            id=record.id,
            key=i.key,
            root_alert_key=i.root_alert_key,
            severity=i.severity,
            status=i.status,
            district=i.district,
            started_at=i.started_at,
            resolved_at=i.resolved_at,
            children=len(i.child_alert_keys),
            child_alert_keys=list(i.child_alert_keys) if with_children else None,
            impact=ImpactOut(
                devices=i.impact.devices,
                lines=i.impact.lines,
                customers=i.impact.customers,
                customers_by_sla=dict(i.impact.customers_by_sla),
            ),
            summary=i.summary,
            updated_at=record.updated_at,
        )


class IncidentDetailOut(IncidentOut):
    """An incident with its history."""

    history: list[HistoryOut]


class AlertmanagerAlertIn(BaseModel):
    """One alert of an Alertmanager webhook payload."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime  # noqa: N815 - Alertmanager's field names
    endsAt: datetime | None = None  # noqa: N815
    generatorURL: str = ""  # noqa: N815
    fingerprint: str = Field(default="", max_length=64)


class AlertmanagerWebhookIn(BaseModel):
    """Alertmanager's webhook body, version 4 (``webhook_configs`` of a receiver)."""

    model_config = ConfigDict(extra="ignore")

    version: str
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""  # noqa: N815
    truncatedAlerts: int = 0  # noqa: N815
    alerts: list[AlertmanagerAlertIn]

    @field_validator("version")
    @classmethod
    def _v4(cls, value: str) -> str:
        if value != "4":
            raise ValueError("only webhook payload version 4 is understood")
        return value


class WebhookResult(BaseModel):
    """What the webhook did with the payload's alerts."""

    stored: int
    loop_dropped: int = Field(description="nocd's own alerts coming back (the loop guard)")


# --- helpers --------------------------------------------------------------------------------


def _not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")


def _service(request: Request) -> AlertingService | None:
    service: AlertingService | None = getattr(request.app.state, "alerting", None)
    return service


def _stored_explanation(record: AlertRecord) -> Explanation:
    """The explanation kept in the row: used for resolved alerts or without a live cycle."""
    a: Alert = record.alert
    fired = f"rule {a.rule} fired at {a.started_at.isoformat()}: {a.expression}"
    if a.values:
        fired += " with " + ", ".join(f"{k}={v}" for k, v in sorted(a.values.items()))
    if a.suppressed:
        state = f"suppressed by {a.suppressed_by} ({a.suppression})"
    else:
        state = "not suppressed"
        if a.incident_key:
            state += f"; it is the root of {a.incident_key}"
    if a.status is AlertStatus.RESOLVED and a.resolved_at is not None:
        state += f"; resolved at {a.resolved_at.isoformat()} (as last correlated before that)"
    root = a.incident_key.removeprefix("incident:") if a.incident_key else None
    return Explanation(
        alert_key=a.key,
        rule=a.rule,
        entity=a.entity,
        status=a.status,
        severity=a.severity,
        expression=a.expression,
        values=a.values,
        fired_at=a.started_at,
        suppressed=a.suppressed,
        suppressed_by=a.suppressed_by,
        suppression=a.suppression,
        incident_key=a.incident_key,
        root_alert_key=root,
        reason=f"{fired}; {state}",
    )


# --- alerts ---------------------------------------------------------------------------------


@router.get("/alerts", summary="List alerts")
def list_alerts(
    session: SessionDep,
    _token: ReadAccess,
    status_: Annotated[StatusFilter | None, Query(alias="status")] = None,
    severity: Severity | None = None,
    district: str | None = None,
    device: str | None = None,
    rule: str | None = None,
    suppressed: bool | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PageOut[AlertOut]:
    """Alerts newest first; ``status=firing&suppressed=false`` is what needs attention."""
    page = alert_repo.list_alerts(
        session,
        status=status_.value if status_ else None,
        severity=severity.value if severity else None,
        district=district,
        device=device,
        rule=rule,
        suppressed=suppressed,
        limit=limit,
        offset=offset,
    )
    return PageOut(
        items=[AlertOut.of(r) for r in page.items], total=page.total, limit=limit, offset=offset
    )


@router.get("/alerts/{alert_id}", summary="One alert with its history")
def get_alert(session: SessionDep, _token: ReadAccess, alert_id: RowId) -> AlertDetailOut:
    record = alert_repo.get_alert(session, alert_id)
    if record is None:
        raise _not_found(f"alert {alert_id}")
    history = [HistoryOut.of(h) for h in alert_repo.alert_history(session, alert_id)]
    return AlertDetailOut(**AlertOut.of(record).model_dump(), history=history)


@router.get("/alerts/{alert_id}/explain", summary="Why an alert fired and is (not) suppressed")
def explain_alert(
    request: Request, session: SessionDep, _token: ReadAccess, alert_id: RowId
) -> ExplanationOut:
    """From the last cycle while the alert fires (with upstream chain and maintenance);
    from the stored row once it is resolved."""
    record = alert_repo.get_alert(session, alert_id)
    if record is None:
        raise _not_found(f"alert {alert_id}")
    service = _service(request)
    live = None
    if service is not None and record.alert.status is AlertStatus.FIRING:
        live = service.explain(record.alert.key)
    if live is not None:
        return ExplanationOut.of(record.id, live, live=True, resolved_at=None)
    return ExplanationOut.of(
        record.id,
        _stored_explanation(record),
        live=False,
        resolved_at=record.alert.resolved_at,
    )


# --- incidents ------------------------------------------------------------------------------


@router.get("/incidents", summary="List incidents")
def list_incidents(
    session: SessionDep,
    _token: ReadAccess,
    status_: Annotated[StatusFilter | None, Query(alias="status")] = None,
    severity: Severity | None = None,
    district: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PageOut[IncidentOut]:
    """Incidents newest first, with their impact."""
    page = alert_repo.list_incidents(
        session,
        status=status_.value if status_ else None,
        severity=severity.value if severity else None,
        district=district,
        limit=limit,
        offset=offset,
    )
    return PageOut(
        items=[IncidentOut.of(r) for r in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
    )


@router.get("/incidents/{incident_id}", summary="One incident with its children and history")
def get_incident(session: SessionDep, _token: ReadAccess, incident_id: RowId) -> IncidentDetailOut:
    record = alert_repo.get_incident(session, incident_id)
    if record is None:
        raise _not_found(f"incident {incident_id}")
    history = [HistoryOut.of(h) for h in alert_repo.incident_history(session, incident_id)]
    return IncidentDetailOut(
        **IncidentOut.of(record, with_children=True).model_dump(), history=history
    )


# --- Alertmanager webhook -------------------------------------------------------------------


def _fingerprint(alert: AlertmanagerAlertIn) -> str:
    if alert.fingerprint:
        return alert.fingerprint
    text = json.dumps(sorted(alert.labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _received(alert: AlertmanagerAlertIn, receiver: str) -> WebhookAlert:
    starts = alert.startsAt if alert.startsAt.tzinfo else alert.startsAt.replace(tzinfo=UTC)
    ends = alert.endsAt
    if ends is not None:
        ends = ends if ends.tzinfo else ends.replace(tzinfo=UTC)
        if ends.year <= 1 or ends < starts:  # Go's zero time: "no end yet"
            ends = None
    return WebhookAlert(
        fingerprint=_fingerprint(alert),
        status=AlertStatus(alert.status),
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=starts,
        ends_at=ends,
        generator_url=alert.generatorURL,
        receiver=receiver,
    )


@router.post(
    "/alertmanager/webhook",
    summary="Receive Alertmanager notifications (webhook payload version 4)",
)
async def alertmanager_webhook(
    request: Request,
    session: SessionDep,
    _token: IntegrationAccess,
    body: AlertmanagerWebhookIn,
) -> WebhookResult:
    """Stores firing and resolved alerts; the next alerting cycle (started now) correlates
    them with nocd's own and opens or resolves their incidents."""
    origin = request.app.state.settings.alerting.origin
    theirs = [
        _received(a, body.receiver) for a in body.alerts if a.labels.get(ORIGIN_LABEL) != origin
    ]
    looped = len(body.alerts) - len(theirs)

    def store() -> int:
        count = alert_repo.store_webhook_alerts(session, theirs, now=datetime.now(UTC))
        session.commit()
        return count

    stored = await run_in_threadpool(store) if theirs else 0
    metrics = getattr(request.app.state, "alerting_metrics", None)
    if metrics is not None:
        metrics.webhook.labels("stored").inc(stored)
        metrics.webhook.labels("loop_dropped").inc(looped)
    service = _service(request)
    if service is not None and stored:
        service.request_cycle()
    return WebhookResult(stored=stored, loop_dropped=looped)
