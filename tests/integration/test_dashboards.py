"""Every panel query of every dashboard returns data from a real Prometheus scraping nocd.

Two tiers as deployed: ``nocd run --role district`` polls the lab network (real snmpsim) and
forwards to ``nocd run --role central`` (PostgreSQL), which computes KQIs/SLAs, alerts and
tickets. A real Prometheus scrapes both every second. KQIs built on closed 5-minute rollups
(stable lines, rate attainment, uplink congestion) need history a test cannot wait for: the
lab is polled once in-process first, and each series' reading is written into central's
database as the last 45 minutes' samples (held constant), which central's rollup and KQI
jobs then process like any late backlog. Five weeks of growing 5-minute uplink rollups
are seeded for one DSLAM on central, so that central's first traffic refit (5 s after
start) issues forecasts with bands and an exhaustion date. The test takes a DSLAM down (alert,
incident, incident ticket) and walks a hotline fault ticket through dispatch, arrival,
resolution and callback, so that the ticket ratios and repair times exist. Then each
dashboard's template variables are resolved through Prometheus' label API and every target's
PromQL — variables substituted, ``$__rate_interval``/``$__range`` made concrete — must return
at least one series from ``/api/v1/query``. Waits poll with deadlines; nothing sleeps to
synchronise.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from prometheus_client import CollectorRegistry
from sqlalchemy import func, insert, select

from collectors.lab import DSLAM_UPLINK_IFINDEX, Fault, LabNetwork, dslam_uplink_speed_bps
from nocd.collection import Collection
from nocd.config import PollConfig, Settings, StorageSettings
from nocd.inventory import import_documents, read_inventory
from nocd.metrics import PollMetrics
from nocd.storage.db import make_engine, session_factory
from nocd.storage.ingest import copy_rows
from nocd.storage.models import Device, Port, Sample
from nocd.storage.tokens import TokenRole, create_token
from tests.conftest import POSTGRES_URL, require_service
from tests.fixtures.dashboards import (
    Dashboard,
    label_values_query,
    load_dashboards,
    substitute,
    targets,
)
from tests.fixtures.db import _Databases
from tests.fixtures.prom import PromStack, Server, binary, free_port

pytestmark = [pytest.mark.integration, pytest.mark.snmp]

NOCD = [sys.executable, "-c", "from nocd.cli import main; main()"]
DISTRICT = "d01"  # the lab's district
DOWN_DSLAM = "d01-agg01-dslam-02"
START_DEADLINE_S = 120.0  # importing nocd takes a minute on a 2-core machine at load 8
DATA_DEADLINE_S = 90.0  # the first KQI run starts 30 s after central (nocd/app.py)
RANGE_S = 600  # $__range: the window Prometheus has data for is shorter; that is fine
HISTORY_STEP_S = 300
HISTORY_STEPS = 9  # 45 minutes of 5-minute samples before the processes start
UPLINK_HISTORY_DAYS = 35  # the traffic model dates exhaustion on >= 28 days
UPLINK_PEAK_SHARE = 0.7  # of the link speed at the daily peak, doubling per year
ROLLUP_COLUMNS = ("device_id", "entity", "metric", "resolution", "bucket", "count", "min",
                  "avg", "max", "p95")  # fmt: skip

CENTRAL_TOML = """\
[alerting]
interval_s = 1

# The built-in device_down warns after 1 min; a test does not wait that long. Critical, so
# that the incident opens a fault ticket ([tickets] incident_severities).
[[alerting.rules]]
name = "device_down"
entity = "device"
expr = "state == down"
for = "2s"
severity = "critical"
impact = "subtree"

[kpi]
rollup_interval_s = 10
kqi_interval_s = 10

[tickets]
incident_interval_s = 1
timer_interval_s = 1

