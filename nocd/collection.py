"""District collection: inventory → SNMP poller → storage, for roles ``all`` and ``district``.

The poller (``collectors.poller``) decides when; this module supplies *how* (discovery, the
profile's tables, the pysnmp engine) and *where to* (one storage write per device poll, off
the event loop). A database outage never stops polling: results wait in a bounded buffer
and are written, oldest first, once the database is back.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from collectors.device_poll import DevicePoll, poll_device
from collectors.discovery import discover
from collectors.engine import SnmpClient, SnmpTarget
from collectors.fast_client import FastSnmpClient
from collectors.measurements import measurements
from collectors.poller import DeviceState, Poller, PollJob, PollOutcome, PollSettings
from collectors.ports import PortInfo, port_inventory
from collectors.profiles import DeviceProfile, MibTable
from collectors.profiles.base import Schedule
from collectors.reader import RoutingReader
from nocd.config import PollConfig, Role, Settings
from nocd.errors import StorageUnavailable
from nocd.metrics import PollMetrics
from nocd.storage import inventory_repo, poll_repo
from nocd.storage.inventory_repo import DeviceRecord

__all__ = ["Collection", "device_target", "jobs_for"]

_logger = logging.getLogger(__name__)

PENDING_MAX = 50_000  # poll results held while the database is down (oldest dropped first)
INVENTORY_PAGE = 10_000
INVENTORY_RETRY_S = 10.0  # how often to retry loading the inventory while the database is down

# Schedule classes → the tables each one walks (intersected with the device's profile).
SCHEDULE_TABLES: dict[str, frozenset[MibTable]] = {
    "interfaces": frozenset({MibTable.IF, MibTable.HOST_RESOURCES}),
    "dsl": frozenset({MibTable.IF_STACK, MibTable.ADSL, MibTable.VDSL2}),
    "pm15": frozenset({MibTable.IF_STACK, MibTable.ADSL_INTERVALS, MibTable.VDSL2_INTERVALS}),
}
DISCOVERY = "discovery"


def device_target(device: DeviceRecord, config: PollConfig) -> SnmpTarget:
    """The SNMP target of an inventory device (secrets unwrapped only here)."""
    snmp = device.snmp

    def secret(value: object) -> str:
        return value.get_secret_value() if hasattr(value, "get_secret_value") else ""

    return SnmpTarget(
        host=device.address,
        port=device.port,
        version=snmp.version.value,
        community=secret(snmp.community),
        user=snmp.user or "",
        auth_protocol=snmp.auth_protocol.value if snmp.auth_protocol else None,
        auth_key=secret(snmp.auth_key),
        priv_protocol=snmp.priv_protocol.value if snmp.priv_protocol else None,
        priv_key=secret(snmp.priv_key),
        timeout_s=config.timeout_s,
        retries=config.retries,
    )


def _intervals(config: PollConfig) -> dict[str, float]:
    """Seconds between polls per class: config overrides, else the profile defaults."""
    hints = Schedule()
    return {
        "interfaces": config.interfaces_s or hints.interfaces_s,
        "dsl": config.dsl_lines_s or hints.dsl_lines_s,
        "pm15": config.dsl_intervals_s or hints.dsl_intervals_s,
        DISCOVERY: config.discovery_s,
    }


def jobs_for(
    device: str, district: str, config: PollConfig, profile: DeviceProfile | None = None
) -> list[PollJob]:
    """A device's recurring polls.

    Before discovery only ``interfaces`` (its first run discovers); once the profile is
    known, every class it has tables for, plus rediscovery. Only classes that talk to the
    device exist, so every successful poll is proof of life.
    """
    intervals = _intervals(config)
    names = ["interfaces"]
    if profile is not None:
        names = [
            name
            for name, tables in SCHEDULE_TABLES.items()
            if (tables - {MibTable.IF_STACK}) & profile.tables
        ] + [DISCOVERY]
    return [
        PollJob(device=device, district=district, schedule=name, interval_s=intervals[name])
        for name in names
    ]


@dataclass(slots=True)
class _Known:
    """What the collection remembers about one device between polls."""

    target: SnmpTarget
    profile: DeviceProfile | None = None
    last_interfaces: DevicePoll | None = None
    ports: list[PortInfo] | None = None  # as last written to the ``ports`` table


@dataclass(slots=True)
class _Result:
    record: poll_repo.PollRecord
    poll: DevicePoll | None = None
    ports: list[PortInfo] | None = None  # set when the device's port list changed


@dataclass(slots=True)
class Collection:
    """Polls this process's devices until cancelled; see the module docstring."""

    settings: Settings
    sessions: Callable[[], Session]
    metrics: PollMetrics
    wall_clock: Callable[[], float] = time.time
    # Storage writes; role ``district`` passes the outbox's, which also queue a copy for
    # central in the same transaction (nocd.outbox).
    store_poll: Callable[..., object] = poll_repo.store_poll
    record_state: Callable[..., object] = poll_repo.record_state
    sync_ports: Callable[..., object] = poll_repo.sync_ports
    _known: dict[str, _Known] = field(default_factory=dict)
    _pending: collections.deque[Callable[[Session], object]] = field(
        default_factory=lambda: collections.deque(maxlen=PENDING_MAX)
    )
    _storage_down: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _background: set[asyncio.Task[None]] = field(default_factory=set)
    poller: Poller[_Result] | None = None
    _client: SnmpClient | None = None  # pysnmp: discovery and SNMPv3
    _reader: RoutingReader | None = None  # polls: v1/v2c fast path, v3 through pysnmp

    @property
    def district(self) -> str | None:
        """The district polled, or None for every district (role ``all`` without one)."""
        return self.settings.daemon.district

    def enabled(self) -> bool:
        """Whether this process polls at all."""
        return self.settings.poll.enabled and self.settings.daemon.role is not Role.CENTRAL

    async def run(self) -> None:
        """Load the inventory (retrying while the database is down), then poll until cancelled."""
        while True:
            try:
                devices = await asyncio.to_thread(self._load_devices)
                break
            except (SQLAlchemyError, StorageUnavailable) as exc:
                _logger.error("collection waits for the database: %s", exc)
                await asyncio.sleep(INVENTORY_RETRY_S)
        _logger.info(
            "collection starting: %d devices%s",
            len(devices),
            f" in district {self.district}" if self.district else "",
        )
        config = self.settings.poll
        async with (
            await SnmpClient.create() as client,
            await FastSnmpClient.create(max_in_flight=config.max_in_flight) as fast,
        ):
            self._client = client
            self._reader = RoutingReader(client, fast)
            for device in devices:
                self._known[device.name] = _Known(target=device_target(device, config))
            self.poller = Poller(
                [job for d in devices for job in jobs_for(d.name, d.district, config)],
                poll=self._poll,
                sink=self._sink,
                observer=self,
                settings=PollSettings(
                    max_concurrent=config.max_concurrent,
                    deadline_s=config.deadline_s,
                    down_after_s=config.down_after_s,
                    backoff_max_s=config.backoff_max_s,
                ),
            )
            try:
                await self.poller.run()
            finally:
                if self._background:
                    await asyncio.gather(*self._background, return_exceptions=True)

    # -- inventory ---------------------------------------------------------------------
    def _load_devices(self) -> list[DeviceRecord]:
        with self.sessions() as session:
            page = inventory_repo.list_devices(
                session, district=self.district, limit=INVENTORY_PAGE
            )
            devices = list(page.items)
            while len(devices) < page.total:
                page = inventory_repo.list_devices(
                    session, district=self.district, limit=INVENTORY_PAGE, offset=len(devices)
                )
                devices.extend(page.items)
        return devices

    # -- one poll ----------------------------------------------------------------------
    async def _poll(self, job: PollJob) -> _Result:
        assert self._client is not None, "run() creates the client before polling"
        known = self._known[job.device]
        if known.profile is None or job.schedule == DISCOVERY:
            found = await discover(self._client, known.target)
            if known.profile is None:
                self._schedule_discovered(job, found.profile)
            elif found.profile.name != known.profile.name:
                # Firmware upgrades change what a device answers; new classes wait for a restart.
                _logger.info(
                    "device %s: profile changed %s → %s",
                    job.device,
                    known.profile.name,
                    found.profile.name,
                )
            known.profile = found.profile
        profile = known.profile
        if job.schedule == DISCOVERY:
            return self._result(job, None, profile)
        tables = SCHEDULE_TABLES[job.schedule] & profile.tables
        assert self._reader is not None, "run() creates the reader before polling"
        poll = await poll_device(self._reader, known.target, profile, tables=tables)
        prev, ports = None, None
        if job.schedule == "interfaces":
            prev, known.last_interfaces = known.last_interfaces, poll
            current = port_inventory(poll.interfaces)
            if current != known.ports:
                ports = known.ports = current
        result = self._result(job, poll, profile, prev)
        result.ports = ports
        return result

    def _schedule_discovered(self, job: PollJob, profile: DeviceProfile) -> None:
        """After the first discovery: the profile's other classes now, rediscovery later."""
        assert self.poller is not None, "run() creates the poller before polling"
        later = jobs_for(job.device, job.district, self.settings.poll, profile)
        self.poller.add_jobs([j for j in later if j.schedule not in (DISCOVERY, job.schedule)])
        self.poller.add_jobs(
            [j for j in later if j.schedule == DISCOVERY], delay_s=self.settings.poll.discovery_s
        )

    def _result(
        self,
        job: PollJob,
        poll: DevicePoll | None,
        profile: DeviceProfile,
        prev: DevicePoll | None = None,
    ) -> _Result:
        values = (
            [(m.entity, m.metric, m.value) for m in measurements(poll, prev)] if poll else []
        )
        return _Result(
            record=poll_repo.PollRecord(
                device=job.device,
                at=int(self.wall_clock()),
                outcome=PollOutcome.OK.value,
                profile=profile.name,
                sys_uptime_ticks=poll.system.sys_uptime_ticks if poll else None,
                values=values,
            ),
            poll=poll,
        )

    # -- storage -----------------------------------------------------------------------
    async def _sink(self, job: PollJob, result: _Result) -> None:
        record, ports = result.record, result.ports

        def write(session: Session) -> None:
            self.store_poll(session, record=record)
            if ports is not None:
                self.sync_ports(session, device=record.device, ports=ports)

        await asyncio.to_thread(self._write, write)

    def _write(self, write: Callable[[Session], object]) -> None:
        """Run ``write`` after anything still pending; on a database outage, keep it queued.

        Writes are serialised (one lock) so that they reach the database in order.
        """
        with self._lock:
            if len(self._pending) == self._pending.maxlen:
                _logger.error(
                    "database unavailable for too long: dropping the oldest result (%d held)",
                    PENDING_MAX,
                )
            self._pending.append(write)
            try:
                with self.sessions() as session:
                    while self._pending:
                        try:
                            self._pending[0](session)
                        except poll_repo.UnknownDeviceError as exc:
                            session.rollback()
                            _logger.warning("device %s left the inventory: result dropped", exc)
                        else:
                            session.commit()
                        self._pending.popleft()
            except (SQLAlchemyError, StorageUnavailable) as exc:
                if not self._storage_down:
                    _logger.error("cannot store poll results (kept for retry): %s", exc)
                self._storage_down = True
                return
            if self._storage_down:
                _logger.info("storage is back: held poll results written")
                self._storage_down = False

    # -- PollObserver --------------------------------------------------------------------
    def poll_finished(
        self, job: PollJob, outcome: PollOutcome, duration_s: float, reason: str
    ) -> None:
        """Metrics for every poll; a failed poll still updates the device's status row."""
        self.metrics.poll_finished(job, outcome, duration_s, reason)
        if outcome not in (PollOutcome.OK, PollOutcome.SKIPPED):
            record = poll_repo.PollRecord(
                device=job.device, at=int(self.wall_clock()), outcome=outcome.value, reason=reason
            )
            write = partial(self.store_poll, record=record)
            self._spawn(asyncio.to_thread(self._write, write))

    def state_changed(self, job: PollJob, old: DeviceState, new: DeviceState, at: float) -> None:
        """Metrics and the device timeline (``device_state_events``)."""
        self.metrics.state_changed(job, old, new, at)
        failed = new is not DeviceState.UP and self.poller is not None
        reason = self.poller.reason(job.device) if failed and self.poller else ""
        write = partial(
            self.record_state,
            device=job.device,
            state=new.value,
            at=int(self.wall_clock()),
            reason=reason,
        )
        self._spawn(asyncio.to_thread(self._write, write))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
