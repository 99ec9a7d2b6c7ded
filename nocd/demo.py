"""``nocd demo``: a lab district, an all-in-one nocd on SQLite, Prometheus/Alertmanager when
installed, and a scripted fault story that leaves alerts, incidents, tickets and a report.

    options = DemoOptions(directory=Path("/tmp/nocd-demo"), duration_s=180)
    asyncio.run(run_demo(options, say=print))

The story (``DemoTimings``: a warm-up, then one step between faults):

1. a DSLAM's uplink is saturated (``uplink_utilisation`` critical → incident → ticket);
2. another DSLAM becomes unreachable (``device_down`` → incident → P1/P2 ticket);
3. the SNR margin of four lines on a third DSLAM collapses (``snr_margin_low``, one
   incident per line);
4. a customer on a healthy line calls the hotline (``POST /api/v1/tickets/hotline``): nocd
   classifies the complaint customer-side;
5. the DSLAM of step 2 comes back (its outage gets a duration), and the day's SLA report is
   produced, stored and written to ``<dir>/report/``.

The demo shortens the built-in rules' ``for`` and the poll/alerting/ticket intervals so the
story fits in about two minutes; nothing else differs from ``nocd run --role all``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx

from nocd.demo_stack import DEPLOY_DIR, ObservabilityStack, Server

if TYPE_CHECKING:
    from collectors.lab import LabLine, LabNetwork
    from nocd.config import Settings

__all__ = ["DemoOptions", "DemoTimings", "Story", "demo_settings", "pick_story", "run_demo"]

Say = Callable[[str], None]

_logger = logging.getLogger(__name__)

READY_DEADLINE_S = 60.0  # nocd answering /readyz after the daemon started
SNR_COLLAPSE_DB = 0.8
COMPLAINT_TRIES = 5
RECOVERY_DEADLINE_S = 30.0  # a device back from an outage is re-polled after its backoff
# Share of the uplink's speed the congestion fault adds. Not above 1: the poller drops a
# rate above speed + 2 % as a counter glitch, and on a loaded machine the measured rate
# jitters by ~10 % (agent and poller clocks differ per request), so a 99 % load reads as
# 0.9-1.0 and the critical level (> 95 %) fires on the first reading above it.
CONGESTION_LOAD = 0.99


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoTimings:
    """How fast the demo runs (seconds). The defaults show every fault within ~2 minutes."""

    warm_up_s: float = 20.0  # before the first fault: two interface polls give rates
    step_s: float = 20.0  # between scripted faults
    interfaces_s: int = 10  # poll intervals; shorter ones overload snmpsim on a small machine
    dsl_lines_s: int = 20
    alerting_s: float = 5.0  # alerting cycle; ticket/incident sync runs at the same pace
    rule_for_s: float = 10.0  # device_down: warning at once, critical after this


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    """Everything ``nocd demo`` takes from its command line."""

    directory: Path
    port: int = 8080
    lab_port: int = 1161
    duration_s: float | None = None
    fresh: bool = True
    observability: bool = True  # Prometheus + Alertmanager when installed
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    deploy: Path = DEPLOY_DIR
    timings: DemoTimings = DemoTimings()


@dataclass(frozen=True, slots=True, kw_only=True)
class Story:
    """Who the scripted faults hit, chosen from the lab's plan (``pick_story``)."""

    outage: str  # DSLAM made unreachable
    snr_device: str
    snr_lines: tuple[int, ...]
    congested: str  # DSLAM whose uplink is loaded
    congested_ifindex: int
    congestion_bps: float
    complaint: LabLine  # a healthy line whose customer calls


def pick_story(lab: LabNetwork) -> Story:
    """Four different DSLAMs: outage, SNR collapse, congestion, and a healthy line's customer."""
    from collectors.lab import DSLAM_UPLINK_IFINDEX, LabError, dslam_uplink_speed_bps

    dslams = [d for d in lab.devices if d.kind == "dslam"]
    if len(dslams) < 4:
        raise LabError(f"the demo story needs 4 DSLAMs, the lab has {len(dslams)}")
    outage, noisy, congested, calm = dslams[0], dslams[1], dslams[2], dslams[3]
    in_sync = [ln for ln in lab.lines if ln.device == noisy.name and ln.in_showtime]
    healthy = [
        ln
        for ln in lab.lines
        if ln.device == calm.name
        and ln.in_showtime
        and ln.snr_down_tenth_db >= 80
        and ln.actual_down_kbps >= ln.plan_down_kbps
    ]
    if not in_sync or not healthy:
        raise LabError("the lab has no lines in showtime for the demo story")
    return Story(
        outage=outage.name,
        snr_device=noisy.name,
        snr_lines=tuple(ln.ifindex for ln in in_sync[:4]),
        congested=congested.name,
        congested_ifindex=DSLAM_UPLINK_IFINDEX,
        congestion_bps=CONGESTION_LOAD * dslam_uplink_speed_bps(congested.technology or ""),
        complaint=healthy[0],
    )


