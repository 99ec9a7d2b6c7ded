"""Traffic-model storage: uplinks and their 5-minute rates, anomaly events, ticket counts.

    links = traffic_repo.uplinks(session)                       # ports flagged ``is_uplink``
    rates = traffic_repo.link_rates(session, [3, 4], since=..., until=...)
    traffic_repo.add_anomaly(session, record)                   # the caller commits

Rates come from the 5-minute ``rollups`` (``avg`` of ``in_bps``/``out_bps``/``speed_bps``
of the ``if:<ifIndex>`` entities), so a refit over weeks never touches raw samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nocd.storage.models import (
    AlertRow,
    Device,
    Port,
    Rollup,
    RollupState,
    TicketRow,
    TrafficAnomalyRow,
)

__all__ = [
    "RATE_METRICS",
    "AnomalyRecord",
    "DeviceRecord",
    "LinkRecord",
    "add_anomaly",
    "daily_ticket_counts",
    "devices",
    "first_rule_alert_after",
    "link_rates",
    "list_anomalies",
    "open_anomalies",
    "resolve_anomaly",
    "rollup_watermark",
    "set_lead_time",
    "uplinks",
    "without_lead_time",
]

RATE_METRICS: Final = ("in_bps", "out_bps", "speed_bps")
_DEVICE_CHUNK: Final = 500  # device ids per IN (...) list


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkRecord:
    """An uplink port: the unit of forecasts, capacity and anomaly detection."""

    device_id: int
    device: str
    district: str
    kind: str  # device kind: aggregation, access_switch, dslam, bras
    ifindex: int
    name: str | None
    speed_bps: float | None  # inventory speed; the polled ``speed_bps`` is the fallback
    parent_id: int | None

    @property
    def entity(self) -> str:
        """The sample entity of the port: ``if:<ifIndex>``."""
        return f"if:{self.ifindex}"

    @property
    def key(self) -> str:
        """``<device>/if:<ifIndex>``: unique across the network (API and alerts)."""
        return f"{self.device}/{self.entity}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRecord:
    """A device and its parent (the topology the flow matrix walks)."""

    id: int
    name: str
    district: str
    kind: str
    parent_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AnomalyRecord:
    """One stored anomaly event."""

    fingerprint: str
    link: str
    device: str
    district: str
    kind: str
    score: float
    deviation: float
    sample_ts: int
    detected_at: int
    resolved_at: int | None = None
    lead_time_s: int | None = None
    lead_alert_key: str | None = None


def uplinks(session: Session) -> list[LinkRecord]:
    """Every port flagged as an uplink, with its device, district and device kind."""
    query = (
        select(
            Port.device_id,
            Device.name,
            Device.district_id,
            Device.kind,
            Port.ifindex,
            Port.name,
            Port.speed_bps,
            Device.parent_id,
        )
        .join(Device, Device.id == Port.device_id)
        .where(Port.is_uplink.is_(True))
        .order_by(Device.name, Port.ifindex)
    )
    return [
        LinkRecord(
            device_id=d_id,
            device=dev,
            district=dist,
            kind=kind,
            ifindex=ix,
            name=name,
            speed_bps=float(speed) if speed else None,
            parent_id=parent,
        )
        for d_id, dev, dist, kind, ix, name, speed, parent in session.execute(query)
    ]


def devices(session: Session) -> dict[int, DeviceRecord]:
    """Every device by id."""
    query = select(Device.id, Device.name, Device.district_id, Device.kind, Device.parent_id)
    return {
        i: DeviceRecord(id=i, name=n, district=d, kind=k, parent_id=p)
        for i, n, d, k, p in session.execute(query)
    }


def rollup_watermark(session: Session) -> int | None:
    """Every 5-minute bucket before this (epoch s) is final; None before the first rollup."""
    state = session.get(RollupState, "5m")
    return None if state is None else int(state.watermark)


def link_rates(
    session: Session,
    device_ids: Sequence[int],
    *,
    since: int,
    until: int,
    metrics: Sequence[str] = RATE_METRICS,
) -> pd.DataFrame:
    """5-minute ``avg`` of rate metrics: ``device_id, entity, metric, bucket, value``.

    Buckets in ``[since, until)``; only ``if:`` entities of the given devices.
    """
    rows: list[tuple[int, str, str, int, float]] = []
    ids = sorted(set(device_ids))
    for i in range(0, len(ids), _DEVICE_CHUNK):
        query = select(
            Rollup.device_id, Rollup.entity, Rollup.metric, Rollup.bucket, Rollup.avg
        ).where(
            Rollup.resolution == "5m",
            Rollup.device_id.in_(ids[i : i + _DEVICE_CHUNK]),
            Rollup.metric.in_(list(metrics)),
            Rollup.entity.startswith("if:", autoescape=True),
            Rollup.bucket >= since,
            Rollup.bucket < until,
        )
        rows.extend(
            (int(d), str(e), str(m), int(b), float(v)) for d, e, m, b, v in session.execute(query)
        )
    if not rows:
        return pd.DataFrame(
            {
                "device_id": pd.Series([], dtype=np.int64),
                "entity": pd.Series([], dtype=object),
                "metric": pd.Series([], dtype=object),
                "bucket": pd.Series([], dtype=np.int64),
                "value": pd.Series([], dtype=np.float64),
            }
        )
    device_id, entity, metric, bucket, value = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "device_id": np.asarray(device_id, dtype=np.int64),
            "entity": np.asarray(entity, dtype=object),
            "metric": np.asarray(metric, dtype=object),
            "bucket": np.asarray(bucket, dtype=np.int64),
            "value": np.asarray(value, dtype=np.float64),
        }
    )


# --- anomaly events ------------------------------------------------------------------------


def _record(row: TrafficAnomalyRow) -> AnomalyRecord:
    return AnomalyRecord(
        fingerprint=row.fingerprint,
        link=row.link,
        device=row.device,
        district=row.district,
        kind=row.kind,
        score=row.score,
        deviation=row.deviation,
        sample_ts=row.sample_ts,
        detected_at=row.detected_at,
        resolved_at=row.resolved_at,
        lead_time_s=row.lead_time_s,
        lead_alert_key=row.lead_alert_key,
    )


def add_anomaly(session: Session, record: AnomalyRecord) -> None:
    """Store a new event (the caller commits)."""
    session.add(
        TrafficAnomalyRow(
            fingerprint=record.fingerprint,
            link=record.link,
            device=record.device,
            district=record.district,
            kind=record.kind,
            score=record.score,
            deviation=record.deviation,
            sample_ts=record.sample_ts,
            detected_at=record.detected_at,
            resolved_at=record.resolved_at,
        )
    )


def open_anomalies(session: Session) -> list[AnomalyRecord]:
    """Events whose alert is not resolved yet, oldest first."""
    query = (
        select(TrafficAnomalyRow)
        .where(TrafficAnomalyRow.resolved_at.is_(None))
        .order_by(TrafficAnomalyRow.detected_at)
    )
    return [_record(r) for r in session.scalars(query)]


def resolve_anomaly(session: Session, fingerprint: str, at: int) -> None:
    """Mark the event's alert resolved at ``at`` (epoch s)."""
    session.execute(
        update(TrafficAnomalyRow)
        .where(TrafficAnomalyRow.fingerprint == fingerprint)
        .values(resolved_at=at)
    )


