"""``/api/v1/maintenance``: planned-works windows that SLAs treat as maintenance time.

Reads need a token of any role, writes the ``operator`` role. A window covers the whole
network (no district, no device), a district, or a device and everything behind it.
Inside a window every observed state counts as maintenance (docs/kpi.md: maintenance is
intersected, not subtracted).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from nocd.api.deps import MAX_EPOCH_S, Offset, ReadAccess, RowId, SessionDep, WriteAccess
from nocd.api.schemas import PageOut
from nocd.storage import maintenance_repo as repo
from nocd.storage.maintenance_repo import MaintenanceRecord

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/maintenance", tags=["maintenance"])

_EXAMPLE: dict[str, JsonValue] = {
    "district": "xihu",
    "device": "xihu-dslam-01",
    "starts_at": 1717203600,
    "ends_at": 1717210800,
    "reason": "line card swap",
}


class MaintenanceIn(BaseModel):
    """A window ``[starts_at, ends_at)`` in UTC epoch seconds."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    district: str | None = Field(default=None, max_length=64)
    device: str | None = Field(default=None, max_length=200)
    starts_at: int = Field(ge=0, le=MAX_EPOCH_S)
    ends_at: int = Field(ge=0, le=MAX_EPOCH_S)
    reason: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    def record(self) -> MaintenanceRecord:
        """As a repository record."""
        return MaintenanceRecord(
            district=self.district,
            device=self.device,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            reason=self.reason,
        )


class MaintenanceOut(BaseModel):
    """A stored window."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"id": 7, **_EXAMPLE}]})

    id: int
    district: str | None
    device: str | None
    starts_at: int
    ends_at: int
    reason: str

    @classmethod
    def of(cls, record: MaintenanceRecord) -> MaintenanceOut:
        """From a repository record."""
        assert record.id is not None  # read back from storage
        return cls(
            id=record.id,
            district=record.district,
            device=record.device,
            starts_at=record.starts_at,
            ends_at=record.ends_at,
            reason=record.reason,
        )


def _not_found(window_id: RowId) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"maintenance window {window_id} not found")


def _unknown(exc: repo.UnknownScopeError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown {exc}")


@router.get("", summary="List maintenance windows")
def list_windows(
    session: SessionDep,
    _token: ReadAccess,
    district: str | None = None,
    device: str | None = None,
    active_at: Annotated[
        int | None, Query(ge=0, le=MAX_EPOCH_S, description="only windows open at (epoch s)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> PageOut[MaintenanceOut]:
    """Windows by start time."""
    items, total = repo.list_windows(
        session, district=district, device=device, active_at=active_at, limit=limit, offset=offset
    )
    return PageOut(
        items=[MaintenanceOut.of(r) for r in items], total=total, limit=limit, offset=offset
    )


@router.get("/{window_id}", summary="Get one maintenance window")
def get_window(session: SessionDep, _token: ReadAccess, window_id: RowId) -> MaintenanceOut:
    """The window, or 404."""
    record = repo.get_window(session, window_id)
    if record is None:
        raise _not_found(window_id)
    return MaintenanceOut.of(record)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a maintenance window")
def create_window(session: SessionDep, _token: WriteAccess, body: MaintenanceIn) -> MaintenanceOut:
    """Store a window; 422 when the device does not exist. Late windows mark SLAs dirty at
    the next KQI run (the period is recomputed from scratch every run)."""
    try:
        record = repo.create_window(session, body.record())
    except repo.UnknownScopeError as exc:
        raise _unknown(exc) from exc
    session.commit()
    return MaintenanceOut.of(record)


@router.put("/{window_id}", summary="Replace a maintenance window")
def update_window(
    session: SessionDep, _token: WriteAccess, window_id: RowId, body: MaintenanceIn
) -> MaintenanceOut:
    """Replace every field; 404 when the window does not exist."""
    try:
        record = repo.update_window(session, window_id, body.record())
    except repo.UnknownScopeError as exc:
        raise _unknown(exc) from exc
    if record is None:
        raise _not_found(window_id)
    session.commit()
    return MaintenanceOut.of(record)


@router.delete(
    "/{window_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a maintenance window"
)
def delete_window(session: SessionDep, _token: WriteAccess, window_id: RowId) -> Response:
    """Delete; 404 when the window does not exist."""
    if not repo.delete_window(session, window_id):
        raise _not_found(window_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
