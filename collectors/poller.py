"""The async poll loop: per-class schedules, one poll per device at a time, deadlines, backoff.

The poller decides *when* to poll and *what state* a device is in; *how* to poll one device
(``poll``) and where results go (``sink``) are injected, so the same loop drives the pysnmp
engine, the v2c fast path and test doubles of the agent. It never writes storage inline: the
sink receives one whole device result per poll (NAV fills containers and saves once per job).

Device state has three values. ``down`` is a verdict about the device: its polls failed for
longer than the grace period. ``unknown`` is nocd admitting it could not judge: the collector
was overloaded (a poll could not even start within its interval) or it was told it is blind
(``mark_blind``, e.g. the district link is lost). Unknown is never counted as downtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from collectors.errors import CollectorError, DeviceUnreachable

__all__ = [
    "DeviceState",
    "PollJob",
    "PollObserver",
    "PollOutcome",
    "PollSettings",
    "Poller",
]

_logger = logging.getLogger(__name__)

ResultT = TypeVar("ResultT")


class DeviceState(StrEnum):
    """Reachability verdict for one device."""

    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


class PollOutcome(StrEnum):
    """How one poll ended; the label of ``nocd_snmp_requests_total{result}``."""

    OK = "ok"
    TIMEOUT = "timeout"  # the per-poll deadline expired (slow or dead agent)
    UNREACHABLE = "unreachable"  # the engine gave up (no response, auth failure)
    ERROR = "error"  # the agent answered with an SNMP error or garbage
    SKIPPED = "skipped"  # due while the previous poll of the device was still running


@dataclass(frozen=True, slots=True, kw_only=True)
class PollJob:
    """One recurring poll: a device and a schedule class (``counters``, ``dsl``, ``pm15``…)."""

    device: str
    district: str
    schedule: str
    interval_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PollSettings:
    """Knobs of the poll loop (the ``[poll]`` config section feeds these).

    PollSettings(max_concurrent=64, deadline_s=20.0, down_after_s=60.0)
    """

    max_concurrent: int = 64
    deadline_s: float = 20.0  # whole-device budget per poll, all requests included
    down_after_s: float = 60.0  # grace period: failing this long turns a device down
    backoff_max_s: float = 600.0  # an unreachable device is retried at most this far apart
    # An interval in which a due poll could not start at all (all slots busy) makes the
    # verdict unknown rather than down: nocd was blind, not the device dead.


class PollObserver(Protocol):
    """Receives every poll's outcome and every state change (metrics, logs, alerting)."""

    def poll_finished(
        self, job: PollJob, outcome: PollOutcome, duration_s: float, reason: str
    ) -> None: ...

    def state_changed(
        self, job: PollJob, old: DeviceState, new: DeviceState, at: float
    ) -> None: ...


@dataclass(slots=True)
class _DeviceTrack:
    state: DeviceState = DeviceState.UNKNOWN
    first_failure_at: float | None = None
    consecutive_failures: int = 0
    in_flight: bool = False
    current: str = ""  # schedule class of the poll in flight
    last_reason: str = ""
    # Other schedule classes that fell due while a poll ran; they run right after it.
    pending: list[PollJob] = field(default_factory=list)


@dataclass(order=True, slots=True)
class _Due:
    at: float
    seq: int
    job: PollJob = field(compare=False)