def demo_settings(url: str, options: DemoOptions, alertmanager: str | None) -> Settings:
    """An all-in-one configuration with the demo's short intervals and rule pending times."""
    from nocd.alerting_config import AlertingSettings
    from nocd.config import ApiSettings, PollConfig, Settings, StorageSettings
    from nocd.kpi_config import KpiSettings
    from nocd.report_config import ReportSettings
    from nocd.ticket_config import TicketSettings

    t = options.timings
    pending = f"{t.rule_for_s:g}s"
    # SNR and utilisation fire on the first observation: a pending time would need two
    # successful alerting cycles that both see the line's newest poll, and on SQLite the
    # cycle right after a DSL poll's large write is the one most likely to be refused.
    rules: list[dict[str, Any]] = [
        # The built-ins of alerting/rules.py with the demo's pending times (same names replace).
        {"name": "device_down", "entity": "device", "expr": "state == down", "for": "0s",
         "severity": "warning", "impact": "subtree",
         "levels": [{"severity": "critical", "threshold": "down", "for": pending}],
         "annotations": {"summary": "device {entity_id} is down"}},
        {"name": "uplink_utilisation", "entity": "port", "match": {"role": "uplink"},
         "expr": "port_utilisation_ratio > 0.80", "for": "0s", "clear": 0.75,
         "severity": "warning", "impact": "subtree",
         "levels": [{"severity": "critical", "threshold": 0.95, "for": "0s", "clear": 0.90}],
         "annotations": {"summary": "uplink {entity_id} at {value} utilisation"}},
        {"name": "snr_margin_low", "entity": "line", "expr": "dsl_snr_margin_down_db < 3.0",
         "for": "0s", "clear": 4.0, "severity": "minor",
         "annotations": {"summary": "line {entity_id} downstream SNR margin {value} dB"}},
    ]  # fmt: skip
    return Settings(
        storage=StorageSettings(url=url),
        api=ApiSettings(port=options.port),
        poll=PollConfig(
            interfaces_s=t.interfaces_s,
            dsl_lines_s=t.dsl_lines_s,
            down_after_s=float(t.interfaces_s),  # one missed poll
            backoff_max_s=2.0 * t.interfaces_s,  # a device back up is seen within seconds
        ),
        alerting=AlertingSettings.model_validate(
            {
                "interval_s": t.alerting_s,
                # Uplinks are known once the first poll wrote the ports table: re-read the
                # topology often, not every 5 minutes, or uplink rules miss the story.
                "topology_refresh_s": 15.0,
                "rules": rules,
                "alertmanager_urls": [alertmanager] if alertmanager else [],
            }
        ),
        kpi=KpiSettings(rollup_interval_s=60, kqi_interval_s=60),
        tickets=TicketSettings(incident_interval_s=t.alerting_s, timer_interval_s=10.0),
        # The demo makes its own report at the end of the story; no catch-up of past days.
        report=ReportSettings(catch_up_days=0),
    )


async def run_demo(options: DemoOptions, say: Say) -> None:
    """Run the demo until ``duration_s`` passes or SIGINT/SIGTERM; every child stops with it."""
    from collectors.lab import LabNetwork
    from nocd.app import run_daemon

    directory = options.directory
    url, tokens = _prepare(options, say)
    stack = ObservabilityStack.find(options.deploy, directory / "observability")
    prometheus: Server | None = None
    alertmanager: Server | None = None
    try:
        if options.observability and stack.available:
            say("starting Alertmanager and Prometheus (deploy/ configs, runtime copies in "
                f"{stack.state})")  # fmt: skip
            prometheus, alertmanager = await stack.start(
                nocd_port=options.port,
                webhook_token_file=tokens["webhook_file"],
                prometheus_port=options.prometheus_port,
                alertmanager_port=options.alertmanager_port,
            )
        elif options.observability:
            say("Prometheus/Alertmanager not installed (Debian: apt install prometheus "
                "prometheus-alertmanager): running without them")  # fmt: skip
        settings = demo_settings(url, options, alertmanager.url if alertmanager else None)
        async with LabNetwork(directory / "lab") as lab:
            story = pick_story(lab)
            _print_urls(say, options, lab, prometheus, alertmanager)
            stop = asyncio.Event()
            if options.duration_s is not None:
                asyncio.get_running_loop().call_later(options.duration_s, stop.set)
            script = asyncio.create_task(
                _fault_story(lab, story, settings, options, tokens["operator"], say)
            )
            try:
                await run_daemon(settings, stop=stop)
            finally:
                _keep_stopping(say)
                script.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await script
    finally:
        await stack.stop()
    say("demo stopped")


