"""Two tiers as real processes on loopback: ``nocd run --role central`` and ``--role district``.

The district polls the lab network (real snmpsim) on fast intervals and forwards through its
outbox. Processes are frozen (SIGSTOP), killed with SIGKILL (no chance to flush) and
restarted; the district's database is the reference for what central must hold exactly once.
As deployed at scale, central runs on PostgreSQL and the district on SQLite (central falls
back to SQLite where no PostgreSQL server is configured; under CI=true it is required). The
storage rules on each backend alone are in ``test_two_tier_storage.py``. One scenario, so
that the processes start only four times (an import of nocd costs seconds on a busy machine).
Every wait polls with a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from collectors.lab import LabNetwork
from kpi.intervals import TimeWindow
from nocd.config import Settings
from nocd.inventory import import_documents, read_inventory
from nocd.kpi_service import PeriodResult, compute_period
from nocd.storage import maintenance_repo, poll_repo, rollup_repo
from nocd.storage.db import make_engine, session_factory
from nocd.storage.models import Device, DeviceStateEvent, DistrictStatus, Rollup, Sample
from nocd.storage.tokens import TokenRole, create_token
from tests.conftest import IN_CI, POSTGRES_URL, require_service
from tests.fixtures.db import _Databases

pytestmark = [pytest.mark.integration, pytest.mark.snmp]

NOCD = [sys.executable, "-c", "from nocd.cli import main; main()"]
DISTRICT = "d01"  # the lab's district
START_DEADLINE_S = 60.0  # an import of nocd on a loaded 2-core machine
DEADLINE_S = 30.0

# Fast polls (the lab answers in milliseconds) and a chatty, small-batch forwarder, so that a
# few seconds of outage make a backlog of many batches.
DISTRICT_ENV = {
    "NOCD_POLL__INTERFACES_S": "1",
    "NOCD_POLL__DSL_LINES_S": "2",
    "NOCD_POLL__DOWN_AFTER_S": "1",
    "NOCD_POLL__TIMEOUT_S": "0.5",
    "NOCD_POLL__RETRIES": "0",
    "NOCD_POLL__DEADLINE_S": "3",
    "NOCD_POLL__BACKOFF_MAX_S": "1",
    "NOCD_CENTRAL__BATCH_ITEMS": "5",
    "NOCD_CENTRAL__FLUSH_INTERVAL_S": "0.1",
    "NOCD_CENTRAL__SEND_INTERVAL_S": "0.2",  # catch-up at ~25 items/s: long enough to kill
    "NOCD_CENTRAL__RETRY_MAX_S": "0.5",
    "NOCD_CENTRAL__HEARTBEAT_S": "0.5",
    "NOCD_CENTRAL__TIMEOUT_S": "5",
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    started = time.monotonic()
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if condition():
            print(f"{what}: {time.monotonic() - started:.1f} s")
            return
        time.sleep(0.05)  # re-check interval, not synchronisation: the condition decides
    pytest.fail(f"timed out after {deadline_s} s waiting for {what}")


class Node:
    """One ``nocd run --role ROLE`` process; ``start`` again after a kill reuses its port."""

    def __init__(self, role: str, url: str, tmp_path: Path, **env: str) -> None:
        self.role = role
        self.url = url
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NOCD_")}
        self.env.update(
            NOCD_STORAGE__URL=url,
            NOCD_API__HOST="127.0.0.1",
            NOCD_API__PORT=str(self.port),
            NOCD_DAEMON__LOG_LEVEL="INFO",
            NOCD_ALERTING__ENABLED="false",  # not under test here; keeps central quiet
            NOCD_KPI__ENABLED="false",
        )
        self.env.update(env)
        self.log_path = tmp_path / f"{role}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.engine = make_engine(url)
        self.sessions = session_factory(self.engine)

    def spawn(self, **env: str) -> Node:
        """Start the process; ``wait_healthy`` waits for it (start two, then wait for both)."""
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [*NOCD, "run", "--role", self.role],
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_healthy(self) -> None:
        wait_for(self._healthy, f"{self.role} /healthz", START_DEADLINE_S)

    def start(self, **env: str) -> None:
        self.spawn(**env).wait_healthy()

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"{self.role} exited {self.process.returncode}:\n{self.log}")
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)
        if signum == signal.SIGKILL:
            self.process.wait(timeout=10)

    def metric(self, name: str, **labels: str) -> float | None:
        text = httpx.get(f"{self.base}/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                wanted = all(sample.labels.get(k) == v for k, v in labels.items())
                if sample.name == name and wanted:
                    return float(sample.value)
        return None

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.engine.dispose()


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(central URL, district URL): PostgreSQL and SQLite, each migrated and stocked."""
    require_service(bool(POSTGRES_URL) or not IN_CI, "PostgreSQL (TEST_POSTGRES_URL)")
    central_dbs = _Databases("postgresql" if POSTGRES_URL else "sqlite", tmp_path)
    district_dbs = _Databases("sqlite", tmp_path)
    try:
        yield central_dbs(True), district_dbs(True)
    finally:
        central_dbs.close()