# One refit soon after start, over the uplink history the test seeds (_seed_uplink_history).
[traffic]
refit_delay_s = 5
"""
CENTRAL_ENV = {"NOCD_CENTRAL__SILENT_AFTER_S": "60", "NOCD_CENTRAL__SILENCE_CHECK_S": "1"}
DISTRICT_ENV = {
    "NOCD_POLL__INTERFACES_S": "1",
    "NOCD_POLL__DSL_LINES_S": "2",
    "NOCD_POLL__DSL_INTERVALS_S": "2",
    "NOCD_POLL__DOWN_AFTER_S": "1",
    "NOCD_POLL__TIMEOUT_S": "0.5",
    "NOCD_POLL__RETRIES": "0",
    "NOCD_POLL__DEADLINE_S": "3",
    "NOCD_POLL__BACKOFF_MAX_S": "1",
    "NOCD_CENTRAL__FLUSH_INTERVAL_S": "0.2",
    "NOCD_CENTRAL__HEARTBEAT_S": "0.5",
}
# A fault ticket walked to callback_done (tests/integration/tickets/helpers.py FAULT_STEPS).
FAULT_STEPS = [
    ("acknowledged", {}),
    ("dispatched", {"technician": "t-dashboards"}),
    ("on_site", {"symptom": "no sync light"}),
    ("resolved", {"cause": "network", "resolution": "port reset", "service_tested": True}),
    ("signed_off", {"signed_by": "Mrs Li"}),
    ("callback_done", {"callback_outcome": "satisfied"}),
]


def wait_for(condition: Callable[[], bool], what: str, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {deadline_s} s waiting for {what}")
        time.sleep(0.2)  # re-check interval, not synchronisation: the condition decides


@dataclass
class Node:
    """One ``nocd run --role ROLE`` subprocess with its log in a file."""

    role: str
    log_path: Path
    env: dict[str, str]
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOCD_")}
        env.update(self.env, NOCD_API__HOST="127.0.0.1", NOCD_API__PORT=str(self.port))
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [*NOCD, "run", "--role", self.role, *self.args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"{self.role} exited {self.process.returncode}:\n{self.log()}")
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Stack:
    central: Node
    district: Node
    prometheus: Server
    operator_token: str


def _start_prometheus(prom_stack: PromStack, tmp: Path, nodes: list[Node]) -> Server:
    """Prometheus scraping every node each second (no rules or Alertmanager needed here)."""
    exe = binary("prometheus")
    require_service(exe is not None, "Prometheus (prometheus)")
    assert exe is not None
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "nocd",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{node.port}"], "labels": {"role": node.role}}
                    for node in nodes
                ],
            }
        ],
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = tmp / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                exe,
                f"--config.file={path}",
                f"--storage.tsdb.path={tmp / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server("prometheus", process, f"http://127.0.0.1:{port}", log)
    prom_stack.servers.append(server)  # stopped by the prom_stack fixture
    server.wait_ready()
    return server


async def _poll_lab_once(lab: LabNetwork, url: str) -> None:
    """Runs the district collection in-process until every device's KPIs are stored."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    settings = Settings(
        storage=StorageSettings(url=url),
        poll=PollConfig(interfaces_s=1, dsl_lines_s=1, dsl_intervals_s=1, down_after_s=1.0,
                        timeout_s=0.5, retries=0, deadline_s=3.0, backoff_max_s=1.0),
    )
    collection = Collection(
        settings=settings, sessions=sessions, metrics=PollMetrics(CollectorRegistry())
    )
    wanted = {"in_utilisation_ratio", "snr_margin_down_db", "actual_down_kbps"}

    def polled() -> bool:
        with sessions() as session:
            return set(session.scalars(select(Sample.metric).distinct())) >= wanted

    task = asyncio.create_task(collection.run())
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while not await asyncio.to_thread(polled):
            assert not task.done(), task
            assert time.monotonic() < deadline, f"lab not polled: {wanted} missing"
            await asyncio.sleep(0.2)  # re-check interval of this wait, not a sync point
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        engine.dispose()


def _seed_history(lab: LabNetwork, scratch_url: str, central_url: str) -> None:
    """The newest reading of every lab series, written to central as 45 minutes of history."""
    asyncio.run(_poll_lab_once(lab, scratch_url))
    engine = make_engine(scratch_url)
    with session_factory(engine)() as session:
        newest = (
            select(Sample.device_id, Sample.entity, Sample.metric, func.max(Sample.id).label("id"))
            .group_by(Sample.device_id, Sample.entity, Sample.metric)
            .subquery()
        )
        readings = session.execute(
            select(Device.name, Sample.entity, Sample.metric, Sample.value)
            .join(newest, Sample.id == newest.c.id)
            .join(Device, Device.id == Sample.device_id)
        ).all()
    engine.dispose()
    now = int(time.time())
    engine = make_engine(central_url)
    with session_factory(engine)() as session:
        ids = {name: id_ for name, id_ in session.execute(select(Device.name, Device.id))}
        rows = [
            {"device_id": ids[name], "entity": entity, "metric": metric, "value": value,
             "ts": now - step * HISTORY_STEP_S}
            for name, entity, metric, value in readings
            for step in range(1, HISTORY_STEPS + 1)
        ]
        session.execute(insert(Sample), rows)
        session.commit()
    engine.dispose()


