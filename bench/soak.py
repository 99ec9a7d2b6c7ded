"""Soak and chaos: a lab district, one district + one central nocd, scripted faults and kills.

    uv run python bench/soak.py                      # 30 minutes, 2,000 devices
    uv run python bench/soak.py --quick              # 3 minutes, 24 devices (CI smoke)
    uv run python bench/soak.py --duration-s 600 --json --out /tmp/soak.json

What runs (all loopback, all owned by the soak): the synthetic lab under snmpsim (sharded over
several responder processes), a private PostgreSQL cluster for central (its own port and
directory, so killing it touches nothing else), central (``nocd run --role central``), the
district (``--role district``, SQLite) forwarding through a TCP relay that stands for the WAN
link, and a second process putting ~50 req/s of ticket reads and writes on central's API with
an operator token. The seeded script (bench/soak_plan.py) switches lab faults on and off and
SIGKILLs the district, central and the database server, and cuts the link for longer than a
poll cycle. At the end everything is brought back, the outbox drains, central computes its
KPIs once more, both daemons stop, and ``nocd verify`` proves the two databases agree.

Exit status: 0 when every check passes, 1 when one fails, 2 on a set-up failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pickle
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO, REPO / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from sqlalchemy import func, select  # noqa: E402

from bench.soak_cluster import NOCD, Link, Node, PrivatePostgres, proc_cpu_rss  # noqa: E402
from bench.soak_plan import ChaosEvent, PlannedFault, Timing, plan_chaos, plan_faults  # noqa: E402
from bench.soak_report import FACTS, Facts, analyse, print_table  # noqa: E402
from collectors.lab import Lab, LabNetwork, LabSpec  # noqa: E402
from nocd.errors import StorageUnavailable  # noqa: E402
from nocd.inventory import import_documents, read_inventory  # noqa: E402
from nocd.storage import db  # noqa: E402
from nocd.storage.models import KpiPeriod, OutboxItem, RollupState, Sample  # noqa: E402
from nocd.storage.tokens import TokenRole, create_token  # noqa: E402

DISTRICT = "d01"
LOAD_RATE = 50.0  # API requests per second from the load process
SAMPLE_EVERY_S = 5.0  # CPU/RSS sampling period

# Lab shapes: aggregation × (1 + dslams + switches) devices.
FULL = {"aggregation": 40, "dslams": 48, "switches": 1, "lines": 2}  # 2,000 devices
QUICK = {"aggregation": 1, "dslams": 22, "switches": 1, "lines": 2}  # 24 devices


def say(args: argparse.Namespace, message: str) -> None:
    if not args.json:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ----------------------------------------------------------------------------- the lab


class LabShard(LabNetwork):
    """One snmpsim responder serving a slice of the lab's endpoints (own index cache)."""

    def __init__(self, lab_dir: Path, shard: int, shards: int) -> None:
        super().__init__(lab_dir, startup_timeout_s=600.0, clear_faults=shard == 0)
        self.devices = self.devices[shard::shards]
        self._shard = shard

    def _argv(self) -> list[str]:
        argv = super()._argv()
        cache = self.lab_dir / f"cache-{self._shard}"
        cache.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(cache, "nobody", "nogroup")
        return [f"--cache-dir={cache}" if a.startswith("--cache-dir=") else a for a in argv]

    @property
    def log_path(self) -> Path:
        return self.lab_dir / f"responder-{self._shard}.log"


# ----------------------------------------------------------------------------- set-up


def central_config(path: Path, timing: Timing) -> None:
    """Central's TOML: short rule timers for the soak's intervals; rules no fault exercises off."""
    path.write_text(
        f"""
[alerting]
interval_s = 5.0
district_silent_after_s = {timing.silent_after_s}
# Rules no soak fault exercises are off, so the lab's built-in conditions (standby uplinks
# that are down by design, KPI stability classes, SLA burn) add nothing unrelated.
disabled_rules = ["uplink_port_down", "line_unstable", "dslam_wide_area_event", "sla_status",
                  "port_error_ratio"]

[[alerting.rules]]
name = "device_down"
entity = "device"
expr = "state == down"
for = "0s"
severity = "critical"
impact = "subtree"

[[alerting.rules]]
name = "snr_margin_low"
entity = "line"
expr = "dsl_snr_margin_down_db < 3"
for = "0s"
clear = 4
severity = "major"
impact = "entity"

[kpi]
# Different periods, so that a computation strictly after a rollup run comes round soon.
rollup_interval_s = {max(10, min(60, timing.interfaces_s))}
kqi_interval_s = {max(10, min(60, timing.interfaces_s)) + 3}

[tickets]
incident_interval_s = 5.0

[traffic]
enabled = false

[report]
enabled = false
""",
        encoding="utf-8",
    )


