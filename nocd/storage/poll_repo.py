"""Poll results in storage: samples, the latest status per device and its state changes.

    store_poll(session, record=PollRecord(device="xihu-dslam-01", at=..., outcome="ok", ...))
    record_state(session, device="xihu-dslam-01", state="down", at=..., reason="timed out")

Each call is one device's whole result, written in the caller's transaction (the poller
hands over one poll at a time, as NAV saves once per job). Times are UTC epoch seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from collectors.ports import PortInfo
from nocd.storage.models import Device, DeviceStateEvent, DeviceStatus, Port, Sample

__all__ = [
    "DeviceStatusRecord",
    "PollRecord",
    "SampleRecord",
    "UnknownDeviceError",
    "device_statuses",
    "latest_samples",
    "record_state",
    "sample_series",
    "store_poll",
    "sync_ports",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PollRecord:
    """One finished poll of one device; ``values`` are ``(entity, metric, value)``."""

    device: str
    at: int
    outcome: str
    reason: str = ""
    profile: str | None = None
    sys_uptime_ticks: int | None = None
    values: Sequence[tuple[str, str, float]] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatusRecord:
    """The latest verdict on a device and when it was last polled (epoch seconds)."""

    device: str
    district: str
    state: str
    since: int
    last_poll_at: int | None
    last_ok_at: int | None
    last_outcome: str | None
    reason: str
    profile: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleRecord:
    """One stored value."""

    entity: str
    metric: str
    ts: int
    value: float


class UnknownDeviceError(LookupError):
    """Raised when a poll result names a device the inventory no longer has."""


def _device_id(session: Session, name: str) -> int:
    device_id = session.scalar(select(Device.id).where(Device.name == name))
    if device_id is None:
        raise UnknownDeviceError(name)
    return device_id


def _upsert_status(session: Session, values: dict[str, Any], *, first_seen_at: int) -> None:
    """Update the columns in ``values``; a first row starts ``unknown`` since ``first_seen_at``.

    INSERT … ON CONFLICT (device_id) DO UPDATE on PostgreSQL and SQLite alike. The inserted
    row must be complete even when it conflicts (both check NOT NULL first).
    """
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(DeviceStatus).values(
        **{"state": "unknown", "since": first_seen_at, "reason": "", **values}
    )
    update = {k: stmt.excluded[k] for k in values if k != "device_id"}
    session.execute(stmt.on_conflict_do_update(index_elements=["device_id"], set_=update))


def store_poll(session: Session, *, record: PollRecord) -> int:
    """Write the samples and status of one poll; returns how many samples were stored."""
    device_id = _device_id(session, record.device)
    if record.values:
        session.execute(
            insert(Sample),
            [
                {"device_id": device_id, "entity": e, "metric": m, "ts": record.at, "value": v}
                for e, m, v in record.values
            ],
        )
    ok = record.outcome == "ok"
    values: dict[str, Any] = {
        "device_id": device_id,
        "last_poll_at": record.at,
        "last_outcome": record.outcome,
        "reason": record.reason,
    }
    if ok:
        values["last_ok_at"] = record.at
        values["profile"] = record.profile
        values["sys_uptime_ticks"] = record.sys_uptime_ticks
    _upsert_status(session, values, first_seen_at=record.at)
    return len(record.values)


def record_state(
    session: Session, *, device: str, state: str, at: int, reason: str = ""
) -> None:
    """Record a change of verdict: the status row and one event for the device timeline."""
    device_id = _device_id(session, device)
    session.add(DeviceStateEvent(device_id=device_id, ts=at, state=state, reason=reason))
    values = {"device_id": device_id, "state": state, "since": at, "reason": reason}
    _upsert_status(session, values, first_seen_at=at)


def device_statuses(session: Session, *, district: str | None = None) -> list[DeviceStatusRecord]:
    """Latest status of every polled device, optionally of one district, by name."""
    query = (
        select(Device.name, Device.district_id, DeviceStatus)
        .join(DeviceStatus, DeviceStatus.device_id == Device.id)
        .order_by(Device.name)
    )
    if district is not None:
        query = query.where(Device.district_id == district)
    return [
        DeviceStatusRecord(
            device=name,
            district=district_id,
            state=status.state,
            since=status.since,
            last_poll_at=status.last_poll_at,
            last_ok_at=status.last_ok_at,
            last_outcome=status.last_outcome,
            reason=status.reason,
            profile=status.profile,
        )
        for name, district_id, status in session.execute(query).all()
    ]


def latest_samples(session: Session, device: str) -> list[SampleRecord]:
    """The most recent value of every (entity, metric) of ``device``."""
    device_id = _device_id(session, device)
    newest = (
        select(Sample.entity, Sample.metric, func.max(Sample.ts).label("ts"))
        .where(Sample.device_id == device_id)
        .group_by(Sample.entity, Sample.metric)
        .subquery()
    )
    query = (
        select(Sample.entity, Sample.metric, Sample.ts, Sample.value)
        .join(
            newest,
            (Sample.entity == newest.c.entity)
            & (Sample.metric == newest.c.metric)
            & (Sample.ts == newest.c.ts),
        )
        .where(Sample.device_id == device_id)
        .order_by(Sample.entity, Sample.metric)
    )
    rows = session.execute(query)
    return [SampleRecord(entity=e, metric=m, ts=t, value=v) for e, m, t, v in rows]


def sample_series(
    session: Session, device: str, entity: str, metric: str, *, since: int, until: int
) -> list[SampleRecord]:
    """Values of one metric of one entity in ``[since, until)``, oldest first."""
    device_id = _device_id(session, device)
    query = (
        select(Sample.ts, Sample.value)
        .where(
            Sample.device_id == device_id,
            Sample.entity == entity,
            Sample.metric == metric,
            Sample.ts >= since,
            Sample.ts < until,
        )
        .order_by(Sample.ts)
    )
    return [
        SampleRecord(entity=entity, metric=metric, ts=t, value=v) for t, v in session.execute(query)
    ]


def sync_ports(session: Session, *, device: str, ports: Sequence[PortInfo]) -> int:
    """Make the ``ports`` rows of ``device`` what its last interface walk found.

    Returns how many rows changed. Vanished ports are deleted (lines keep their own key).
    """
    device_id = _device_id(session, device)
    query = select(Port).where(Port.device_id == device_id)
    stored = {p.ifindex: p for p in session.scalars(query)}
    changed = 0
    for info in ports:
        row = stored.pop(info.ifindex, None)
        values = {
            "name": info.name,
            "description": info.description,
            "speed_bps": info.speed_bps,
            "is_uplink": info.is_uplink,
        }
        if row is None:
            session.add(Port(device_id=device_id, ifindex=info.ifindex, **values))
            changed += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            changed += 1
    for row in stored.values():
        session.delete(row)
        changed += 1
    return changed