def _seed_uplink_history(lab: LabNetwork, central_url: str) -> None:
    """Five weeks of 5-minute uplink rollups for one DSLAM, growing 100 %/year from 70 % of
    its speed at the daily peak, so central's first refit forecasts it (24 h, 7 d, with
    bands) and dates its exhaustion (≈ 66 days; test_traffic.py works the figure out)."""
    dslam = next(d for d in lab.devices if d.kind == "dslam" and d.name != DOWN_DSLAM)
    speed = dslam_uplink_speed_bps(dslam.technology or "")
    end = (int(time.time()) - 3600) // HISTORY_STEP_S * HISTORY_STEP_S  # before the samples
    buckets = np.arange(end - UPLINK_HISTORY_DAYS * 86_400, end, HISTORY_STEP_S)
    hour = (buckets % 86_400) / 3600.0
    bump = np.exp(-0.5 * ((hour - 12.0 + 12.0) % 24.0 - 12.0) ** 2 / 9.0)  # peak 12:00 UTC
    growth = np.exp(np.log(2.0) / 365.0 * (buckets - end) / 86_400.0)
    down = UPLINK_PEAK_SHARE * speed * (0.25 + 0.75 * bump) * growth
    noise = np.random.default_rng(7).normal(1.0, 0.005, len(buckets))
    engine = make_engine(central_url)
    with session_factory(engine)() as session:
        device_id = session.scalar(select(Device.id).where(Device.name == dslam.name))
        assert device_id is not None
        session.add(Port(device_id=device_id, ifindex=DSLAM_UPLINK_IFINDEX, name="uplink-1",
                         speed_bps=speed, is_uplink=True))  # fmt: skip
        session.flush()
        entity = f"if:{DSLAM_UPLINK_IFINDEX}"
        rows = [
            (device_id, entity, metric, "5m", int(b), 1, v, v, v, v)
            for metric, values in (("in_bps", down * noise), ("out_bps", 0.3 * down * noise))
            for b, v in zip(buckets.tolist(), values.tolist(), strict=True)
        ]
        copy_rows(session, "rollups", ROLLUP_COLUMNS, rows)
        session.commit()
    engine.dispose()


@pytest.fixture
def stack(lab: LabNetwork, prom_stack: PromStack, tmp_path: Path) -> Iterator[Stack]:
    require_service(bool(POSTGRES_URL), "PostgreSQL (TEST_POSTGRES_URL) for central")
    central_dbs = _Databases("postgresql", tmp_path)
    sqlite_dbs = _Databases("sqlite", tmp_path)
    district_url, scratch_url = sqlite_dbs(True), sqlite_dbs(True)
    nodes: list[Node] = []
    try:
        central_url = central_dbs(True)
        for url in (central_url, district_url, scratch_url):
            engine = make_engine(url)
            with session_factory(engine)() as session:
                import_documents(session, [read_inventory(lab.inventory_path)])
                session.commit()
            engine.dispose()
        _seed_history(lab, scratch_url, central_url)
        _seed_uplink_history(lab, central_url)
        engine = make_engine(central_url)
        with session_factory(engine)() as session:
            district_token = create_token(
                session, "district-d01", TokenRole.DISTRICT, district=DISTRICT
            )
            operator_token = create_token(session, "noc-operator", TokenRole.OPERATOR)
            session.commit()
        engine.dispose()
        config = tmp_path / "central.toml"
        config.write_text(CENTRAL_TOML)
        central = Node(
            "central",
            tmp_path / "central.log",
            {"NOCD_STORAGE__URL": central_url, **CENTRAL_ENV},
            ["--config", str(config)],
        )
        district = Node(
            "district",
            tmp_path / "district.log",
            {
                "NOCD_STORAGE__URL": district_url,
                "NOCD_DAEMON__DISTRICT": DISTRICT,
                "NOCD_CENTRAL__URL": central.base,
                "NOCD_CENTRAL__TOKEN": district_token,
                **DISTRICT_ENV,
            },
        )
        nodes = [central, district]
        for node in nodes:
            node.spawn()
        prometheus = _start_prometheus(prom_stack, tmp_path, nodes)
        for node in nodes:
            wait_for(node.healthy, f"{node.role} /healthz", START_DEADLINE_S)
        yield Stack(central, district, prometheus, operator_token)
    finally:
        lab.clear_fault(DOWN_DSLAM)
        for node in reversed(nodes):
            node.stop()
        central_dbs.close()


