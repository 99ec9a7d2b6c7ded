"""The district outbox in storage: enqueue beside the local write, read batches, acknowledge, bound.

    ensure_outbox(session, district="xihu")                 # once, at start-up
    enqueue(session, district="xihu", kind="poll", payload=json_text, at=now, limits=limits)
    batch = next_batch(session, max_items=500, max_bytes=4 << 20)
    acknowledge(session, district="xihu", upto_seq=batch[-1].seq)

Every function works in the caller's transaction. ``enqueue`` is called in the *same*
transaction as the write it mirrors, so the local row and its outbox item commit together or
not at all (a SIGKILL between them cannot lose one). The counters in ``outbox_state`` are
updated in that transaction too: the sequence is never reused, and the backlog size is known
without counting rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from nocd.storage.models import OutboxItem, OutboxState

__all__ = [
    "Dropped",
    "OutboxLimits",
    "OutboxStats",
    "Pending",
    "acknowledge",
    "enqueue",
    "ensure_outbox",
    "next_batch",
    "outbox_stats",
    "purge_older_than",
]

_DROP_CHUNK = 1000  # rows inspected per round when the quota forces the oldest out
_DROP_TO = 0.95  # a full outbox drops down to this share of its quota, not one row a write


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxLimits:
    """How big the backlog may grow before the oldest items are dropped."""

    quota_items: int
    quota_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Pending:
    """One outbox item as the forwarder sends it."""

    seq: int
    created_at: int
    kind: str
    payload: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Dropped:
    """Items removed without being sent: how many, which sequences and why."""

    items: int
    bytes: int
    first_seq: int
    last_seq: int
    reason: str  # "quota" or "retention"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxStats:
    """The backlog: items and payload bytes waiting, the oldest one's time, drops ever."""

    epoch: str
    items: int
    bytes: int
    oldest_created_at: int | None
    dropped: int
    next_seq: int


