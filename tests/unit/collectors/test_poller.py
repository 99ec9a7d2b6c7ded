"""Poll loop scheduling and device verdicts.

The agent is replaced by coroutines here because these tests are about the scheduler alone
(who is polled when, and which verdict follows); the lab tests run the same loop against real
snmpsim agents. Time is real but short; every assertion is on recorded timestamps, and runs
end on an event with a deadline, never on a sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from collectors.errors import DeviceUnreachable, SnmpProtocolError
from collectors.poller import DeviceState, Poller, PollJob, PollOutcome, PollSettings


@dataclass
class Recorder:
    """PollObserver that records everything and can wake the test on a condition."""

    polls: list[tuple[str, PollOutcome, float]] = field(default_factory=list)
    changes: list[tuple[str, DeviceState, DeviceState]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def poll_finished(self, job: PollJob, outcome: PollOutcome, duration_s: float, reason: str):
        self.polls.append((job.device, outcome, duration_s))
        self.wake.set()

    def state_changed(self, job: PollJob, old: DeviceState, new: DeviceState, at: float):
        self.changes.append((job.device, old, new))
        self.wake.set()


async def run_until(poller: Poller, condition, deadline_s: float = 5.0) -> None:
    """Run the poller until ``condition()`` holds (checked on every observer event)."""
    task = asyncio.create_task(poller.run())
    observer = poller._observer  # the Recorder handed in by the test
    try:
        async with asyncio.timeout(deadline_s):
            while not condition():
                observer.wake.clear()
                await observer.wake.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def job(device: str, interval_s: float = 0.1, schedule: str = "counters") -> PollJob:
    return PollJob(device=device, district="d1", schedule=schedule, interval_s=interval_s)


async def test_dead_device_does_not_delay_healthy_one_and_never_overlaps() -> None:
    starts: dict[str, list[float]] = defaultdict(list)
    in_flight: dict[str, int] = defaultdict(int)
    max_in_flight: dict[str, int] = defaultdict(int)

    async def poll(j: PollJob) -> str:
        starts[j.device].append(time.monotonic())
        in_flight[j.device] += 1
        max_in_flight[j.device] = max(max_in_flight[j.device], in_flight[j.device])
        try:
            if j.device == "dead":
                await asyncio.Event().wait()  # never answers; only the deadline ends it
            return "ok"
        finally:
            in_flight[j.device] -= 1

    async def sink(j: PollJob, result: str) -> None:
        pass

    recorder = Recorder()
    poller = Poller(
        [job("dead", 0.1), job("healthy", 0.1)],
        poll=poll,
        sink=sink,
        observer=recorder,
        settings=PollSettings(deadline_s=0.8, down_after_s=10.0, max_concurrent=8),
    )
    await run_until(poller, lambda: len(starts["healthy"]) >= 12)

    # Had the dead device's 0.8 s budget leaked into the healthy one's cycle, a gap would
    # reach 0.8 s; the margin below the budget absorbs a loaded CI machine.
    gaps = [b - a for a, b in zip(starts["healthy"], starts["healthy"][1:], strict=False)]
    assert max(gaps) < 0.5, f"healthy device was delayed: gaps {gaps}"
    assert max_in_flight["dead"] == 1, "a device must never have two polls in flight"
    outcomes = {o for d, o, _ in recorder.polls if d == "dead"}
    assert PollOutcome.SKIPPED in outcomes, "due polls of a busy device are skipped"


async def test_unreachable_device_goes_down_only_after_grace_period() -> None:
    failures_at: list[float] = []

    async def poll(j: PollJob) -> str:
        failures_at.append(time.monotonic())
        raise DeviceUnreachable(j.device, "request timed out")

    async def sink(j: PollJob, result: str) -> None:
        pass

    recorder = Recorder()
    poller = Poller(
        [job("gone", interval_s=0.05)],
        poll=poll,
        sink=sink,
        observer=recorder,
        settings=PollSettings(down_after_s=0.3, backoff_max_s=0.05),
    )
    await run_until(poller, lambda: poller.state("gone") is DeviceState.DOWN)
    assert failures_at[-1] - failures_at[0] >= 0.3 - 0.06, "down before the grace period"
    assert recorder.changes == [("gone", DeviceState.UNKNOWN, DeviceState.DOWN)]


async def test_recovery_goes_up_once_and_state_changes_are_edges() -> None:
    calls = 0

    async def poll(j: PollJob) -> str:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise DeviceUnreachable(j.device, "timeout")
        return "ok"

    async def sink(j: PollJob, result: str) -> None:
        pass

    recorder = Recorder()
    poller = Poller(
        [job("flaky", interval_s=0.02)],
        poll=poll,
        sink=sink,
        observer=recorder,
        settings=PollSettings(down_after_s=0.0, backoff_max_s=0.02),
    )
    await run_until(poller, lambda: calls >= 6)
    assert recorder.changes == [
        ("flaky", DeviceState.UNKNOWN, DeviceState.DOWN),
        ("flaky", DeviceState.DOWN, DeviceState.UP),
    ]


async def test_error_responses_are_counted_and_do_not_mark_down() -> None:
    async def poll(j: PollJob) -> str:
        raise SnmpProtocolError(j.device, "genErr", 1, "1.3.6.1.2.1.2.2.1.10.1")

    async def sink(j: PollJob, result: str) -> None:
        pass

    recorder = Recorder()
    poller = Poller(
        [job("grumpy", interval_s=0.02)],
        poll=poll,
        sink=sink,
        observer=recorder,
        settings=PollSettings(down_after_s=0.0),
    )
    await run_until(poller, lambda: len(recorder.polls) >= 3)
    assert {o for _, o, _ in recorder.polls} == {PollOutcome.ERROR}
    assert poller.state("grumpy") is not DeviceState.DOWN


async def test_unexpected_exception_in_poll_or_sink_does_not_stop_the_loop() -> None:
    async def poll(j: PollJob) -> str:
        if j.device == "buggy":
            raise ZeroDivisionError("parser bug")
        return "ok"

    stored: list[str] = []

    async def sink(j: PollJob, result: str) -> None:
        stored.append(j.device)

    recorder = Recorder()
    poller = Poller([job("buggy"), job("fine")], poll=poll, sink=sink, observer=recorder)
    await run_until(poller, lambda: stored.count("fine") >= 3)
    assert ("buggy", PollOutcome.ERROR) in {(d, o) for d, o, _ in recorder.polls}


async def test_blind_collector_marks_unknown_never_down() -> None:
    async def poll(j: PollJob) -> str:
        return "ok"

    async def sink(j: PollJob, result: str) -> None:
        pass

    recorder = Recorder()
    poller = Poller([job("a", interval_s=5.0)], poll=poll, sink=sink, observer=recorder)
    await run_until(poller, lambda: poller.state("a") is DeviceState.UP)
    poller.mark_blind(["a"])
    assert poller.state("a") is DeviceState.UNKNOWN
    assert ("a", DeviceState.UP, DeviceState.UNKNOWN) in recorder.changes
    assert all(new is not DeviceState.DOWN for _, _, new in recorder.changes)


async def test_overloaded_collector_says_unknown_not_down() -> None:
    """One slot, three devices each slower than the interval: polls start late → unknown."""

    async def poll(j: PollJob) -> str:
        await asyncio.sleep(0.12)  # the agent double answers slowly; this is not synchronisation
        return "ok"

    async def sink(j: PollJob, result: str) -> None:
        pass

    recorder = Recorder()
    poller = Poller(
        [job("a", 0.05), job("b", 0.05), job("c", 0.05)],
        poll=poll,
        sink=sink,
        observer=recorder,
        settings=PollSettings(max_concurrent=1, deadline_s=1.0, down_after_s=0.0),
    )
    await run_until(poller, lambda: len(recorder.polls) >= 6)
    assert all(new is not DeviceState.DOWN for _, _, new in recorder.changes)
    assert any(new is DeviceState.UNKNOWN for _, _, new in recorder.changes), recorder.changes


async def test_other_schedule_class_waits_for_poll_in_flight_then_runs() -> None:
    order: list[str] = []
    gate = asyncio.Event()

    async def poll(j: PollJob) -> str:
        order.append(f"start {j.schedule}")
        if j.schedule == "counters" and not gate.is_set():
            gate.set()
            await asyncio.sleep(0.1)  # the agent is slow for this one request
        order.append(f"end {j.schedule}")
        return "ok"

    async def sink(j: PollJob, result: str) -> None:
        pass

    recorder = Recorder()
    poller = Poller(
        [job("dev", 10.0, "counters"), job("dev", 10.0, "dsl")],
        poll=poll,
        sink=sink,
        observer=recorder,
    )
    await run_until(poller, lambda: order.count("end dsl") >= 1)
    assert order[:4] == ["start counters", "end counters", "start dsl", "end dsl"]


@pytest.mark.parametrize(
    ("failures", "expected_interval", "description"),
    [
        (0, 60.0, "healthy device keeps its interval"),
        (1, 60.0, "first failure retries at the normal interval"),
        (2, 120.0, "second consecutive failure doubles"),
        (5, 600.0, "backoff is capped at backoff_max_s"),
    ],
)
def test_backoff_schedule(failures: int, expected_interval: float, description: str) -> None:
    async def poll(j: PollJob) -> str:
        return "ok"

    async def sink(j: PollJob, result: str) -> None:
        pass

    now = 1000.0
    poller: Poller[str] = Poller(
        [], poll=poll, sink=sink, settings=PollSettings(backoff_max_s=600.0), clock=lambda: now
    )
    from collectors.poller import _DeviceTrack

    track = _DeviceTrack(consecutive_failures=failures)
    assert poller._next_due(now, job("x", 60.0), track) - now == expected_interval, description
