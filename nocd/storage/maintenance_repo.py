"""Maintenance windows: planned works on the network, a district or a device and what is behind it.

    record = create_window(session, MaintenanceRecord(district="xihu", device=None, ...))
    windows = list_windows(session, district="xihu", active_at=now)

Times are UTC epoch seconds at this boundary (the column is a time-zone-aware timestamp).
The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from nocd.storage.models import Device, MaintenanceWindow

__all__ = [
    "MaintenanceRecord",
    "UnknownScopeError",
    "create_window",
    "delete_window",
    "get_window",
    "list_windows",
    "update_window",
    "windows_between",
]


class UnknownScopeError(LookupError):
    """Raised when a window names a device that does not exist."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MaintenanceRecord:
    """One window ``[starts_at, ends_at)``; no district and no device means the whole network."""

    id: int | None = None
    district: str | None
    device: str | None
    device_id: int | None = None
    starts_at: int
    ends_at: int
    reason: str = ""


def _dt(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _record(row: MaintenanceWindow, device: str | None) -> MaintenanceRecord:
    return MaintenanceRecord(
        id=row.id,
        district=row.district_id,
        device=device,
        device_id=row.device_id,
        starts_at=_epoch(row.starts_at),
        ends_at=_epoch(row.ends_at),
        reason=row.reason,
    )


def _select() -> Select[MaintenanceWindow, str]:
    return select(MaintenanceWindow, Device.name).outerjoin(
        Device, Device.id == MaintenanceWindow.device_id
    )


def _resolve_device(session: Session, name: str | None) -> tuple[int | None, str | None]:
    if name is None:
        return None, None
    row = session.execute(select(Device.id, Device.district_id).where(Device.name == name)).first()
    if row is None:
        raise UnknownScopeError(f"device {name!r}")
    return int(row[0]), str(row[1])


def create_window(session: Session, record: MaintenanceRecord) -> MaintenanceRecord:
    """Store a new window; a device window also records the device's district."""
    device_id, device_district = _resolve_device(session, record.device)
    row = MaintenanceWindow(
        district_id=record.district or device_district,
        device_id=device_id,
        starts_at=_dt(record.starts_at),
        ends_at=_dt(record.ends_at),
        reason=record.reason,
    )
    session.add(row)
    session.flush()
    return _record(row, record.device)


def update_window(
    session: Session, window_id: int, record: MaintenanceRecord
) -> MaintenanceRecord | None:
    """Replace a window's fields; None when it does not exist."""
    row = session.get(MaintenanceWindow, window_id)
    if row is None:
        return None
    device_id, device_district = _resolve_device(session, record.device)
    row.district_id = record.district or device_district
    row.device_id = device_id
    row.starts_at = _dt(record.starts_at)
    row.ends_at = _dt(record.ends_at)
    row.reason = record.reason
    session.flush()
    return _record(row, record.device)


def get_window(session: Session, window_id: int) -> MaintenanceRecord | None:
    """One window by id."""
    found = session.execute(_select().where(MaintenanceWindow.id == window_id)).first()
    return _record(found[0], found[1]) if found else None


def delete_window(session: Session, window_id: int) -> bool:
    """Delete one window; False when it did not exist."""
    row = session.get(MaintenanceWindow, window_id)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def list_windows(
    session: Session,
    *,
    district: str | None = None,
    device: str | None = None,
    active_at: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[MaintenanceRecord], int]:
    """One page of windows by start time, and how many match."""
    conditions = []
    if district is not None:
        conditions.append(MaintenanceWindow.district_id == district)
    if device is not None:
        conditions.append(Device.name == device)
    if active_at is not None:
        conditions.append(MaintenanceWindow.starts_at <= _dt(active_at))
        conditions.append(MaintenanceWindow.ends_at > _dt(active_at))
    count = (
        select(func.count())
        .select_from(MaintenanceWindow)
        .outerjoin(Device, Device.id == MaintenanceWindow.device_id)
        .where(*conditions)
    )
    total = int(session.scalar(count) or 0)
    query = (
        _select()
        .where(*conditions)
        .order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)
        .limit(limit)
        .offset(offset)
    )
    return [_record(row, name) for row, name in session.execute(query).all()], total


def windows_between(session: Session, start: int, end: int) -> list[MaintenanceRecord]:
    """Every window overlapping ``[start, end)``."""
    query = _select().where(
        MaintenanceWindow.starts_at < _dt(end),
        or_(MaintenanceWindow.ends_at > _dt(start)),
    )
    return [_record(row, name) for row, name in session.execute(query).all()]
