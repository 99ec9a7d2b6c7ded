"""District collection end to end: lab agents (real snmpsim) → poller → storage and metrics.

Every wait below polls the database or the registry until a condition holds, with a
deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from itertools import pairwise

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from collectors.lab import Fault, LabNetwork
from nocd.collection import Collection
from nocd.config import PollConfig, Settings, StorageSettings
from nocd.inventory import import_documents, read_inventory
from nocd.metrics import PollMetrics
from nocd.storage import db, poll_repo
from nocd.storage.models import Device, DeviceStateEvent, Sample

pytestmark = [pytest.mark.integration, pytest.mark.snmp, pytest.mark.asyncio(loop_scope="module")]

DEADLINE_S = 30.0
AGG = "d01-agg-01"
ADSL_DSLAM = "d01-agg01-dslam-01"
VDSL_DSLAM = "d01-agg01-dslam-02"


class Running:
    """A Collection running in the background against its own database."""

    def __init__(self, collection: Collection, sessions: Callable, registry: CollectorRegistry):
        self.collection = collection
        self.sessions = sessions
        self.registry = registry

    async def until(self, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not await asyncio.to_thread(check):
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.statuses()}"
            await asyncio.sleep(0.2)  # re-check interval of this wait loop, not a sync point

    def statuses(self) -> dict[str, str]:
        with self.sessions() as session:
            return {s.device: s.state for s in poll_repo.device_statuses(session)}

    def samples(self, device: str, metric: str) -> list[tuple[str, float]]:
        with self.sessions() as session:
            rows = session.execute(
                select(Sample.entity, Sample.value)
                .join(Device, Device.id == Sample.device_id)
                .where(Device.name == device, Sample.metric == metric)
            )
            return [(e, v) for e, v in rows]

    def series(self, device: str, entity: str, metric: str) -> dict[int, float]:
        """One entity's values of ``metric`` by poll time (epoch seconds)."""
        with self.sessions() as session:
            rows = session.execute(
                select(Sample.ts, Sample.value)
                .join(Device, Device.id == Sample.device_id)
                .where(Device.name == device, Sample.entity == entity, Sample.metric == metric)
            )
            return {ts: v for ts, v in rows}


@pytest_asyncio.fixture(loop_scope="module")
async def running(lab: LabNetwork, fresh_db_url: str) -> AsyncIterator[Running]:
    engine = db.make_engine(fresh_db_url)
    sessions = db.session_factory(engine)
    with sessions() as session:
        import_documents(session, [read_inventory(lab.inventory_path)])
        session.commit()
    settings = Settings(
        storage=StorageSettings(url=fresh_db_url),
        poll=PollConfig(interfaces_s=1, dsl_lines_s=2, down_after_s=1.0, timeout_s=0.5,
                        retries=0, deadline_s=3.0, backoff_max_s=1.0),
    )
    registry = CollectorRegistry()
    collection = Collection(settings=settings, sessions=sessions, metrics=PollMetrics(registry))
    task = asyncio.create_task(collection.run())
    try:
        yield Running(collection, sessions, registry)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for device in lab.devices:
            lab.clear_fault(device.name)
        engine.dispose()


async def test_every_lab_device_is_polled_and_its_kpis_stored(running: Running, lab: LabNetwork):
    everyone = {device.name for device in lab.devices}
    await running.until(
        lambda: set(running.statuses()) == everyone
        and set(running.statuses().values()) == {"up"},
        "every device up",
    )
    # Rates need two interface polls; the uplink of the aggregation switch carries traffic.
    await running.until(lambda: bool(running.samples(AGG, "in_bps")), "a rate on the uplink")
    for entity, value in running.samples(AGG, "in_bps"):
        assert value >= 0, f"{entity}: negative rate {value}"
    await running.until(
        lambda: bool(running.samples(ADSL_DSLAM, "snr_margin_down_db")), "ADSL line KPIs"
    )
    snr = running.samples(ADSL_DSLAM, "snr_margin_down_db")
    await running.until(
        lambda: bool(running.samples(VDSL_DSLAM, "actual_down_kbps")), "VDSL2 line rates"
    )
    assert snr and all(entity.startswith("line:") for entity, _ in snr)
    assert all(0 < value < 40 for _, value in snr), snr
    assert running.registry.get_sample_value(
        "nocd_device_up", {"district": "d01", "device": AGG}
    ) == 1.0