@pytest.fixture
def nodes(
    lab: LabNetwork, databases: tuple[str, str], tmp_path: Path
) -> Iterator[tuple[Node, Node, dict[str, str]]]:
    """(central, district, tokens), not started. Both hold the lab inventory."""
    central_url, district_url = databases
    for url in databases:
        engine = make_engine(url)
        with session_factory(engine)() as session:
            import_documents(session, [read_inventory(lab.inventory_path)])
            session.commit()
        engine.dispose()
    engine = make_engine(central_url)
    with session_factory(engine)() as session:
        tokens = {
            "d01": create_token(session, "district-d01", TokenRole.DISTRICT, district=DISTRICT),
            "d99": create_token(session, "district-d99", TokenRole.DISTRICT, district="d99"),
            "viewer": create_token(session, "grafana", TokenRole.VIEWER),
        }
        session.commit()
    engine.dispose()
    central = Node(
        "central",
        central_url,
        tmp_path,
        NOCD_CENTRAL__SILENT_AFTER_S="2",
        NOCD_CENTRAL__SILENCE_CHECK_S="0.25",
        # Central rolls up as it would in service, incrementally while the backlog arrives
        # late; the district's store is rolled up once at the end, as the reference.
        NOCD_KPI__ENABLED="true",
        NOCD_KPI__ROLLUP_INTERVAL_S="10",
        NOCD_KPI__KQI_INTERVAL_S="10",
    )
    district = Node(
        "district",
        district_url,
        tmp_path,
        NOCD_DAEMON__DISTRICT=DISTRICT,
        NOCD_CENTRAL__URL=central.base,
        NOCD_CENTRAL__TOKEN=tokens["d01"],
        **DISTRICT_ENV,
    )
    try:
        yield central, district, tokens
    finally:
        for node in (district, central):
            if node.process is not None and node.process.poll() is None:
                node.process.send_signal(signal.SIGCONT)
            node.close()


def samples(node: Node) -> collections.Counter[tuple[str, str, str, int, float]]:
    """Every stored sample as a multiset of (device, entity, metric, ts, value)."""
    with node.sessions() as session:
        rows = session.execute(
            select(Device.name, Sample.entity, Sample.metric, Sample.ts, Sample.value).join(
                Device, Device.id == Sample.device_id
            )
        )
        return collections.Counter((d, e, m, t, v) for d, e, m, t, v in rows)


def state_events(node: Node) -> collections.Counter[tuple[str, int, str]]:
    with node.sessions() as session:
        rows = session.execute(
            select(Device.name, DeviceStateEvent.ts, DeviceStateEvent.state).join(
                Device, Device.id == DeviceStateEvent.device_id
            )
        )
        return collections.Counter((d, t, s) for d, t, s in rows)


def high_water(node: Node) -> int:
    with node.sessions() as session:
        return (
            session.scalar(
                select(DistrictStatus.last_seq).where(DistrictStatus.district == DISTRICT)
            )
            or 0
        )