def _keep_stopping(say: Say) -> None:
    """While the children stop, a second Ctrl-C (a terminal signals the whole group, and
    ``uv run``/make may pass it on) must not cut that short and leave them running. The
    handlers go with the event loop; the CLI ignores the signals from then on."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, say, "demo: stopping the lab and its servers …")


def _prepare(options: DemoOptions, say: Say) -> tuple[str, dict[str, Any]]:
    """The lab files, a migrated SQLite database with the lab inventory, and two tokens."""
    from collectors.lab import Lab, LabSpec
    from nocd.inventory import import_documents, read_inventory
    from nocd.storage import db, tokens

    directory = options.directory
    if options.fresh and directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)  # snmpsim runs as nobody: the lab needs a world-readable dir
    lab_dir = directory / "lab"
    if not (lab_dir / "inventory.yaml").exists():
        lab_dir.mkdir(exist_ok=True)
        lab_dir.chmod(0o755)
        spec = LabSpec(
            districts=1, aggregation=2, dslams=3, lines=24, switches=1, seed=7,
            port=options.lab_port,
        )  # fmt: skip
        Lab.generate(spec, lab_dir)
        say(f"generated the lab network in {lab_dir}")
    url = f"sqlite:///{directory / 'nocd.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine)() as session:
            import_documents(session, [read_inventory(lab_dir / "inventory.yaml")])
            n = len(tokens.list_tokens(session))
            operator = tokens.create_token(session, f"demo-operator-{n}", "operator")
            webhook = tokens.create_token(session, f"demo-alertmanager-{n}", "integration")
            session.commit()
    finally:
        engine.dispose()
    secrets = directory / "secrets"
    secrets.mkdir(mode=0o700, exist_ok=True)
    files = {}
    for name, value in (("operator.token", operator), ("alertmanager.token", webhook)):
        path = secrets / name
        path.write_text(value, encoding="utf-8")
        path.chmod(0o600)
        files[name] = path
    return url, {"operator": operator, "webhook_file": files["alertmanager.token"]}


def _print_urls(
    say: Say,
    options: DemoOptions,
    lab: LabNetwork,
    prometheus: Server | None,
    alertmanager: Server | None,
) -> None:
    base = f"http://127.0.0.1:{options.port}"
    token_file = options.directory / "secrets" / "operator.token"
    lines = [
        "",
        f"nocd demo: {len(lab.devices)} simulated devices on 127.x.y.z:{options.lab_port}",
        f"  API docs      {base}/docs",
        f"  metrics       {base}/metrics",
        f"  health        {base}/healthz  {base}/readyz",
        f"  token         {token_file} (role operator)",
        # The token stays in its 0600 file: never on the console or in a log.
        f'  devices       curl -H "Authorization: Bearer $(cat {token_file})" '
        f"{base}/api/v1/devices",
        f"  reports       {base}/api/v1/reports (latest printed when the story ends)",
    ]
    if prometheus is not None and alertmanager is not None:
        lines += [
            f"  Prometheus    {prometheus.url}/alerts  {prometheus.url}/targets",
            f"  Alertmanager  {alertmanager.url}/#/alerts",
        ]
    timings = options.timings
    lines += [
        f"  database      sqlite:///{options.directory / 'nocd.db'}",
        f"  lab faults    nocd lab fault DEVICE SCENARIO --dir {options.directory / 'lab'}",
        f"  fault story   first fault after {timings.warm_up_s:g} s, then one every "
        f"{timings.step_s:g} s",
        "  Ctrl-C stops" + (f", or after {options.duration_s:g} s" if options.duration_s else ""),
        "",
    ]
    say("\n".join(lines))


async def _wait_ready(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.5)  # poll interval of a readiness check


async def _fault_story(
    lab: LabNetwork, story: Story, settings: Settings, options: DemoOptions, token: str, say: Say
) -> None:
    """The scripted faults, then the day's report; runs beside the daemon in its loop."""
    try:
        await _script(lab, story, settings, options, token, say)
    except Exception:  # a failed step ends the story, never the daemon (logged)
        _logger.exception("demo: the fault story stopped")
        say("demo: the fault story stopped (see the log); nocd keeps running")