def prepare_databases(
    central_url: str, district_url: str, inventory: Path, work: Path
) -> dict[str, str]:
    """Migrate both, import the lab inventory into both, make the tokens (files in ``work``)."""
    document = read_inventory(inventory)
    for url in (central_url, district_url):
        db.upgrade(url)
        engine = db.make_engine(url)
        with db.session_factory(engine)() as session:
            import_documents(session, [document])
            session.commit()
        engine.dispose()
    engine = db.make_engine(central_url)
    with db.session_factory(engine)() as session:
        tokens = {
            "district": create_token(
                session, "soak-district", TokenRole.DISTRICT, district=DISTRICT
            ),
            "operator": create_token(session, "soak-load", TokenRole.OPERATOR),
        }
        session.commit()
    engine.dispose()
    for name, token in tokens.items():
        path = work / f"{name}.token"
        path.write_text(token, encoding="utf-8")
        path.chmod(0o600)
    return tokens


def migrate(url: str, tries: int = 10) -> None:
    """``nocd db upgrade`` before a restart, as an operator deploying new code would.

    On a shared working tree a migration can land while the soak runs; the restarted daemon
    would refuse the old schema. A busy SQLite (the district writing) is retried.
    """
    for attempt in range(tries):
        try:
            db.upgrade(url)
            return
        except StorageUnavailable:
            if attempt == tries - 1:
                raise
            time.sleep(2.0)  # the district holds the write lock: try again shortly


# ----------------------------------------------------------------------------- the run