class Poller(Generic[ResultT]):
    """Polls every job on its interval until cancelled; see the module docstring."""

    def __init__(
        self,
        jobs: Iterable[PollJob],
        *,
        poll: Callable[[PollJob], Awaitable[ResultT]],
        sink: Callable[[PollJob, ResultT], Awaitable[None]],
        observer: PollObserver | None = None,
        settings: PollSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._poll = poll
        self._sink = sink
        self._observer = observer
        self._settings = settings or PollSettings()
        self._clock = clock
        self._slots = asyncio.Semaphore(self._settings.max_concurrent)
        self._tracks: dict[str, _DeviceTrack] = {}
        self._queue: list[_Due] = []
        self._seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        now = clock()
        for job in jobs:
            self._tracks.setdefault(job.device, _DeviceTrack())
            self._push(now, job)

    # -- public surface -------------------------------------------------------------
    def state(self, device: str) -> DeviceState:
        """Current verdict for ``device``."""
        return self._tracks[device].state

    def reason(self, device: str) -> str:
        """Why the last failed poll of ``device`` failed ("" if it never failed)."""
        return self._tracks[device].last_reason

    def states(self) -> dict[str, DeviceState]:
        """Current verdict for every device."""
        return {name: track.state for name, track in self._tracks.items()}

    def mark_blind(self, devices: Iterable[str]) -> None:
        """nocd cannot judge these devices (e.g. district link lost): set them unknown."""
        now = self._clock()
        for device in devices:
            track = self._tracks.get(device)
            if track is not None:
                self._set_state(device, track, DeviceState.UNKNOWN, now, None)

    def add_jobs(self, jobs: Iterable[PollJob], *, delay_s: float = 0.0) -> None:
        """Schedule more jobs (after discovery, inventory changes), first due in ``delay_s``."""
        first_due = self._clock() + delay_s
        for job in jobs:
            self._tracks.setdefault(job.device, _DeviceTrack())
            self._push(first_due, job)
        self._wakeup.set()

    async def run(self) -> None:
        """Dispatch due polls forever; on cancellation, wait for in-flight polls to finish."""
        try:
            while True:
                await self._dispatch_due()
        finally:
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- scheduling ------------------------------------------------------------------
    def _push(self, at: float, job: PollJob) -> None:
        self._seq += 1
        heapq.heappush(self._queue, _Due(at, self._seq, job))

    async def _dispatch_due(self) -> None:
        if not self._queue:
            self._wakeup.clear()
            await self._wakeup.wait()
            return
        delay = self._queue[0].at - self._clock()
        if delay > 0:
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wakeup.wait()
            return
        due = heapq.heappop(self._queue)
        job, track = due.job, self._tracks[due.job.device]
        self._push(self._next_due(due.at, job, track), job)
        if track.in_flight:
            # Never two polls of one device at once. The same class falling due again means
            # the device is slower than its interval: skip (it keeps its own budget). Another
            # class waits and runs right after the poll in flight.
            if job.schedule == track.current or any(
                p.schedule == job.schedule for p in track.pending
            ):
                self._report(job, PollOutcome.SKIPPED, 0.0, "previous poll still running")
            else:
                track.pending.append(job)
            return
        if self._slots.locked():
            # Every slot is busy: the collector is overloaded. Wait for a slot, and if the
            # poll starts too late, say so (unknown) instead of blaming the device.
            waited_from = self._clock()
            await self._slots.acquire()
            if self._clock() - waited_from > job.interval_s:
                self._set_state(job.device, track, DeviceState.UNKNOWN, self._clock(), None)
        else:
            await self._slots.acquire()
        track.in_flight = True
        task = asyncio.create_task(self._poll_one(job, track), name=f"poll {job.device}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _next_due(self, previous: float, job: PollJob, track: _DeviceTrack) -> float:
        """Fixed-rate schedule (no drift); unreachable devices back off exponentially."""
        interval = job.interval_s
        if track.consecutive_failures > 1:
            interval = min(
                job.interval_s * 2 ** (track.consecutive_failures - 1),
                max(self._settings.backoff_max_s, job.interval_s),
            )
        now = self._clock()
        nxt = previous + interval
        if nxt <= now:  # fell behind by whole cycles: skip them rather than burst
            missed = int((now - previous) // interval)
            nxt = previous + (missed + 1) * interval
        return nxt

    # -- one poll --------------------------------------------------------------------
    async def _poll_one(self, job: PollJob, track: _DeviceTrack) -> None:
        try:
            next_job: PollJob | None = job
            while next_job is not None:
                await self._poll_once(next_job, track)
                next_job = track.pending.pop(0) if track.pending else None
        finally:
            track.in_flight, track.current = False, ""
            self._slots.release()

    async def _poll_once(self, job: PollJob, track: _DeviceTrack) -> None:
        track.current = job.schedule
        started = self._clock()
        outcome, reason = PollOutcome.OK, ""
        try:
            async with asyncio.timeout(self._settings.deadline_s):
                result = await self._poll(job)
            await self._sink(job, result)
        except TimeoutError:
            outcome, reason = PollOutcome.TIMEOUT, f"no result within {self._settings.deadline_s}s"
        except DeviceUnreachable as exc:
            outcome, reason = PollOutcome.UNREACHABLE, str(exc)
        except CollectorError as exc:
            outcome, reason = PollOutcome.ERROR, str(exc)
        except Exception as exc:  # stability point: one bad device never stops the loop
            _logger.exception("device %s: poll failed unexpectedly", job.device)
            outcome, reason = PollOutcome.ERROR, f"{type(exc).__name__}: {exc}"
        finished = self._clock()
        self._report(job, outcome, finished - started, reason)
        self._judge(job, track, outcome, reason, started, finished)

    def _judge(
        self,
        job: PollJob,
        track: _DeviceTrack,
        outcome: PollOutcome,
        reason: str,
        started: float,
        finished: float,
    ) -> None:
        if outcome is PollOutcome.OK:
            track.consecutive_failures = 0
            track.first_failure_at = None
            self._set_state(job.device, track, DeviceState.UP, finished, job)
            return
        if outcome is PollOutcome.ERROR:
            # The agent answered: it is alive even if this poll is unusable.
            _logger.warning("device %s: %s", job.device, reason)
            return
        track.consecutive_failures += 1
        track.last_reason = reason
        if track.first_failure_at is None:
            track.first_failure_at = started
        if finished - track.first_failure_at >= self._settings.down_after_s:
            self._set_state(job.device, track, DeviceState.DOWN, finished, job)

    def _set_state(
        self,
        device: str,
        track: _DeviceTrack,
        new: DeviceState,
        at: float,
        job: PollJob | None,
    ) -> None:
        old = track.state
        if old is new:
            return
        track.state = new
        if new is DeviceState.DOWN:
            _logger.error("device %s is down: %s", device, track.last_reason)
        elif new is DeviceState.UP and old is DeviceState.DOWN:
            _logger.info("device %s recovered", device)
        if self._observer is not None:
            self._observer.state_changed(
                job or PollJob(device=device, district="", schedule="", interval_s=0.0),
                old,
                new,
                at,
            )

    def _report(self, job: PollJob, outcome: PollOutcome, duration_s: float, reason: str) -> None:
        if self._observer is not None:
            self._observer.poll_finished(job, outcome, duration_s, reason)