def statuses(node: Node) -> dict[str, str]:
    with node.sessions() as session:
        return {s.device: s.state for s in poll_repo.device_statuses(session, district=DISTRICT)}


def rollups(node: Node) -> collections.Counter[tuple[object, ...]]:
    """Every stored rollup bucket as a multiset, keyed by device name."""
    with node.sessions() as session:
        rows = session.execute(
            select(
                Device.name,
                Rollup.entity,
                Rollup.metric,
                Rollup.resolution,
                Rollup.bucket,
                Rollup.count,
                Rollup.min,
                Rollup.avg,
                Rollup.max,
                Rollup.p95,
            ).join(Device, Device.id == Rollup.device_id)
        )
        return collections.Counter(tuple(row) for row in rows)


def kpi_figures(node: Node, window: TimeWindow, *, rollup_now: int) -> PeriodResult:
    """Close every rollup bucket up to ``rollup_now``, then KQIs and SLAs over ``window``."""
    with node.sessions() as session:
        rollup_repo.run_rollups(session, now=rollup_now)
        session.commit()
        return compute_period(session, Settings(), period=window, now=window.end)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def maintain(node: Node, device: str, starts_at: int, ends_at: int) -> None:
    with node.sessions() as session:
        maintenance_repo.create_window(
            session,
            maintenance_repo.MaintenanceRecord(
                district=None, device=device, starts_at=starts_at, ends_at=ends_at, reason="test"
            ),
        )
        session.commit()