class Soak:
    """One soak run: set-up, the scripted faults and chaos, the end checks."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.rng = random.Random(args.seed)
        self.samples: list[dict[str, Any]] = []
        self.loads: list[float] = []  # 1-minute load average at every sampling tick
        self.started = 0.0
        self.timeline: list[dict[str, Any]] = []

    def note(self, event: str, **detail: Any) -> None:
        at = time.time()
        self.timeline.append({"t": round(at - self.started, 1), "event": event, **detail})
        say(self.args, f"{event} {detail if detail else ''}")

    async def run(self) -> dict[str, Any]:
        args = self.args
        shape = QUICK if args.quick else FULL
        if args.aggregation:
            shape = {**shape, "aggregation": args.aggregation}
        timing = Timing(
            duration_s=args.duration_s,
            interfaces_s=args.interfaces_s,
            dsl_s=args.dsl_s,
            timeout_s=args.timeout_s,
            warmup_s=args.warmup_s,
            chaos_down_s=args.chaos_down_s,
            tries=args.retries + 1,
            silent_intervals=args.silent_intervals,
        )
        lab_dir = self.work / "lab"
        plan = Lab.generate(
            LabSpec(districts=1, seed=args.seed, port=args.lab_port, **shape), lab_dir
        )
        say(args, f"lab: {len(plan.devices)} devices, {len(plan.lines)} lines in {lab_dir}")
        pg = PrivatePostgres(self.work / "pg")
        central_url = pg.start()
        try:
            return await self._run(args, plan, timing, shape, pg, central_url)
        finally:
            pg.stop()

    async def _run(
        self,
        args: argparse.Namespace,
        plan: Any,
        timing: Timing,
        shape: dict[str, int],
        pg: PrivatePostgres,
        central_url: str,
    ) -> dict[str, Any]:
        lab_dir = self.work / "lab"
        district_url = f"sqlite:///{self.work / 'district.db'}"
        tokens = prepare_databases(central_url, district_url, plan.inventory_path, self.work)
        central_config(self.work / "central.toml", timing)
        shards = [LabShard(lab_dir, i, args.shards) for i in range(args.shards)]
        t_lab = time.monotonic()
        await asyncio.gather(*(shard.start() for shard in shards))
        say(
            args, f"lab answering ({args.shards} responders) after {time.monotonic() - t_lab:.0f} s"
        )
        poll_env = {
            "NOCD_POLL__INTERFACES_S": str(timing.interfaces_s),
            "NOCD_POLL__DSL_LINES_S": str(timing.dsl_s),
            "NOCD_POLL__TIMEOUT_S": str(timing.timeout_s),
            "NOCD_POLL__RETRIES": str(args.retries),
            # A whole-device budget of two intervals: a lab agent slowed by a busy machine is
            # late, not dead (a dead one fails each request after timeout × tries anyway).
            "NOCD_POLL__DEADLINE_S": str(min(120.0, max(10.0, timing.interfaces_s * 2.0))),
            "NOCD_POLL__DOWN_AFTER_S": str(timing.interfaces_s / 2),
            "NOCD_POLL__BACKOFF_MAX_S": str(timing.interfaces_s),
            "NOCD_POLL__MAX_CONCURRENT": str(args.max_concurrent),
        }
        central = Node(
            "central",
            {
                "NOCD_CONFIG": str(self.work / "central.toml"),
                "NOCD_STORAGE__URL": central_url,
                "NOCD_DAEMON__LOG_LEVEL": "INFO",
                "NOCD_CENTRAL__SILENT_AFTER_S": str(timing.silent_after_s),
                "NOCD_CENTRAL__SILENCE_CHECK_S": "2",
                **poll_env,
            },
            self.work / "central.log",
        )
        link = Link(central.port)
        await link.start()
        district = Node(
            "district",
            {
                "NOCD_STORAGE__URL": district_url,
                "NOCD_DAEMON__DISTRICT": DISTRICT,
                "NOCD_DAEMON__LOG_LEVEL": "INFO",
                "NOCD_CENTRAL__URL": f"http://127.0.0.1:{link.port}",
                "NOCD_CENTRAL__TOKEN": tokens["district"],
                "NOCD_CENTRAL__HEARTBEAT_S": "2",
                "NOCD_CENTRAL__RETRY_MAX_S": "5",
                "NOCD_CENTRAL__TIMEOUT_S": "30",
                "NOCD_KPI__ENABLED": "false",
                "NOCD_TRAFFIC__ENABLED": "false",
                "NOCD_REPORT__ENABLED": "false",
                **poll_env,
            },
            self.work / "district.log",
        )
        faults = plan_faults(plan.devices, plan.lines, timing, self.rng)
        # Quick mode: the kills and the cut come after the faults have come and gone, so that
        # a short run still proves "one fault, one incident"; the full run mixes them.
        after = None
        if args.quick and faults:
            after = max(f.end for f in faults) + timing.detect_s + 20.0
        chaos = [] if args.no_chaos else plan_chaos(timing, self.rng, after=after)
        load_proc: subprocess.Popen[bytes] | None = None
        sampler: asyncio.Task[None] | None = None
        try:
            central.spawn()
            district.spawn()
            await asyncio.gather(central.wait_healthy(), district.wait_healthy())
            self.started = time.time()
            self.note("nodes healthy; soak clock starts")
            load_proc = self.start_load(central, timing)
            sampler = asyncio.create_task(self.sample(central, district, pg, shards, load_proc))
            await asyncio.gather(
                self.drive_faults(shards[0], faults),
                self.drive_chaos(chaos, central, district, pg, link),
                asyncio.sleep(timing.duration_s),
            )
            self.note("duration reached; clearing faults, restoring the link")
            shards[0].state.clear_all()
            link.restore()
            load_proc.terminate()
            try:
                load_proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                load_proc.kill()
            end = await self.settle(central, district, pg, district_url, central_url)
        finally:
            if sampler is not None:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
            if load_proc is not None and load_proc.poll() is None:
                load_proc.kill()
            for node in (district, central):
                node.terminate(timeout_s=30)
            try:
                await link.close()
                for shard in shards:
                    await shard.stop()
            finally:  # interrupted (Ctrl-C): the responders run in sessions of their own
                for shard in shards:
                    proc = shard._proc
                    if proc is not None and proc.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            proc.kill()
        verify = self.run_verify(district_url, central_url)
        return self.report(
            plan, timing, faults, chaos, central, district, end, verify, district_url, central_url
        )

    # -- load ------------------------------------------------------------------------------
    def start_load(self, central: Node, timing: Timing) -> subprocess.Popen[bytes]:
        self.load_out = self.work / "load.jsonl"
        command = [
            sys.executable,
            str(REPO / "bench" / "soak_load.py"),
            "--base",
            central.base,
            "--token-file",
            str(self.work / "operator.token"),
            "--rate",
            str(self.args.load_rate),
            "--duration-s",
            str(timing.duration_s + 600),
            "--seed",
            str(self.args.seed),
            "--out",
            str(self.load_out),
        ]
        log = (self.work / "load.log").open("wb")
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)

    # -- sampling --------------------------------------------------------------------------
    async def sample(
        self,
        central: Node,
        district: Node,
        pg: PrivatePostgres,
        shards: list[LabShard],
        load: subprocess.Popen[bytes],
    ) -> None:
        from bench.soak_cluster import children_of

        while True:
            now = round(time.time() - self.started, 1)
            pids: list[tuple[str, int | None]] = [
                ("district", district.pid),
                ("central", central.pid),
                ("load", load.pid if load.poll() is None else None),
                *((f"snmpsim-{i}", s._proc.pid if s._proc else None) for i, s in enumerate(shards)),
            ]
            self.loads.append(os.getloadavg()[0])
            postmaster = pg.postmaster_pid()
            for role, pid in pids:
                if pid is None:
                    continue
                got = proc_cpu_rss(pid)
                if got is not None:
                    self.samples.append(
                        {"t": now, "role": role, "pid": pid, "cpu_s": got[0], "rss_mb": got[1]}
                    )
            if postmaster is not None:
                total_cpu, total_rss = 0.0, 0.0
                for pid in [postmaster, *children_of(postmaster)]:
                    got = proc_cpu_rss(pid)
                    if got is not None:
                        total_cpu += got[0]
                        total_rss += got[1]
                self.samples.append(
                    {
                        "t": now,
                        "role": "postgresql",
                        "pid": postmaster,
                        "cpu_s": total_cpu,
                        "rss_mb": total_rss,
                    }
                )
            await asyncio.sleep(SAMPLE_EVERY_S if not self.args.quick else 2.0)

    # -- faults and chaos ------------------------------------------------------------------
    async def drive_faults(self, lab: LabNetwork, faults: list[PlannedFault]) -> None:
        events = sorted(
            [(f.start, 0, f) for f in faults] + [(f.end, 1, f) for f in faults],
            key=lambda e: (e[0], e[1]),
        )
        for at, kind, fault in events:
            delay = self.started + at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if kind == 0:
                lab.state.set_fault(fault.device, fault.fault, **fault.params)
                fault.started_at = time.time()
                self.note("fault on", name=fault.name, device=fault.device)
            else:
                lab.state.clear_fault(fault.device, fault.fault)
                fault.ended_at = time.time()
                self.note("fault off", name=fault.name, device=fault.device)

    async def drive_chaos(
        self,
        events: list[ChaosEvent],
        central: Node,
        district: Node,
        pg: PrivatePostgres,
        link: Link,
    ) -> None:
        for event in events:
            delay = self.started + event.at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            event.started_at = time.time()
            self.note(event.kind)
            if event.kind == "cut_link":
                link.cut()
                await asyncio.sleep(event.down_s)
                link.restore()
            elif event.kind == "kill_database":
                event.detail["killed_pids"] = len(pg.kill())
                await asyncio.sleep(event.down_s)
                await asyncio.to_thread(pg.start)
            else:
                node = district if event.kind == "kill_district" else central
                node.kill()
                await asyncio.sleep(event.down_s)
                await asyncio.to_thread(migrate, node.env["NOCD_STORAGE__URL"])
                node.spawn()
                event.detail["restart_s"] = round(await node.wait_healthy(), 1)
            event.recovered_at = time.time()
            self.note(
                f"{event.kind} recovered", after_s=round(event.recovered_at - event.started_at, 1)
            )

    # -- the end ---------------------------------------------------------------------------
    async def settle(
        self,
        central: Node,
        district: Node,
        pg: PrivatePostgres,
        district_url: str,
        central_url: str,
    ) -> dict[str, Any]:
        """Stop polling, drain the outbox, let central roll up and compute once more, stop both."""
        engine_d = db.make_engine(district_url)
        engine_c = db.make_engine(central_url)
        end: dict[str, Any] = {}
        try:
            # Stop the district (SIGTERM flushes), then restart it without polling to drain.
            end["district_exit"] = district.terminate()
            end["polling_stopped_at"] = round(time.time() - self.started, 1)
            district.env["NOCD_POLL__ENABLED"] = "false"
            await asyncio.to_thread(migrate, district_url)
            district.spawn()
            await district.wait_healthy()
            t0 = time.monotonic()

            def backlog() -> int:
                with db.session_factory(engine_d)() as s:
                    return int(s.scalar(select(func.count()).select_from(OutboxItem)) or 0)

            while (left := await asyncio.to_thread(backlog)) > 0:
                if time.monotonic() - t0 > 900:
                    raise RuntimeError(f"outbox not drained after 900 s ({left} items left)")
                await asyncio.sleep(1.0)  # re-check interval
            end["drain_s"] = round(time.monotonic() - t0, 1)
            self.note("outbox drained", seconds=end["drain_s"])
            drained_at = int(time.time())

            def kpi_marks() -> tuple[int, int, bool, bool]:
                """(last rollup run, last computation, a 5-min bucket closed, a period dirty)."""
                with db.session_factory(engine_c)() as s:
                    rolled = s.scalar(select(func.min(RollupState.updated_at))) or 0
                    computed = s.scalar(select(func.max(KpiPeriod.computed_at))) or 0
                    watermark = s.scalar(
                        select(RollupState.watermark).where(RollupState.resolution == "5m")
                    )
                    first = s.scalar(select(func.min(Sample.ts)))
                    closed = watermark is not None and first is not None and watermark > first
                    # A rollup that took in late data marks the period dirty; the stored
                    # figures are final only once a computation has cleaned it again.
                    dirty = s.scalar(select(func.count()).where(KpiPeriod.dirty.is_(True)))
                    return int(rolled), int(computed), closed, bool(dirty)

            for attempt in range(3):
                t1 = time.monotonic()
                while True:
                    rolled, computed, closed, dirty = await asyncio.to_thread(kpi_marks)
                    # A closed bucket gives the rollup check rows to compare. A bucket closes
                    # 5 min after its end: a quick run does not wait for that.
                    settled = rolled > drained_at and computed > rolled and not dirty
                    if settled and (closed or self.args.quick):
                        break
                    if time.monotonic() - t1 > 900:
                        raise RuntimeError("central computed no KPIs after the drain within 900 s")
                    await asyncio.sleep(0.5)  # re-check interval
                end["central_exit"] = central.terminate()
                rolled_after, _, _, _ = await asyncio.to_thread(kpi_marks)
                if rolled_after < computed:
                    break
                # A rollup ran between the computation and the stop: compute once more.
                self.note("rollup after the last computation; once more", attempt=attempt)
                drained_at = rolled_after
                await asyncio.to_thread(migrate, central_url)
                central.spawn()
                await central.wait_healthy()
            end["district_exit_drain"] = district.terminate()
            end["kpi_settle_s"] = round(time.monotonic() - t0 - end["drain_s"], 1)
        finally:
            engine_d.dispose()
            engine_c.dispose()
        return end

    def run_verify(self, district_url: str, central_url: str) -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOCD_")}
        env["NOCD_CONFIG"] = str(self.work / "central.toml")
        t0 = time.monotonic()
        run = subprocess.run(
            [
                *NOCD,
                "verify",
                "--district-db",
                district_url,
                "--central-db",
                central_url,
                "--district",
                DISTRICT,
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=1800,
            check=False,
        )
        try:
            result: dict[str, Any] = json.loads(run.stdout)
        except json.JSONDecodeError:
            result = {"ok": False, "checks": [], "error": run.stderr[-3000:]}
        result["exit_code"] = run.returncode
        result["seconds"] = round(time.monotonic() - t0, 1)
        return result

    # -- the report ------------------------------------------------------------------------
    def report(
        self,
        plan: Any,
        timing: Timing,
        faults: list[PlannedFault],
        chaos: list[ChaosEvent],
        central: Node,
        district: Node,
        end: dict[str, Any],
        verify: dict[str, Any],
        district_url: str,
        central_url: str,
    ) -> dict[str, Any]:
        """Save what the analysis needs (``--reanalyse`` reads it back), then analyse."""
        if self.loads:
            end["load_avg_1m_during"] = {
                "min": round(min(self.loads), 2),
                "mean": round(statistics.fmean(self.loads), 2),
                "max": round(max(self.loads), 2),
            }
        facts = Facts(
            started=self.started,
            quick=self.args.quick,
            seed=self.args.seed,
            load_out=self.load_out,
            samples=self.samples,
            timeline=self.timeline,
            devices=[d.name for d in plan.devices],
            lines=len(plan.lines),
            timing=timing,
            faults=faults,
            chaos=chaos,
            district_incarnations=district.incarnations,
            district_stopped=district.stopped,
            end=end,
            verify=verify,
            district_url=district_url,
        )
        with (self.work / FACTS).open("wb") as f:
            pickle.dump(facts, f)
        return analyse(facts, central_url)


def reanalyse(work: Path) -> dict[str, Any]:
    """Analyse a finished run again from its work directory (its PostgreSQL is restarted)."""
    with (work / FACTS).open("rb") as f:
        facts: Facts = pickle.load(f)
    pg = PrivatePostgres(work / "pg")
    try:
        return analyse(facts, pg.start())
    finally:
        pg.stop()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 minutes, 24 devices, 10 s polls")
    parser.add_argument(
        "--duration-s", type=float, help="soak length after start-up (default 1800)"
    )
    parser.add_argument("--aggregation", type=int, help="aggregation switches (50 devices each)")
    parser.add_argument("--interfaces-s", type=int, help="interface poll interval")
    parser.add_argument("--dsl-s", type=int, help="DSL line poll interval")
    parser.add_argument("--timeout-s", type=float, help="SNMP timeout per try")
    parser.add_argument("--retries", type=int, help="SNMP retries per request")
    parser.add_argument("--warmup-s", type=float, help="before the first fault")
    parser.add_argument("--chaos-down-s", type=float, help="how long a killed process stays dead")
    parser.add_argument(
        "--silent-intervals",
        type=float,
        help="central's silence timeout in interface intervals (quick 3, full 2)",
    )
    parser.add_argument("--shards", type=int, help="snmpsim responder processes")
    parser.add_argument("--max-concurrent", type=int, default=64, help="device polls at once")
    parser.add_argument("--load-rate", type=float, help="API requests/s (50; quick 20)")
    parser.add_argument("--no-chaos", action="store_true", help="faults only, no kills or cuts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lab-port", type=int, default=17161, help="UDP port of the lab agents")
    parser.add_argument("--json", action="store_true", help="print the JSON result to stdout")
    parser.add_argument("--out", type=Path, help="also write the JSON result to this file")
    parser.add_argument("--work", type=Path, help="work directory (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--reanalyse", type=Path, metavar="WORK", help="analyse a kept run's directory again"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "duration_s": 180.0 if quick else 1800.0,
        "interfaces_s": 10 if quick else 300,
        "dsl_s": 10 if quick else 300,
        # A busy machine can stall the lab's responders for seconds: only a device silent
        # for timeout × (retries + 1) fails a request.
        "timeout_s": 2.0 if quick else 4.0,
        "retries": 2 if quick else 1,
        "warmup_s": 30.0 if quick else 420.0,
        "chaos_down_s": 5.0 if quick else 30.0,
        # Full: 2 × 300 s, so the cut (silence + one interval = 15 min) and the kills end by
        # 65 % of a 50-minute run, leaving a steady state long enough to judge RSS.
        "silent_intervals": 3.0 if quick else 2.0,
        "shards": 1 if quick else 2,
        "load_rate": 20.0 if quick else LOAD_RATE,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.reanalyse:
        result = reanalyse(args.reanalyse)
        return _emit(args, result, args.reanalyse)
    work = args.work or Path(tempfile.mkdtemp(prefix="nocd-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # snmpsim runs as nobody when we are root
    try:
        result = asyncio.run(Soak(args, work).run())
    except RuntimeError as exc:
        print(f"soak failed: {exc} (work directory {work})", file=sys.stderr)
        return 2
    finally:
        if not args.keep and args.work is None and "result" in locals():
            shutil.rmtree(work, ignore_errors=True)
    return _emit(args, result, work if args.keep or args.work else None)


def _emit(args: argparse.Namespace, result: dict[str, Any], work: Path | None) -> int:
    text = json.dumps(result, indent=2, default=str)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    if args.json:
        print(text)
    else:
        print_table(result)
        if work is not None:
            print(f"work directory: {work}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