async def test_retrain_storm_on_a_vdsl2_dslam_grows_its_running_bin_init_count(
    running: Running, lab: LabNetwork
):
    """VDSL2-LINE-MIB has no running init counter: the storm shows in the xTU-C's full inits
    of the running 15-minute bin (``curr15_inits``), growing poll by poll; a calm line's
    count stays put. Across a quarter hour the count restarts, so growth is looked for
    within one bin (the elapsed time grew too)."""
    storm, calm, *_ = (ln.ifindex for ln in lab.lines if ln.device == VDSL_DSLAM and ln.in_showtime)
    await running.until(
        lambda: bool(running.series(VDSL_DSLAM, f"line:{calm}", "curr15_inits")),
        "a first running-bin count",
    )
    since = int(time.time()) + 1  # polls stored from the next second on saw the fault
    lab.set_fault(VDSL_DSLAM, Fault.RETRAIN_STORM, lines=[storm], period_s=0.5)
    try:

        def bin_counts(ifindex: int) -> list[tuple[float, float]]:
            """(inits, elapsed s) of each poll since the fault, in time order."""
            inits = running.series(VDSL_DSLAM, f"line:{ifindex}", "curr15_inits")
            elapsed = running.series(VDSL_DSLAM, f"line:{ifindex}", "curr15_elapsed_s")
            return [(inits[ts], elapsed[ts]) for ts in sorted(inits) if ts >= since]

        def grew() -> bool:
            steps = pairwise(bin_counts(storm))
            return sum(1 for (c0, e0), (c1, e1) in steps if c1 > c0 and e1 > e0) >= 2

        await running.until(grew, "the storm line's running-bin count to grow twice")
        calm_counts = bin_counts(calm)
        assert calm_counts and {c for c, _ in calm_counts} == {0.0}, calm_counts
        assert all(0 <= e < 900 for _, e in bin_counts(storm)), "seconds into a 15-minute bin"
        assert not running.samples(VDSL_DSLAM, "inits_total"), "VDSL2: no running counter"
    finally:
        lab.clear_fault(VDSL_DSLAM, Fault.RETRAIN_STORM)


async def test_unreachable_device_goes_down_and_only_it(running: Running, lab: LabNetwork):
    await running.until(lambda: running.statuses().get(VDSL_DSLAM) == "up", "first poll")
    lab.set_fault(VDSL_DSLAM, Fault.UNREACHABLE)
    await running.until(lambda: running.statuses().get(VDSL_DSLAM) == "down", "down verdict")
    states = running.statuses()
    assert {d: s for d, s in states.items() if d != VDSL_DSLAM} == {
        d.name: "up" for d in lab.devices if d.name != VDSL_DSLAM
    }
    assert running.registry.get_sample_value(
        "nocd_device_up", {"district": "d01", "device": VDSL_DSLAM}
    ) == 0.0
    lab.clear_fault(VDSL_DSLAM)
    await running.until(lambda: running.statuses().get(VDSL_DSLAM) == "up", "recovery")
    with running.sessions() as session:
        events = session.scalars(
            select(DeviceStateEvent.state)
            .join(Device, Device.id == DeviceStateEvent.device_id)
            .where(Device.name == VDSL_DSLAM)
            .order_by(DeviceStateEvent.id)
        ).all()
    assert events[-2:] == ["down", "up"], events


async def test_reboot_gives_no_rate_spike(running: Running, lab: LabNetwork):
    await running.until(lambda: bool(running.samples(AGG, "in_bps")), "a first rate")
    before = len(running.samples(AGG, "in_bps"))
    lab.set_fault(AGG, Fault.REBOOT, down_s=0)
    await running.until(
        lambda: len(running.samples(AGG, "in_bps")) > before + 4, "rates after the reboot"
    )
    lab.clear_fault(AGG)
    speeds = dict(running.samples(AGG, "speed_bps"))
    for entity, value in running.samples(AGG, "in_bps"):
        assert value <= speeds.get(entity, float("inf")), f"{entity}: spike {value} bit/s"