async def _script(
    lab: LabNetwork, story: Story, settings: Settings, options: DemoOptions, token: str, say: Say
) -> None:
    from collectors.lab import Fault

    timings = options.timings
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{options.port}"
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30.0) as client:
        await _wait_ready(client)
        await asyncio.sleep(timings.warm_up_s)
        # The congestion goes first: its alert needs two interface polls after the fault.
        say(f"demo: [1/5] uplink {story.congested} ifIndex {story.congested_ifindex} congested "
            f"(+{story.congestion_bps / 1e6:.0f} Mbit/s each way)")  # fmt: skip
        lab.set_fault(
            story.congested, Fault.CONGESTION, ports=[story.congested_ifindex],
            rate_bps=story.congestion_bps,
        )  # fmt: skip
        await asyncio.sleep(timings.step_s)
        say(f"demo: [2/5] DSLAM {story.outage} becomes unreachable (outage)")
        lab.set_fault(story.outage, Fault.UNREACHABLE)
        await asyncio.sleep(timings.step_s)
        lines = ",".join(str(x) for x in story.snr_lines)
        say(f"demo: [3/5] SNR margin collapses to {SNR_COLLAPSE_DB} dB on {story.snr_device} "
            f"lines {lines}")  # fmt: skip
        lab.set_fault(
            story.snr_device, Fault.SNR_COLLAPSE, lines=list(story.snr_lines),
            margin_db=SNR_COLLAPSE_DB,
        )  # fmt: skip
        await asyncio.sleep(timings.step_s)
        await _complaint(client, story.complaint, say)
        await asyncio.sleep(timings.step_s)
        say(f"demo: [5/5] DSLAM {story.outage} is back; producing today's SLA report")
        lab.clear_fault(story.outage)
        await _outage_over(client, story.outage)  # so the report gives the outage its end
        await _report(client, settings, options, say)


async def _outage_over(client: httpx.AsyncClient, device: str) -> None:
    """Wait (up to ``RECOVERY_DEADLINE_S``) until nocd resolved the device's down alert."""
    deadline = time.monotonic() + RECOVERY_DEADLINE_S
    params = {"rule": "device_down", "device": device, "status": "firing"}
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            response = await client.get("/api/v1/alerts", params=params)
            if response.status_code == 200 and response.json().get("total") == 0:
                return
        await asyncio.sleep(2.0)  # poll interval of this wait; the poller decides when
    _logger.warning(
        "demo: %s still down after %.0f s; reporting anyway", device, RECOVERY_DEADLINE_S
    )


async def _complaint(client: httpx.AsyncClient, line: LabLine, say: Say) -> None:
    """A customer calls the hotline about a line nocd sees as healthy."""
    for attempt in range(COMPLAINT_TRIES):
        # The same Idempotency-Key on every try: a retried call opens one ticket.
        response = await client.post(
            "/api/v1/tickets/hotline",
            json={
                "customer_id": line.customer,
                "description": "internet very slow in the evening (demo complaint)",
                "effect": "degraded",
                "kind": "complaint",
            },
            headers={"Idempotency-Key": f"demo-complaint-{line.customer}"},
        )
        if response.status_code != 503:  # 503: the database was busy; the hotline calls again
            break
        await asyncio.sleep(1.0 + attempt)
    if response.status_code != 201:
        say(f"demo: [4/5] hotline complaint refused: {response.status_code} {response.text}")
        return
    body = response.json()
    verdict = body["classification"]
    ticket = body["ticket"]["id"]
    say(f"demo: [4/5] customer {line.customer} complains (line {line.device}/{line.ifindex}): "
        f"ticket {ticket}, classified {verdict['side']} ({verdict['category']})")  # fmt: skip


async def _report(
    client: httpx.AsyncClient, settings: Settings, options: DemoOptions, say: Say
) -> None:
    """Today's (local) day report through the report service; files also under <dir>/report."""
    from nocd.report.service import ReportService
    from nocd.storage import db

    now = datetime.now(UTC)
    day = now.astimezone(ZoneInfo(settings.daemon.timezone)).date()
    engine = db.make_engine(settings.storage.url)
    try:
        service = ReportService(settings=settings, sessions=db.session_factory(engine))
        run = await asyncio.to_thread(service.run_sync, day, "day", now=now)
    finally:
        engine.dispose()
    out_dir = options.directory / "report"
    out_dir.mkdir(exist_ok=True)
    for files in run.files.values():
        for file in files:
            (out_dir / file.filename).write_bytes(file.content)
    listed = await client.get(
        "/api/v1/reports", params={"date": day.isoformat(), "period": "day", "format": "html"}
    )
    items = listed.json().get("items", []) if listed.status_code == 200 else []
    links = "  ".join(f"{str(client.base_url).rstrip('/')}{r['url']} ({r['lang']})" for r in items)
    say(f"demo: report for {day} stored: {links or '(not listed)'}\n"
        f"  latest report {out_dir / f'nocd-sla-day-{day}-en.html'}")  # fmt: skip