def _walk_a_fault_ticket(stack: Stack) -> None:
    """Open a fault in the lab district and move it through to callback_done."""
    headers = {"Authorization": f"Bearer {stack.operator_token}"}
    with httpx.Client(base_url=stack.central.base, headers=headers, timeout=10) as client:
        opened = client.post(
            "/api/v1/tickets",
            json={"kind": "fault", "district": DISTRICT, "title": "no internet", "priority": "P3"},
        )
        assert opened.status_code == 201, opened.text
        ticket = opened.json()["id"]
        for state, fields in FAULT_STEPS:
            moved = client.post(
                f"/api/v1/tickets/{ticket}/transitions", json={"to": state, "fields": fields}
            )
            assert moved.status_code == 200, (state, moved.text)


def _variable_values(prometheus: Server, dash: Dashboard) -> dict[str, str] | None:
    """Each query variable resolved in order like Grafana, through Prometheus' label API;
    None while one of them has no value yet."""
    values: dict[str, str] = {}
    for variable in dash.variables().values():
        if variable["type"] != "query":
            continue
        selector, label = label_values_query(variable["query"])
        params: dict[str, Any] = {}
        if selector:
            params["match[]"] = substitute(selector, values, range_s=RANGE_S)
        found = prometheus.get(f"/api/v1/label/{label}/values", **params)["data"]
        # Prefer values that need no regex escaping ("*" is the network row, not a district);
        # ":" is plain too (uplinks are "if:1").
        plain = sorted(v for v in found if re.fullmatch(r"[\w\-:]+", v))
        if not plain:
            return None
        values[variable["name"]] = DISTRICT if DISTRICT in plain else plain[0]
    return values


def _query_has_series(prometheus: Server, expr: str) -> bool:
    body = prometheus.get("/api/v1/query", query=expr)
    assert body["status"] == "success", (expr, body)
    return len(body["data"]["result"]) > 0


def test_every_panel_query_of_every_dashboard_returns_series(
    stack: Stack, lab: LabNetwork
) -> None:
    dashboards = load_dashboards()
    assert dashboards
    lab.set_fault(DOWN_DSLAM, Fault.UNREACHABLE)
    _walk_a_fault_ticket(stack)
    prometheus = stack.prometheus

    def devices_judged() -> bool:
        return _query_has_series(prometheus, 'nocd_device_state{state="down"} == 1')

    wait_for(devices_judged, "a DSLAM down in Prometheus", START_DEADLINE_S)
    unresolved = {dash.uid: dash for dash in dashboards}
    pending: dict[tuple[str, str, str], str] = {}

    def all_answered() -> bool:
        for uid, dash in list(unresolved.items()):
            values = _variable_values(prometheus, dash)
            if values is None:
                continue
            del unresolved[uid]
            for panel, target in targets(dash):
                key = (uid, panel["title"], target["refId"])
                pending[key] = substitute(target["expr"], values, range_s=RANGE_S)
        for key, expr in list(pending.items()):
            if _query_has_series(prometheus, expr):
                del pending[key]
        return not pending and not unresolved

    deadline = time.monotonic() + DATA_DEADLINE_S
    while not all_answered() and time.monotonic() < deadline:
        time.sleep(1.0)  # re-query interval (scrapes are 1 s apart), not synchronisation
    missing = "\n".join(f"{uid} / {title} [{ref}]: {expr}" for (uid, title, ref), expr in
                        sorted(pending.items()))
    assert not unresolved, f"template variables without values: {sorted(unresolved)}"
    assert not pending, (
        f"{len(pending)} panel queries returned no series after {DATA_DEADLINE_S} s:\n{missing}"
        f"\n--- central log:\n{stack.central.log()}"
    )