async def test_slow_agent_is_late_alone(running: Running, lab: LabNetwork):
    """A device slower than its request timeout fails alone; the others keep their 1 s cycle."""
    await running.until(lambda: running.statuses().get(ADSL_DSLAM) == "up", "first poll")
    lab.set_fault(ADSL_DSLAM, Fault.SLOW, delay_s=5.0)  # beyond the 3 s deadline
    try:
        def failed_polls() -> float:
            return sum(
                running.registry.get_sample_value("nocd_snmp_requests_total", {"result": r})
                or 0
                for r in ("timeout", "unreachable")
            )

        await running.until(lambda: failed_polls() >= 2, "the slow device's polls to fail")
        with running.sessions() as session:
            polled = {s.device: s.last_ok_at for s in poll_repo.device_statuses(session)}
        newest = max(v for v in polled.values() if v is not None)
        for device, last_ok in polled.items():
            if device != ADSL_DSLAM:
                assert last_ok is not None and newest - last_ok <= 3, f"{device} fell behind"
    finally:
        lab.clear_fault(ADSL_DSLAM)


async def test_error_responses_are_counted_and_do_not_mark_down(
    running: Running, lab: LabNetwork
):
    await running.until(lambda: running.statuses().get(AGG) == "up", "first poll")
    lab.set_fault(AGG, Fault.ERROR)
    try:
        await running.until(
            lambda: (running.registry.get_sample_value(
                "nocd_snmp_requests_total", {"result": "error"}) or 0) >= 3,
            "error responses to be counted",
        )
        assert running.statuses()[AGG] == "up", "an agent that answers is not down"
        with running.sessions() as session:
            status = next(s for s in poll_repo.device_statuses(session) if s.device == AGG)
        assert status.last_outcome == "error" and "genErr" in status.reason, status
    finally:
        lab.clear_fault(AGG)


async def test_counter32_wrap_gives_the_same_rate_as_counter64(lab: LabNetwork):
    """Across a real 32-bit wrap on the agent, the Counter32 rate equals the Counter64 rate."""
    from collectors.counters import CounterSample, octets_rate_bps
    from collectors.engine import SnmpClient
    from collectors.mibs.if_mib import IF_HC_IN_OCTETS, IF_HIGH_SPEED, IF_IN_OCTETS

    uplink = 1
    oids = [f"{IF_IN_OCTETS}.{uplink}", f"{IF_HC_IN_OCTETS}.{uplink}", f"{IF_HIGH_SPEED}.{uplink}"]
    try:
        async with await SnmpClient.create() as client:
            target = lab.target(AGG)
            for _ in range(5):  # on a busy machine the first answer can come after the wrap
                lab.set_fault(AGG, Fault.WRAP, lead_s=3)
                first = await client.get(target, oids)
                t0 = time.monotonic_ns()
                if first[oids[0]] > 2**31:  # type: ignore[operator]
                    break  # read before the wrap
            deadline = time.monotonic() + DEADLINE_S
            while True:  # each pass is a real SNMP round trip; stop once the counter wrapped
                second = await client.get(target, oids)
                t1 = time.monotonic_ns()
                if second[oids[0]] < first[oids[0]]:  # type: ignore[operator]
                    break
                assert time.monotonic() < deadline, "Counter32 never wrapped"
    finally:
        lab.clear_fault(AGG)
    speed = int(second[oids[2]]) * 1_000_000  # type: ignore[arg-type]
    r32 = octets_rate_bps(
        CounterSample(value=first[oids[0]], at_ns=t0, bits=32),  # type: ignore[arg-type]
        CounterSample(value=second[oids[0]], at_ns=t1, bits=32),  # type: ignore[arg-type]
        speed_bps=speed,
    )
    r64 = octets_rate_bps(
        CounterSample(value=first[oids[1]], at_ns=t0),  # type: ignore[arg-type]
        CounterSample(value=second[oids[1]], at_ns=t1),  # type: ignore[arg-type]
        speed_bps=speed,
    )
    assert r32.valid and r32.wrapped, r32
    assert r64.valid and not r64.wrapped, r64
    # The agent computes each counter at its own instant within one response: allow 0.1 %.
    assert r32.per_second == pytest.approx(r64.per_second, rel=1e-3), (r32, r64)