def ensure_outbox(session: Session, *, district: str) -> str:
    """Create the district's counter row if missing; return the outbox epoch."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(OutboxState).values(
        district=district, epoch=uuid.uuid4().hex, next_seq=1, items=0, bytes=0, dropped=0
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["district"]))
    epoch = session.scalar(select(OutboxState.epoch).where(OutboxState.district == district))
    assert epoch is not None, "the row was just inserted or already there"
    return epoch


def enqueue(
    session: Session, *, district: str, kind: str, payload: str, at: int, limits: OutboxLimits
) -> tuple[int, Dropped | None]:
    """Append one item; return its sequence and what the quota pushed out, if anything.

    The counter row is updated first: on PostgreSQL that row lock orders concurrent
    writers, so sequences commit in order; SQLite has one writer anyway.
    """
    size = len(payload.encode("utf-8"))
    row = session.execute(
        update(OutboxState)
        .where(OutboxState.district == district)
        .values(
            next_seq=OutboxState.next_seq + 1,
            items=OutboxState.items + 1,
            bytes=OutboxState.bytes + size,
        )
        .returning(OutboxState.next_seq, OutboxState.items, OutboxState.bytes)
    ).one_or_none()
    if row is None:
        ensure_outbox(session, district=district)
        return enqueue(
            session, district=district, kind=kind, payload=payload, at=at, limits=limits
        )
    next_seq, items, total = row
    seq = next_seq - 1
    session.add(OutboxItem(seq=seq, created_at=at, kind=kind, payload=payload, size=size))
    session.flush()
    dropped = None
    if items > limits.quota_items or total > limits.quota_bytes:
        dropped = _drop_oldest(session, district, items, total, limits)
    return seq, dropped


def _drop_oldest(
    session: Session, district: str, items: int, total: int, limits: OutboxLimits
) -> Dropped | None:
    """Delete the oldest items until the backlog is under ``_DROP_TO`` of both quotas."""
    keep_items = int(limits.quota_items * _DROP_TO)
    keep_bytes = int(limits.quota_bytes * _DROP_TO)
    gone_items = gone_bytes = 0
    first = last = None
    while items - gone_items > keep_items or total - gone_bytes > keep_bytes:
        rows = session.execute(
            select(OutboxItem.seq, OutboxItem.size)
            .where(OutboxItem.seq > (last if last is not None else -1))
            .order_by(OutboxItem.seq)
            .limit(_DROP_CHUNK)
        ).all()
        if not rows:
            break
        for seq, size in rows:
            if items - gone_items <= keep_items and total - gone_bytes <= keep_bytes:
                break
            first = seq if first is None else first
            last = seq
            gone_items += 1
            gone_bytes += size
    if first is None or last is None:
        return None
    session.execute(delete(OutboxItem).where(OutboxItem.seq <= last))
    _count(session, district, -gone_items, -gone_bytes, dropped=gone_items)
    return Dropped(
        items=gone_items, bytes=gone_bytes, first_seq=first, last_seq=last, reason="quota"
    )


def _count(session: Session, district: str, items: int, size: int, *, dropped: int = 0) -> None:
    session.execute(
        update(OutboxState)
        .where(OutboxState.district == district)
        .values(
            items=OutboxState.items + items,
            bytes=OutboxState.bytes + size,
            dropped=OutboxState.dropped + dropped,
        )
    )


def next_batch(session: Session, *, max_items: int, max_bytes: int) -> list[Pending]:
    """The oldest items in sequence order: ``max_items`` at most, ``max_bytes`` past the first."""
    rows = session.execute(
        select(OutboxItem.seq, OutboxItem.created_at, OutboxItem.kind, OutboxItem.payload)
        .order_by(OutboxItem.seq)
        .limit(max_items)
    ).all()
    batch: list[Pending] = []
    size = 0
    for seq, created_at, kind, payload in rows:
        size += len(payload)
        if batch and size > max_bytes:
            break
        batch.append(Pending(seq=seq, created_at=created_at, kind=kind, payload=payload))
    return batch


def acknowledge(session: Session, *, district: str, upto_seq: int) -> int:
    """Delete every item up to ``upto_seq`` (central has applied them); return how many.

    DELETE … RETURNING counts exactly the rows this statement removed, even if the quota
    dropped some of them concurrently.
    """
    sizes = session.scalars(
        delete(OutboxItem).where(OutboxItem.seq <= upto_seq).returning(OutboxItem.size)
    ).all()
    if sizes:
        _count(session, district, -len(sizes), -sum(sizes))
    return len(sizes)


def purge_older_than(session: Session, *, district: str, cutoff: int) -> Dropped | None:
    """Drop unsent items written before ``cutoff`` (epoch seconds): the retention limit."""
    oldest = session.scalar(select(OutboxItem.created_at).order_by(OutboxItem.seq).limit(1))
    if oldest is None or oldest >= cutoff:
        return None  # the common case costs one primary-key read
    rows = session.execute(
        delete(OutboxItem)
        .where(OutboxItem.created_at < cutoff)
        .returning(OutboxItem.seq, OutboxItem.size)
    ).all()
    if not rows:
        return None
    gone_bytes = sum(size for _, size in rows)
    _count(session, district, -len(rows), -gone_bytes, dropped=len(rows))
    seqs = [seq for seq, _ in rows]
    return Dropped(
        items=len(rows),
        bytes=gone_bytes,
        first_seq=min(seqs),
        last_seq=max(seqs),
        reason="retention",
    )


def outbox_stats(session: Session, *, district: str) -> OutboxStats | None:
    """The backlog of ``district``'s outbox, or ``None`` before the first ``ensure_outbox``."""
    state = session.execute(
        select(
            OutboxState.epoch,
            OutboxState.items,
            OutboxState.bytes,
            OutboxState.dropped,
            OutboxState.next_seq,
        ).where(OutboxState.district == district)
    ).one_or_none()
    if state is None:
        return None
    oldest = session.scalar(select(OutboxItem.created_at).order_by(OutboxItem.seq).limit(1))
    epoch, items, size, dropped, next_seq = state
    return OutboxStats(
        epoch=epoch,
        items=items,
        bytes=size,
        oldest_created_at=oldest,
        dropped=dropped,
        next_seq=next_seq,
    )
