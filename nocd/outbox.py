"""District → central transport: the durable outbox writer and the forwarder task.

    outbox = Outbox(district="xihu", sessions=sessions, limits=limits)
    Collection(..., store_poll=outbox.store_poll, record_state=outbox.record_state)
    await Forwarder(outbox, settings.central, metrics).run()     # until cancelled

``Outbox.store_poll`` / ``record_state`` have the signatures of their ``poll_repo``
namesakes: they make the local write and enqueue its copy in the same transaction, so a
crash can lose neither alone. The forwarder sends the oldest items in order, in batches, to
central's ``POST /api/v1/ingest`` and deletes only what central acknowledged; a batch sent
twice (crash after central applied it, before the delete) is ignored by central, which
keeps a high-water mark per (district, epoch).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import httpx
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from collectors.ports import PortInfo
from nocd import __version__
from nocd.config import CentralSettings
from nocd.errors import DeliveryFailed, StorageUnavailable
from nocd.metrics import OutboxMetrics
from nocd.storage import outbox_repo, poll_repo
from nocd.storage.outbox_repo import Dropped, OutboxLimits, Pending
from nocd.storage.poll_repo import PollRecord

__all__ = ["INGEST_PATH", "Forwarder", "Outbox", "encode_batch", "limits_of"]

_logger = logging.getLogger(__name__)

INGEST_PATH = "/api/v1/ingest"
PURGE_INTERVAL_S = 60.0  # how often the retention limit is applied
_STORAGE_RETRY_S = 5.0

T = TypeVar("T")


class _SendFailed(DeliveryFailed):
    """Raised by one POST to central; ``reason`` labels ``nocd_outbox_send_failures_total``."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # unreachable | unavailable | refused | rejected


def limits_of(config: CentralSettings) -> OutboxLimits:
    """The outbox quota from ``[central]``."""
    return OutboxLimits(quota_items=config.quota_items, quota_bytes=config.quota_mb * 1024 * 1024)


def _log_dropped(dropped: Dropped) -> None:
    _logger.error(
        "OUTBOX DATA LOST: dropped %d unsent items (%d bytes, sequences %d..%d) because of "
        "the %s limit; central will never receive them",
        dropped.items,
        dropped.bytes,
        dropped.first_seq,
        dropped.last_seq,
        dropped.reason,
    )


@dataclass(slots=True)
class Outbox:
    """The district's outbox: local writes that also enqueue their copy for central."""

    district: str
    sessions: Callable[[], Session]
    limits: OutboxLimits

    def ensure(self) -> str:
        """Create the outbox counters if this database has none yet; return the epoch."""
        with self.sessions() as session, session.begin():
            return outbox_repo.ensure_outbox(session, district=self.district)

    def store_poll(self, session: Session, *, record: PollRecord) -> int:
        """``poll_repo.store_poll`` plus its outbox item, in the caller's transaction."""
        stored = poll_repo.store_poll(session, record=record)
        values = [[e, m, v] for e, m, v in record.values if math.isfinite(v)]
        payload = {
            "device": record.device,
            "at": record.at,
            "outcome": record.outcome,
            "reason": record.reason,
            "profile": record.profile,
            "sys_uptime_ticks": record.sys_uptime_ticks,
            "values": values,
        }
        self._enqueue(session, "poll", payload, record.at)
        return stored

    def record_state(
        self, session: Session, *, device: str, state: str, at: int, reason: str = ""
    ) -> None:
        """``poll_repo.record_state`` plus its outbox item, in the caller's transaction."""
        poll_repo.record_state(session, device=device, state=state, at=at, reason=reason)
        payload = {"device": device, "state": state, "at": at, "reason": reason}
        self._enqueue(session, "state", payload, at)

    def sync_ports(self, session: Session, *, device: str, ports: Sequence[PortInfo]) -> int:
        """``poll_repo.sync_ports`` plus its outbox item (central's KQIs need the uplinks)."""
        changed = poll_repo.sync_ports(session, device=device, ports=ports)
        rows = [[p.ifindex, p.name, p.description, p.speed_bps, p.is_uplink] for p in ports]
        at = int(time.time())
        self._enqueue(session, "ports", {"device": device, "at": at, "ports": rows}, at)
        return changed

    def enqueue_snapshot(self, at: int) -> int:
        """Queue every local device verdict for central (after it marked us silent)."""
        with self.sessions() as session, session.begin():
            states = [
                [status.device, status.state, status.reason]
                for status in poll_repo.device_statuses(session, district=self.district)
            ]
            return self._enqueue(session, "snapshot", {"at": at, "states": states}, at)

    def _enqueue(self, session: Session, kind: str, payload: dict[str, object], at: int) -> int:
        text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
        seq, dropped = outbox_repo.enqueue(
            session, district=self.district, kind=kind, payload=text, at=at, limits=self.limits
        )
        if dropped is not None:
            _log_dropped(dropped)
        return seq


def encode_batch(district: str, epoch: str, items: list[Pending]) -> bytes:
    """The JSON body of ``POST /api/v1/ingest``, spliced from the stored payloads.

    Payloads are JSON objects already; re-parsing megabytes of them only to serialise them
    again would cost more than the HTTP request.
    """
    parts = [
        f'{{"seq":{item.seq:d},"created_at":{item.created_at:d},'
        f'"kind":{json.dumps(item.kind)},{item.payload[1:]}'
        for item in items
    ]
    head = json.dumps({"district": district, "epoch": epoch}, separators=(",", ":"))
    return (head[:-1] + ',"items":[' + ",".join(parts) + "]}").encode("utf-8")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Answer:
    acked_seq: int
    resync: bool


