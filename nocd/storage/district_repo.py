"""Central's record of each district: applied batches (high-water mark), silence, and events.

    result = apply_batch(session, district="xihu", epoch=e, items=[(1, PollRecord(...))], now=t)
    silent = mark_silent(session, now=t, silent_after_s=180, started_at=t0)

``apply_batch`` writes the data and the new high-water mark in the caller's transaction, so
a batch is applied wholly or not at all, and a resend (same district, epoch and sequences)
changes nothing. Times are UTC epoch seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from collectors.ports import PortInfo
from nocd.storage import poll_repo
from nocd.storage.ingest import SAMPLE_COLUMNS, copy_rows
from nocd.storage.models import Device, DeviceStatus, District, DistrictEvent, DistrictStatus
from nocd.storage.poll_repo import PollRecord, UnknownDeviceError

__all__ = [
    "DistrictStatusRecord",
    "IngestResult",
    "PortsChange",
    "SilentDistrict",
    "Snapshot",
    "StateChange",
    "apply_batch",
    "district_statuses",
    "mark_silent",
]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChange:
    """A district's verdict change on one device (``poll_repo.record_state`` arguments)."""

    device: str
    state: str
    at: int
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Every device's current verdict at the district, sent after central marked it silent."""

    at: int
    states: Sequence[tuple[str, str, str]]  # (device, state, reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class PortsChange:
    """The ports of one device after the district's interface walk found a change."""

    device: str
    at: int
    ports: Sequence[PortInfo]


IngestRecord = PollRecord | StateChange | Snapshot | PortsChange


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestResult:
    """What one batch did. ``acked_seq``: the district may delete everything up to it."""

    acked_seq: int
    applied: int
    duplicates: int
    unknown_devices: int
    missing: int  # sequences skipped over: items the district dropped before sending
    resync: bool  # central wants a Snapshot (the district was marked silent)
    came_back: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SilentDistrict:
    """A district newly marked silent and how many of its devices became unknown."""

    district: str
    last_seen_at: int | None
    devices: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DistrictStatusRecord:
    """Central's view of one district."""

    district: str
    state: str
    since: int
    last_seen_at: int | None
    last_seq: int