def test_two_tiers_through_silence_kills_and_restarts(
    nodes: tuple[Node, Node, dict[str, str]], lab: LabNetwork
) -> None:
    central, district, tokens = nodes
    started_at = int(time.time())
    # The same maintenance window in both stores: the operator enters it at central, and an
    # all-in-one nocd would hold it as well.
    dslam = next(device.name for device in lab.devices if device.kind == "dslam")
    for node in (central, district):
        maintain(node, dslam, started_at + 2, started_at + 12)
    central.spawn()
    district.spawn()
    central.wait_healthy()
    district.wait_healthy()
    everyone = {device.name for device in lab.devices}
    wait_for(lambda: statuses(central) == dict.fromkeys(everyone, "up"), "devices up at central")

    # Only the district's own token may send for it.
    heartbeat = json.dumps({"district": DISTRICT, "epoch": "x", "items": []})
    for who in ("d99", "viewer"):
        response = httpx.post(
            f"{central.base}/api/v1/ingest",
            content=heartbeat,
            headers={"Authorization": f"Bearer {tokens[who]}", "Content-Type": "application/json"},
        )
        assert response.status_code == 403, (who, response.text)

    # 1. The district freezes (as if its link were cut): its devices become unknown at
    #    central, never down, and central says so.
    district.signal(signal.SIGSTOP)
    frozen_at = int(time.time())
    wait_for(
        lambda: statuses(central) == dict.fromkeys(everyone, "unknown"),
        "the silent district's devices unknown at central",
    )
    assert central.metric("nocd_district_silent", district=DISTRICT) == 1.0
    assert (central.metric("nocd_district_last_seen_seconds", district=DISTRICT) or 0) >= 2
    during = {state for _, ts, state in state_events(central) if ts > frozen_at}
    assert during == {"unknown"}
    assert f"district {DISTRICT} silent" in central.log
    #    It thaws: its data drives the states again (after the freeze the district judges
    #    for itself, so the devices may pass through its own verdicts on the way).
    district.signal(signal.SIGCONT)
    wait_for(lambda: statuses(central) == dict.fromkeys(everyone, "up"), "states follow again")
    assert central.metric("nocd_district_silent", district=DISTRICT) == 0.0

    # 2. Central dies without a word; the district keeps polling into its outbox.
    central.signal(signal.SIGKILL)
    wait_for(
        lambda: (district.metric("nocd_outbox_backlog_items") or 0) >= 20,
        "a backlog of 20 items (4 batches) while central is down",
    )
    assert (district.metric("nocd_outbox_oldest_age_seconds") or 0) >= 0
    assert (district.metric("nocd_outbox_send_failures_total", reason="unreachable") or 0) > 0
    before = high_water(central)

    # 3. Central is back: the district catches up batch by batch, and is killed mid-way.
    central.start()
    wait_for(lambda: high_water(central) > before, "catch-up started")
    backlog = district.metric("nocd_outbox_backlog_items") or 0
    district.signal(signal.SIGKILL)
    assert backlog > 5, f"the district should die mid-catch-up, not after it ({backlog} left)"

    # 4. Restarted without polling, the district only drains what its outbox kept.
    district.start(NOCD_POLL__ENABLED="false")
    wait_for(lambda: district.metric("nocd_outbox_backlog_items") == 0, "outbox drained")

    produced, received = samples(district), samples(central)
    assert len(produced) > 100
    missing, doubled = produced - received, received - produced
    assert not missing, f"{sum(missing.values())} samples lost, e.g. {next(iter(missing))}"
    assert not doubled, f"{sum(doubled.values())} samples extra, e.g. {next(iter(doubled))}"
    # Every district verdict reached central once. Central's own are the silences' unknowns
    # and, after each, the snapshot's restorations: central never invents a "down".
    assert not state_events(district) - state_events(central)
    own = state_events(central) - state_events(district)
    assert "unknown" in {state for _, _, state in own}
    assert "down" not in {state for _, _, state in own}, own
    assert statuses(central) == statuses(district), "the resync snapshot restored the states"
    assert district.metric("nocd_outbox_dropped_items_total") == 0
    assert tokens["d01"] not in district.log + central.log, "the token is never logged"
    for node in (district, central):
        assert node.process is not None
        node.signal(signal.SIGTERM)
        assert node.process.wait(timeout=10) == 0, node.log

    # 5. After catch-up, central's KQIs and SLAs are those an all-in-one nocd computes over
    #    the same data: the district's own store is what collection wrote in one process
    #    (samples, state events, ports), plus the same inventory and maintenance. A fixed
    #    window from before the start to the last sample covers the silence, central's
    #    death and the district's SIGKILL. Central rolled up incrementally with the backlog
    #    arriving late; the reference is rolled up once. Numbers must be exactly equal.
    last_sample = max(ts for _, _, _, ts, _ in produced)
    # from the start of the 5-minute bucket holding the start, so that its rollups count
    window = TimeWindow(start=started_at - started_at % 300, end=last_sample + 1)
    rollup_now = int(time.time()) + 900  # every 5-minute bucket of the window is closed
    reference = kpi_figures(district, window, rollup_now=rollup_now)
    at_central = kpi_figures(central, window, rollup_now=rollup_now)
    assert rollups(central) == rollups(district), "incremental + late = one-shot rollups"
    kqi_keys = ["kqi", "district", "sla_class"]
    pd.testing.assert_frame_equal(
        _sorted(at_central.kqis, kqi_keys), _sorted(reference.kqis, kqi_keys), check_exact=True
    )
    sla_keys = ["target", "district"]
    pd.testing.assert_frame_equal(
        _sorted(at_central.slas, sla_keys), _sorted(reference.slas, sla_keys), check_exact=True
    )
    # ... and they are about something: lines, outages/maintenance and the uplinks whose
    # inventory came through the outbox.
    kqis = set(reference.kqis["kqi"])
    assert {
        "line_availability_ratio",
        "customer_minutes_lost",
        "uplink_congestion_share_ratio",
    } <= kqis, kqis
    network = reference.slas.set_index(sla_keys)
    assert network["entities"].sum() > 0
    assert network["maintenance_s"].sum() > 0, "the maintenance window is in the figures"
    silence = {ts for _, ts, state in own if state == "unknown"}
    assert any(window.start <= ts < window.end for ts in silence), "the silence is inside"