class Forwarder:
    """Sends the outbox to central until cancelled; see the module docstring."""

    def __init__(
        self,
        outbox: Outbox,
        config: CentralSettings,
        metrics: OutboxMetrics,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        assert config.url is not None and config.token is not None, "checked by load_settings"
        self._outbox = outbox
        self._config = config
        self._metrics = metrics
        self._transport = transport
        self._wall_clock = wall_clock
        self._epoch = ""
        self._failing: str | None = None  # the reason of the current delivery outage
        self._snapshot_seq: int | None = None  # a snapshot queued and not yet acknowledged
        self._last_purge = -math.inf
        self._last_sent = -math.inf

    async def run(self) -> None:
        """Forward until cancelled; a cancelled send is simply sent again next time."""
        config = self._config
        assert config.url is not None and config.token is not None
        self._epoch = await self._storage(self._outbox.ensure)
        headers = {
            "Authorization": f"Bearer {config.token.get_secret_value()}",
            "Content-Type": "application/json",
            "User-Agent": f"nocd/{__version__} district {self._outbox.district}",
        }
        _logger.info("forwarding district %s to %s", self._outbox.district, config.url)
        delay = 0.0
        async with httpx.AsyncClient(
            base_url=config.url,
            headers=headers,
            timeout=config.timeout_s,
            transport=self._transport,
        ) as client:
            while True:
                if time.monotonic() - self._last_purge >= PURGE_INTERVAL_S:
                    await self._storage(self._purge)
                    self._last_purge = time.monotonic()
                batch = await self._storage(self._next_batch)
                idle = time.monotonic() - self._last_sent < config.heartbeat_s
                if not batch and idle:
                    await asyncio.sleep(config.flush_interval_s)
                    continue
                try:
                    answer = await self._send(client, batch)
                except _SendFailed as exc:
                    delay = self._backoff(delay, exc)
                    await asyncio.sleep(delay)
                    continue
                delay = 0.0
                self._last_sent = time.monotonic()
                await self._storage(partial(self._acknowledge, answer))
                if config.send_interval_s and batch:
                    await asyncio.sleep(config.send_interval_s)

    # -- storage (off the event loop, retried while the database is away) ---------------
    async def _storage(self, call: Callable[[], T]) -> T:
        while True:
            try:
                return await asyncio.to_thread(call)
            except (SQLAlchemyError, StorageUnavailable) as exc:
                _logger.error("outbox storage unavailable (retrying): %s", exc)
                await asyncio.sleep(_STORAGE_RETRY_S)

    def _next_batch(self) -> list[Pending]:
        with self._outbox.sessions() as session:
            return outbox_repo.next_batch(
                session, max_items=self._config.batch_items, max_bytes=self._config.batch_bytes
            )

    def _purge(self) -> None:
        cutoff = int(self._wall_clock() - self._config.retention_h * 3600)
        with self._outbox.sessions() as session, session.begin():
            dropped = outbox_repo.purge_older_than(
                session, district=self._outbox.district, cutoff=cutoff
            )
        if dropped is not None:
            _log_dropped(dropped)

    def _acknowledge(self, answer: _Answer) -> None:
        with self._outbox.sessions() as session, session.begin():
            done = outbox_repo.acknowledge(
                session, district=self._outbox.district, upto_seq=answer.acked_seq
            )
        self._metrics.sent.inc(done)
        if self._snapshot_seq is not None and answer.acked_seq >= self._snapshot_seq:
            self._snapshot_seq = None
        if answer.resync and self._snapshot_seq is None:
            self._snapshot_seq = self._outbox.enqueue_snapshot(int(self._wall_clock()))
            _logger.info("central asked for our device states: snapshot queued")

    # -- HTTP ------------------------------------------------------------------------------
    async def _send(self, client: httpx.AsyncClient, batch: list[Pending]) -> _Answer:
        body = encode_batch(self._outbox.district, self._epoch, batch)
        try:
            response = await client.post(INGEST_PATH, content=body)
        except httpx.HTTPError as exc:
            message = f"central unreachable: {type(exc).__name__}: {exc}"
            raise _SendFailed(message, "unreachable") from exc
        if response.status_code != 200:
            detail = response.text[:500]
            reason = "refused" if response.status_code in (401, 403) else "rejected"
            if response.status_code >= 500 or response.status_code == 429:
                reason = "unavailable"
            raise _SendFailed(f"central answered HTTP {response.status_code}: {detail}", reason)
        try:
            data = response.json()
            answer = _Answer(acked_seq=int(data["acked_seq"]), resync=bool(data["resync"]))
        except (ValueError, KeyError, TypeError) as exc:
            message = f"central answered garbage: {response.text[:200]}"
            raise _SendFailed(message, "rejected") from exc
        if self._failing is not None:
            _logger.info("central reachable again: forwarding the backlog")
            self._failing = None
        return answer

    def _backoff(self, delay: float, exc: _SendFailed) -> float:
        """Log the first failure of an outage (ERROR when an operator must act); next delay."""
        reason = exc.reason
        self._metrics.failures.labels(reason).inc()
        if self._failing != reason:
            if reason in ("refused", "rejected"):
                # A wrong token or a batch central will not take: retrying will not fix it.
                _logger.error("outbox delivery failing, data kept (operator action): %s", exc)
            else:
                _logger.warning("outbox delivery failing, data kept for retry: %s", exc)
            self._failing = reason
        ceiling = self._config.retry_max_s
        if reason in ("refused", "rejected"):
            return ceiling
        grown = max(self._config.flush_interval_s, delay * 2)
        return min(ceiling, grown) * random.uniform(0.8, 1.2)  # jitter