def _locked_status(session: Session, district: str, now: int) -> DistrictStatus:
    """The district's row, created if new and locked against a concurrent batch.

    The INSERT comes first so that SQLite takes its write lock before any read (no stale
    snapshot to upgrade); PostgreSQL then locks the row with SELECT … FOR UPDATE.
    """
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(DistrictStatus).values(
        district=district, epoch="", last_seq=0, state="ok", since=now, resync=False
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["district"]))
    status = session.scalar(
        select(DistrictStatus)
        .where(DistrictStatus.district == district)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert status is not None, "inserted above"
    return status


def apply_batch(
    session: Session,
    *,
    district: str,
    epoch: str,
    items: Sequence[tuple[int, IngestRecord]],
    now: int,
) -> IngestResult:
    """Apply the items above the district's high-water mark, in order; record the new mark.

    ``items`` must be in increasing sequence order (the API schema checks it). Items for
    devices central's inventory does not have are counted and skipped: holding them would
    block the district's queue for good.
    """
    status = _locked_status(session, district, now)
    if status.epoch != epoch:
        if status.epoch:
            _logger.warning(
                "district %s: new outbox epoch (district storage rebuilt): sequence restarts",
                district,
            )
        status.epoch, status.last_seq = epoch, 0
    fresh = [(seq, record) for seq, record in items if seq > status.last_seq]
    missing = fresh[0][0] - status.last_seq - 1 if fresh else 0
    if missing > 0:
        _logger.warning(
            "district %s: %d items never arrived (sequences %d..%d; dropped by its outbox)",
            district,
            missing,
            status.last_seq + 1,
            fresh[0][0] - 1,
        )
    unknown = 0
    ids = _device_ids(session, [r.device for _, r in fresh if isinstance(r, PollRecord)])
    rows: list[tuple[Any, ...]] = []
    for _seq, record in fresh:
        try:
            if isinstance(record, PollRecord):
                # Status now, samples at the end in one bulk write (COPY on PostgreSQL).
                device_id = ids.get(record.device)
                if device_id is None:
                    raise UnknownDeviceError(record.device)
                poll_repo.store_poll(session, record=replace(record, values=()))
                rows.extend((device_id, e, m, record.at, v) for e, m, v in record.values)
            else:
                _apply(session, record)
        except UnknownDeviceError as exc:
            unknown += 1
            _logger.warning("district %s: device %s is not in central's inventory", district, exc)
        if isinstance(record, Snapshot):
            status.resync = False
    if rows:
        session.flush()
        copy_rows(session, "samples", SAMPLE_COLUMNS, rows)
    came_back = status.state == "silent"
    if came_back:
        silent_s = now - (status.last_seen_at or status.since)
        _logger.info("district %s is back after %d s of silence", district, silent_s)
        status.state, status.since = "ok", now
        session.add(
            DistrictEvent(
                district=district, ts=now, state="ok", reason=f"data again after {silent_s} s"
            )
        )
    if fresh:
        status.last_seq = fresh[-1][0]
    status.last_seen_at = now
    session.flush()
    return IngestResult(
        acked_seq=status.last_seq,
        applied=len(fresh) - unknown,
        duplicates=len(items) - len(fresh),
        unknown_devices=unknown,
        missing=max(missing, 0),
        resync=status.resync,
        came_back=came_back,
    )


def _device_ids(session: Session, names: Sequence[str]) -> dict[str, int]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = session.execute(select(Device.name, Device.id).where(Device.name.in_(wanted)))
    return {name: device_id for name, device_id in rows}


def _apply(session: Session, record: StateChange | Snapshot | PortsChange) -> None:
    if isinstance(record, PortsChange):
        poll_repo.sync_ports(session, device=record.device, ports=record.ports)
    elif isinstance(record, StateChange):
        poll_repo.record_state(
            session, device=record.device, state=record.state, at=record.at, reason=record.reason
        )
    else:
        current = _current_states(session, [device for device, _, _ in record.states])
        for device, state, reason in record.states:
            if device not in current:
                continue  # not in central's inventory: nothing to restore
            if current[device] != state:
                poll_repo.record_state(
                    session, device=device, state=state, at=record.at, reason=reason
                )


def _current_states(session: Session, devices: Sequence[str]) -> dict[str, str | None]:
    rows = session.execute(
        select(Device.name, DeviceStatus.state)
        .outerjoin(DeviceStatus, DeviceStatus.device_id == Device.id)
        .where(Device.name.in_(devices))
    )
    return {name: state for name, state in rows}


def mark_silent(
    session: Session, *, now: int, silent_after_s: float, started_at: int
) -> list[SilentDistrict]:
    """Mark districts that sent nothing for ``silent_after_s`` silent; their devices unknown.

    Silence is counted from the last batch, or from ``started_at`` (this central process's
    start) if later: while central itself was down it heard nobody, and that is not the
    districts' fault. Every inventory district is watched, including one never heard from.
    Devices become ``unknown``, never ``down``: central is blind, the devices may be fine.
    """
    known = set(session.scalars(select(DistrictStatus.district)))
    for district in session.scalars(select(District.id)):
        if district not in known:
            session.add(
                DistrictStatus(
                    district=district, epoch="", last_seq=0, state="ok", since=started_at,
                    resync=False, last_seen_at=None,
                )
            )
    session.flush()
    silent: list[SilentDistrict] = []
    for status in session.scalars(
        select(DistrictStatus).where(DistrictStatus.state == "ok").with_for_update()
    ):
        heard = max(status.last_seen_at or 0, started_at)
        if now - heard < silent_after_s:
            continue
        reason = f"district {status.district} silent since {heard}"
        status.state, status.since, status.resync = "silent", now, True
        session.add(DistrictEvent(district=status.district, ts=now, state="silent", reason=reason))
        devices = session.scalars(
            select(Device.name)
            .join(DeviceStatus, DeviceStatus.device_id == Device.id)
            .where(Device.district_id == status.district, DeviceStatus.state != "unknown")
            .order_by(Device.name)
        ).all()
        for device in devices:
            poll_repo.record_state(session, device=device, state="unknown", at=now, reason=reason)
        silent.append(
            SilentDistrict(
                district=status.district, last_seen_at=status.last_seen_at, devices=len(devices)
            )
        )
    session.flush()
    return silent


def district_statuses(session: Session) -> list[DistrictStatusRecord]:
    """Every district central has a record of, by id."""
    rows = session.execute(
        select(
            DistrictStatus.district,
            DistrictStatus.state,
            DistrictStatus.since,
            DistrictStatus.last_seen_at,
            DistrictStatus.last_seq,
        ).order_by(DistrictStatus.district)
    )
    return [
        DistrictStatusRecord(
            district=district, state=state, since=since, last_seen_at=seen, last_seq=last_seq
        )
        for district, state, since, seen, last_seq in rows
    ]
