"""``POST /api/v1/ingest``: central receives a district's outbox batches.

Only a ``district`` token bound to the batch's district may send. A batch is validated whole
(422 naming the field, nothing written), then applied in one transaction with the district's
new high-water mark: items at or below the mark are resends and are skipped, so sending a
batch twice is harmless. The answer tells the district what it may delete (``acked_seq``)
and whether central wants a snapshot of its device states (``resync``).
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, model_validator

from collectors.ports import PortInfo
from nocd.api.deps import SessionDep, require_role
from nocd.metrics import IngestMetrics
from nocd.storage import district_repo, kpi_repo
from nocd.storage.district_repo import IngestRecord, PortsChange, Snapshot, StateChange
from nocd.storage.poll_repo import PollRecord
from nocd.storage.tokens import TokenRecord, TokenRole

__all__ = ["MAX_BATCH_ITEMS", "IngestBatch", "IngestResponse", "router"]

MAX_BATCH_ITEMS = 5000
MAX_VALUES = 200_000  # values in one poll item (a 2,000-line DSLAM × 100 metrics)
MAX_STATES = 100_000  # devices in one snapshot
MAX_PORTS = 10_000  # ports of one device

router = APIRouter(prefix="/api/v1", tags=["two tiers"])

DistrictId = Annotated[str, Field(min_length=1, max_length=64)]
DeviceName = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(max_length=4000)]
Epoch = Annotated[int, Field(ge=0, le=2**53)]
DeviceState = Literal["up", "down", "unknown"]
Entity = Annotated[str, Field(min_length=1, max_length=32)]
MetricName = Annotated[str, Field(min_length=1, max_length=64)]


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=1, le=2**62)
    created_at: Epoch


class PollItem(_Item):
    """One device poll: status bookkeeping and its samples (``[entity, metric, value]``)."""

    kind: Literal["poll"]
    device: DeviceName
    at: Epoch
    outcome: str = Field(min_length=1, max_length=16)
    reason: Reason = ""
    profile: str | None = Field(default=None, max_length=100)
    sys_uptime_ticks: int | None = Field(default=None, ge=0, le=2**63 - 1)
    values: list[tuple[Entity, MetricName, FiniteFloat]] = Field(
        default_factory=list, max_length=MAX_VALUES
    )

    def record(self) -> PollRecord:
        """The storage form."""
        return PollRecord(
            device=self.device,
            at=self.at,
            outcome=self.outcome,
            reason=self.reason,
            profile=self.profile,
            sys_uptime_ticks=self.sys_uptime_ticks,
            values=self.values,
        )


class StateItem(_Item):
    """A change of one device's verdict at the district."""

    kind: Literal["state"]
    device: DeviceName
    state: DeviceState
    at: Epoch
    reason: Reason = ""

    def record(self) -> StateChange:
        """The storage form."""
        return StateChange(device=self.device, state=self.state, at=self.at, reason=self.reason)


class SnapshotItem(_Item):
    """Every device verdict at the district (``[device, state, reason]``), sent on request."""

    kind: Literal["snapshot"]
    at: Epoch
    states: list[tuple[DeviceName, DeviceState, Reason]] = Field(max_length=MAX_STATES)

    def record(self) -> Snapshot:
        """The storage form."""
        return Snapshot(at=self.at, states=self.states)


PortName = Annotated[str, Field(max_length=200)]
PortRow = tuple[
    Annotated[int, Field(ge=0, le=2**31 - 1)],  # ifIndex
    PortName | None,  # ifName
    Annotated[str, Field(max_length=4000)] | None,  # ifAlias or ifDescr
    Annotated[int, Field(ge=0, le=2**63 - 1)] | None,  # speed, bit/s
    bool,  # an uplink by the operator's naming
]


class PortsItem(_Item):
    """The ports of one device as its last interface walk found them (after a change)."""

    kind: Literal["ports"]
    device: DeviceName
    at: Epoch
    ports: list[PortRow] = Field(max_length=MAX_PORTS)

    def record(self) -> PortsChange:
        """The storage form."""
        return PortsChange(
            device=self.device,
            at=self.at,
            ports=tuple(
                PortInfo(ifindex=i, name=n, description=d, speed_bps=s, is_uplink=u)
                for i, n, d, s, u in self.ports
            ),
        )


Item = Annotated[PollItem | StateItem | SnapshotItem | PortsItem, Field(discriminator="kind")]


class IngestBatch(BaseModel):
    """Items of one district's outbox in increasing sequence order; empty = heartbeat."""

    model_config = ConfigDict(extra="forbid")

    district: DistrictId
    epoch: str = Field(min_length=1, max_length=32)
    items: list[Item] = Field(max_length=MAX_BATCH_ITEMS)

    @model_validator(mode="after")
    def _increasing(self) -> IngestBatch:
        for before, after in zip(self.items, self.items[1:], strict=False):
            if after.seq <= before.seq:
                raise ValueError(f"items: sequence {after.seq} follows {before.seq}")
        return self


class IngestResponse(BaseModel):
    """What central did with the batch."""

    acked_seq: int = Field(description="the district may delete every item up to this one")
    applied: int
    duplicates: int = Field(description="items at or below the high-water mark (resends)")
    unknown_devices: int = Field(description="items for devices not in central's inventory")
    resync: bool = Field(description="central wants a snapshot of the district's states")


def _state_at(record: IngestRecord) -> int | None:
    """When a state change or snapshot took effect (``None`` for polls and ports)."""
    return record.at if isinstance(record, StateChange | Snapshot) else None


DistrictToken = Annotated[TokenRecord, Depends(require_role(TokenRole.DISTRICT))]


@router.post(
    "/ingest",
    summary="Receive a district's outbox batch",
    responses={403: {"description": "not a district token, or another district's"}},
)
def ingest(
    batch: IngestBatch, request: Request, session: SessionDep, token: DistrictToken
) -> IngestResponse:
    """Apply the batch once, in order, in one transaction (see the module docstring)."""
    if token.district != batch.district:
        bound = f"district {token.district}" if token.district else "no district"
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this token is bound to {bound}; it may not send for district {batch.district}",
        )
    items: list[tuple[int, IngestRecord]] = [(item.seq, item.record()) for item in batch.items]
    # The token lookup began the transaction; an exception leaves it to the session's
    # rollback on close, so a batch is applied wholly or not at all.
    result = district_repo.apply_batch(
        session, district=batch.district, epoch=batch.epoch, items=items, now=int(time.time())
    )
    # A district's backlog carries state changes from the past: KQI/SLA periods already
    # computed past the earliest one are stale (late samples are found by the rollups).
    # Items above the old high-water mark (the ones applied) are the batch's tail.
    fresh = items[result.duplicates :]
    changes = [at for _, record in fresh if (at := _state_at(record)) is not None]
    if result.came_back and (silent := kpi_repo.silent_since(session, batch.district)):
        changes.append(silent)  # its "unknown" placeholders give way to its own record
    if changes:
        kpi_repo.mark_dirty_from(session, min(changes))
    session.commit()
    metrics: IngestMetrics | None = getattr(request.app.state, "ingest_metrics", None)
    if metrics is not None:
        metrics.batch(
            batch.district,
            applied=result.applied,
            duplicate=result.duplicates,
            unknown_device=result.unknown_devices,
            missing=result.missing,
        )
    return IngestResponse(
        acked_seq=result.acked_seq,
        applied=result.applied,
        duplicates=result.duplicates,
        unknown_devices=result.unknown_devices,
        resync=result.resync,
    )