def without_lead_time(session: Session, *, since: int) -> list[AnomalyRecord]:
    """Events detected at or after ``since`` that have no lead time yet."""
    query = select(TrafficAnomalyRow).where(
        TrafficAnomalyRow.detected_at >= since, TrafficAnomalyRow.lead_time_s.is_(None)
    )
    return [_record(r) for r in session.scalars(query)]


def set_lead_time(session: Session, fingerprint: str, lead_time_s: int, alert_key: str) -> None:
    """Record how long before the first later rule alert (``alert_key``) the event warned."""
    session.execute(
        update(TrafficAnomalyRow)
        .where(TrafficAnomalyRow.fingerprint == fingerprint)
        .values(lead_time_s=lead_time_s, lead_alert_key=alert_key)
    )


def list_anomalies(
    session: Session, *, since: int | None = None, link: str | None = None, limit: int = 100
) -> list[AnomalyRecord]:
    """The newest events first."""
    query = select(TrafficAnomalyRow)
    if since is not None:
        query = query.where(TrafficAnomalyRow.detected_at >= since)
    if link is not None:
        query = query.where(TrafficAnomalyRow.link == link)
    query = query.order_by(TrafficAnomalyRow.detected_at.desc(), TrafficAnomalyRow.id.desc())
    return [_record(r) for r in session.scalars(query.limit(limit))]


def first_rule_alert_after(
    session: Session, device: str, *, after: datetime, until: datetime
) -> tuple[str, datetime] | None:
    """The first rule alert on ``device`` (or behind it) starting in ``[after, until)``."""
    query = (
        select(AlertRow.key, AlertRow.started_at)
        .where(
            AlertRow.device == device,
            AlertRow.source == "rule",
            AlertRow.started_at >= after,
            AlertRow.started_at < until,
        )
        .order_by(AlertRow.started_at)
        .limit(1)
    )
    row = session.execute(query).first()
    if row is None:
        return None
    started = row[1] if row[1].tzinfo is not None else row[1].replace(tzinfo=UTC)
    return str(row[0]), started


# --- fault / complaint counts ---------------------------------------------------------------


def daily_ticket_counts(
    session: Session, *, since: datetime, until: datetime, kinds: Sequence[str]
) -> pd.DataFrame:
    """Tickets opened per district and UTC day: ``district, day`` (``date``), ``count``."""
    query = select(TicketRow.district, TicketRow.created_at).where(
        TicketRow.created_at >= since,
        TicketRow.created_at < until,
        TicketRow.kind.in_(list(kinds)),
    )
    rows = session.execute(query).all()
    if not rows:
        return pd.DataFrame({"district": [], "day": [], "count": []})
    frame = pd.DataFrame(rows, columns=["district", "created_at"])
    created = pd.to_datetime(frame["created_at"], utc=True)
    frame["day"] = created.dt.date
    return frame.groupby(["district", "day"]).size().rename("count").reset_index()
