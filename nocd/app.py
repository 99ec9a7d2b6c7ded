"""The one wiring place: builds the FastAPI app and runs the daemon (HTTP + scheduler, one loop).

app = create_app(settings)            # in-process, e.g. httpx.ASGITransport(app) in tests
asyncio.run(run_daemon(settings))     # `nocd run`: until SIGTERM/SIGINT
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from alerting.notify.alertmanager import AlertmanagerNotifier
from nocd import __version__
from nocd.alerting_service import AlertingService, CycleReport
from nocd.api import alerts as alerts_api
from nocd.api import health, ingest, inventory
from nocd.api import kpis as kpis_api
from nocd.api import maintenance as maintenance_api
from nocd.api import metrics as metrics_api
from nocd.api import reports as reports_api
from nocd.api import tickets as tickets_api
from nocd.api import traffic as traffic_api
from nocd.api import webhooks as webhooks_api
from nocd.api.admission import AdmissionLimit, admission_limit
from nocd.api.errors import document_error_shapes, install_error_handlers
from nocd.collection import Collection
from nocd.config import Role, Settings
from nocd.districts import DistrictWatch, silent_after_s
from nocd.kpi_service import KpiService
from nocd.metrics import (
    AlertingCollector,
    AlertingMetrics,
    AlertingSnapshot,
    DistrictCollector,
    IngestMetrics,
    KpiCollector,
    LineStabilityCollector,
    OutboxCollector,
    OutboxMetrics,
    PollMetrics,
    TicketCollector,
    TicketMetrics,
    TicketSnapshot,
    TrafficCollector,
    TrafficSnapshot,
    UplinkCollector,
    build_registry,
)
from nocd.outbox import Forwarder, Outbox, limits_of
from nocd.report.service import ReportService
from nocd.storage import (
    db,
    district_repo,
    inventory_repo,
    kpi_repo,
    outbox_repo,
    ticket_repo,
    uplink_repo,
)
from nocd.ticket_service import TicketService, alerting_inbox
from nocd.traffic_service import TrafficService

__all__ = [
    "READINESS_INTERVAL_S",
    "SHUTDOWN_GRACE_S",
    "configure_logging",
    "create_app",
    "run_daemon",
]

_logger = logging.getLogger(__name__)

READINESS_INTERVAL_S = 10.0  # how often the scheduler re-checks the database
SHUTDOWN_GRACE_S = 3  # open requests get this long after SIGTERM; the promise is exit < 5 s

_DESCRIPTION = """\
REST API of nocd, the broadband access-network monitoring daemon.

Every `/api/v1` route needs `Authorization: Bearer <token>` (tokens come from
`nocd token create`). Reads accept the `viewer`, `operator` and `integration` roles;
writes need `operator` (ticket writes also `integration`); a `district` token may only call
`POST /api/v1/ingest`. The full role × route matrix is in docs/security.md.
"""


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    session_factory: Callable[[], Session] | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """The FastAPI app with every router, its own metrics registry and database health.

    ``engine`` defaults to one made from ``settings.storage.url`` (disposed at lifespan end);
    ``session_factory`` defaults to sessions on that engine. Tests pass a factory bound to
    an outer transaction. Nothing here touches the database until a request arrives.
    """
    owned_engine = engine is None
    engine = engine if engine is not None else db.make_engine(settings.storage.url)
    sessions = session_factory if session_factory is not None else db.session_factory(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await _close_alerting(_app)
        await _close_tickets(_app)
        if owned_engine:
            engine.dispose()

    app = FastAPI(
        title="nocd",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = sessions
    # Writers that read first (the collection, the alerting cycle's writes): on SQLite they
    # take the write lock before reading (db.write_session_factory). Tests' factories serve both.
    app.state.write_session_factory = (
        session_factory if session_factory is not None else db.write_session_factory(engine)
    )
    app.state.db_health = health.DatabaseHealth(engine, db.check_schema)
    app.state.registry = (
        registry
        if registry is not None
        else build_registry(
            role=settings.daemon.role.value,
            device_counts=partial(_device_counts, sessions),
        )
    )
    app.add_middleware(AdmissionLimit, limit=admission_limit(engine))
    install_error_handlers(app)
    document_error_shapes(app)
    app.include_router(health.router)
    app.include_router(metrics_api.router)
    app.include_router(inventory.router)
    _alerting(app, settings, sessions)
    _two_tiers(app, settings, sessions)
    _kpis(app, settings, sessions)
    _tickets(app, settings, sessions)
    _traffic(app, settings, sessions)
    _reports(app, settings, sessions)
    return app


def _two_tiers(app: FastAPI, settings: Settings, sessions: Callable[[], Session]) -> None:
    """Central: the ingest route and district metrics. District: the outbox metrics."""
    registry: CollectorRegistry = app.state.registry
    role = settings.daemon.role
    if role is Role.CENTRAL:
        app.include_router(ingest.router)
        app.state.ingest_metrics = IngestMetrics(registry)
        app.state.started_at = time.time()
        registry.register(
            DistrictCollector(
                partial(_district_statuses, sessions),
                started_at=app.state.started_at,
                wall_clock=time.time,
            )
        )
    elif role is Role.DISTRICT and settings.daemon.district:
        limits = limits_of(settings.central)
        registry.register(
            OutboxCollector(
                partial(_outbox_stats, sessions, settings.daemon.district),
                quota_items=limits.quota_items,
                quota_bytes=limits.quota_bytes,
                wall_clock=time.time,
            )
        )


def _district_statuses(
    sessions: Callable[[], Session],
) -> list[district_repo.DistrictStatusRecord]:
    with sessions() as session:
        return district_repo.district_statuses(session)


def _outbox_stats(sessions: Callable[[], Session], district: str) -> outbox_repo.OutboxStats | None:
    with sessions() as session:
        return outbox_repo.outbox_stats(session, district=district)


def _alerting(app: FastAPI, settings: Settings, sessions: Callable[[], Session]) -> None:
    """The alerting service (cycle scheduled in ``_serve``), its metrics, notifiers and API."""
    app.include_router(alerts_api.router)
    app.state.alerting = None
    config = settings.alerting
    if not config.enabled:
        return
    registry: CollectorRegistry = app.state.registry
    metrics = AlertingMetrics(registry)
    notifiers = []
    if config.alertmanager_urls:
        notifier = AlertmanagerNotifier(
            config.push_urls(),
            # Alertmanager forgets an alert whose endsAt passed: outlive a few missed cycles.
            expires_after=timedelta(seconds=max(4 * config.interval_s, 60.0)),
            origin=config.origin,
            timeout_s=config.alertmanager_timeout_s,
            record=metrics.pushed,
        )
        metrics.targets(notifier.targets)
        notifiers.append(notifier)

    def observe(_service: AlertingService, report: CycleReport) -> None:
        metrics.cycle(report.ok, report.duration_s, report.at.timestamp())

    service = AlertingService(
        settings=settings,
        sessions=sessions,
        write_sessions=app.state.write_session_factory,
        notifiers=notifiers,
        observer=observe,
    )
    severities = {rule.name: [lv.severity.value for lv in rule.levels] for rule in service.rules}

    def snapshot() -> AlertingSnapshot:
        return AlertingSnapshot(
            alerts=tuple(service.open_alerts.values()),
            incidents=tuple(service.open_incidents.values()),
            rule_severities=severities,
            districts=service.districts(),
        )

    registry.register(AlertingCollector(snapshot))
    app.state.alerting = service
    app.state.alerting_metrics = metrics


async def _close_alerting(app: FastAPI) -> None:
    service: AlertingService | None = getattr(app.state, "alerting", None)
    if service is not None:
        for notifier in service.notifiers:
            await notifier.aclose()


def _schedule_alerting(scheduler: AsyncIOScheduler, app: FastAPI) -> None:
    service: AlertingService | None = app.state.alerting
    if service is None:
        return
    scheduler.add_job(
        service.run_cycle,
        "interval",
        seconds=service.settings.alerting.interval_s,
        id="alerting",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )


def _kpis(app: FastAPI, settings: Settings, sessions: Callable[[], Session]) -> None:
    """KPI/KQI/SLA routes, maintenance CRUD, the KPI service (central and all) and its gauges."""
    app.include_router(kpis_api.router)
    app.include_router(maintenance_api.router)
    app.state.kpi_service = None
    if not settings.kpi.enabled or settings.daemon.role is Role.DISTRICT:
        return
    service = KpiService(settings=settings, sessions=sessions)

    def latest() -> tuple[tuple[Any, ...], tuple[Any, ...], int | None]:
        results = service.latest
        return results.kqis, results.slas, results.computed_at

    app.state.registry.register(KpiCollector(latest))
    app.state.registry.register(LineStabilityCollector(partial(_stability_counts, sessions)))
    app.state.registry.register(UplinkCollector(partial(_uplink_readings, sessions)))
    app.state.kpi_service = service


def _stability_counts(sessions: Callable[[], Session]) -> Mapping[str, Mapping[str, int]]:
    """district → stability class → lines, read at scrape time (the metrics thread)."""
    with sessions() as session:
        return kpi_repo.line_stability_counts(session)


def _uplink_readings(sessions: Callable[[], Session]) -> list[uplink_repo.UplinkReading]:
    """Each uplink's newest 5-minute rollup of the last 15 minutes, read at scrape time."""
    with sessions() as session:
        return uplink_repo.newest_uplink_rollups(session, since=int(time.time()) - 900)


def _schedule_kpis(scheduler: AsyncIOScheduler, app: FastAPI) -> None:
    """Rollups, KQI/SLA and retention jobs; each body is one coroutine of the service."""
    service: KpiService | None = app.state.kpi_service
    if service is None:
        return
    config = app.state.settings.kpi

    def now() -> int:
        return int(time.time())

    for job, seconds, first in (
        ("kpi-rollup", config.rollup_interval_s, 0),
        ("kpi-kqi", config.kqi_interval_s, 30),
        ("kpi-retention", config.retention_interval_s, 60),
    ):
        run = {
            "kpi-rollup": service.rollup_once,
            "kpi-kqi": service.compute_once,
            "kpi-retention": service.retention_once,
        }[job]

        async def body(run: Callable[[int], Awaitable[None]] = run) -> None:
            await run(now())

        scheduler.add_job(
            body,
            "interval",
            seconds=seconds,
            id=job,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC) + timedelta(seconds=first),
        )


def _tickets(app: FastAPI, settings: Settings, sessions: Callable[[], Session]) -> None:
    """Ticket and roster routes, webhook subscriptions, the ticket service and its metrics.

    Tickets live on central (and ``all``); a district process serves the routes answering 404.
    The alerting coupling is ``TicketService.sync_incidents`` (scheduled below), which reads
    the incidents alerting stores: one ticket per new incident, repeats and line children
    attached, a recovery suggesting resolution. Breaches go to ``breach_listeners``.
    """
    app.include_router(tickets_api.router)
    app.include_router(webhooks_api.router)
    tickets_api.install_error_handlers(app)
    app.state.tickets = None
    config = settings.tickets
    if not config.enabled or settings.daemon.role is Role.DISTRICT:
        return
    service = TicketService(settings=config, sessions=sessions, timezone=settings.daemon.timezone)
    service.breach_listeners.append(alerting_inbox(sessions))
    registry: CollectorRegistry = app.state.registry
    timers = {timer.name for t in service.templates.values() for timer in t.timers}
    service.observer = TicketMetrics(registry, timers)
    window = timedelta(days=config.metrics_window_days)

    def snapshot() -> TicketSnapshot:
        with sessions() as session:
            ratios = ticket_repo.ticket_ratios(session, datetime.now(UTC) - window)
            return TicketSnapshot(
                counts=ticket_repo.ticket_counts(session),
                ratios={
                    r.district: (r.arrivals, r.arrivals_on_time, r.callbacks_due, r.callbacks_done)
                    for r in ratios
                },
                outbox=ticket_repo.outbox_pending(session),
            )

    registry.register(TicketCollector(snapshot))
    app.state.tickets = service


async def _close_tickets(app: FastAPI) -> None:
    service: TicketService | None = getattr(app.state, "tickets", None)
    if service is not None:
        await service.aclose()


def _schedule_tickets(scheduler: AsyncIOScheduler, app: FastAPI) -> None:
    """Timer breaches, webhook delivery and incident tickets; each body is one coroutine."""
    service: TicketService | None = app.state.tickets
    if service is None:
        return
    config = service.settings
    jobs: list[tuple[str, float, Callable[[], Awaitable[None]]]] = [
        ("ticket-timers", config.timer_interval_s, service.run_timers),
        ("ticket-webhooks", config.webhook_interval_s, service.run_webhooks),
    ]
    if config.incident_tickets and app.state.alerting is not None:
        jobs.append(("ticket-incidents", config.incident_interval_s, service.run_incident_sync))
    for job, seconds, body in jobs:
        scheduler.add_job(
            body,
            "interval",
            seconds=seconds,
            id=job,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )


def _reports(app: FastAPI, settings: Settings, sessions: Callable[[], Session]) -> None:
    """Stored SLA reports (API on every role) and the report service (central and all)."""
    app.include_router(reports_api.router)
    app.state.reports = None
    if not settings.report.enabled or settings.daemon.role is Role.DISTRICT:
        return
    app.state.reports = ReportService(settings=settings, sessions=sessions)


def _schedule_reports(scheduler: AsyncIOScheduler, app: FastAPI) -> None:
    """The nightly report (cron in ``[daemon] timezone``) and, once at start, the catch-up."""
    service: ReportService | None = app.state.reports
    if service is None:
        return
    config = service.settings.report
    scheduler.add_job(
        service.run_nightly,
        CronTrigger(
            hour=config.hour,
            minute=config.minute,
            timezone=ZoneInfo(service.settings.daemon.timezone),
        ),
        id="report-nightly",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=3600,
    )
    # A run missed while the daemon was down is done now; the KPI jobs start first.
    scheduler.add_job(
        service.catch_up,
        "date",
        run_date=datetime.now(UTC) + timedelta(seconds=90),
        id="report-catch-up",
        max_instances=1,
    )


def _traffic(app: FastAPI, settings: Settings, sessions: Callable[[], Session]) -> None:
    """Forecast/capacity/flow routes, the traffic service (central and all) and its gauges.

    Its alerts go through the alerting inbox; capacity tickets through the ticket service.
    """
    app.include_router(traffic_api.router)
    app.state.traffic = None
    if not settings.traffic.enabled or settings.daemon.role is Role.DISTRICT:
        return
    service = TrafficService(
        settings=settings, sessions=sessions, tickets=getattr(app.state, "tickets", None)
    )

    def snapshot() -> TrafficSnapshot:
        results = service.latest
        return TrafficSnapshot(
            forecasts=tuple(
                (f.district, f.device or "", f.link or "", f.horizon, f.peak_bps)
                for f in results.forecasts
                if f.scope == "link"
            ),
            bands=tuple(
                (f.district, f.device or "", f.link or "", f.horizon, max(f.lower), max(f.upper))
                for f in results.forecasts
                if f.scope == "link" and f.lower and f.upper
            ),
            capacity=tuple(
                (c.district, c.device, c.link, c.days)
                for c in results.capacity
                if c.days is not None
            ),
            computed_at=results.computed_at,
        )

    app.state.registry.register(TrafficCollector(snapshot))
    app.state.traffic = service


def _schedule_traffic(scheduler: AsyncIOScheduler, app: FastAPI) -> None:
    """The daily refit and the 5-minute anomaly pass; each body is one coroutine."""
    service: TrafficService | None = app.state.traffic
    if service is None:
        return
    config = app.state.settings.traffic

    async def refit() -> None:
        await service.refit_once(int(time.time()))

    async def anomalies() -> None:
        await service.anomaly_once(int(time.time()))

    start = datetime.now(UTC)
    for job, body, seconds, first in (
        ("traffic-refit", refit, config.refit_interval_s, config.refit_delay_s),
        ("traffic-anomaly", anomalies, config.anomaly_interval_s, config.refit_delay_s + 30),
    ):
        scheduler.add_job(
            body,
            "interval",
            seconds=seconds,
            id=job,
            max_instances=1,
            coalesce=True,
            next_run_time=start + timedelta(seconds=first),
        )


def _device_counts(sessions: Callable[[], Session]) -> Mapping[str, Mapping[str, int]]:
    """district → kind → devices, read at scrape time (the metrics thread, not the loop)."""
    with sessions() as session:
        return inventory_repo.count_devices(session)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ``run_daemon`` owns SIGTERM/SIGINT.

    uvicorn's handlers would re-raise the signal after shutdown, so the process would die
    of SIGTERM (exit 143) instead of exiting 0.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_daemon(
    settings: Settings,
    *,
    readiness_interval_s: float = READINESS_INTERVAL_S,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve HTTP and run the scheduler in this event loop until SIGTERM/SIGINT.

    Raises ``StorageUnavailable`` before serving anything when the database cannot be
    reached or its schema is not current (the message says to run ``nocd db upgrade``).
    Setting ``stop`` (if given) ends it like a signal does (``nocd demo --duration``).
    """
    loop = asyncio.get_running_loop()
    stop = stop if stop is not None else asyncio.Event()
    server: _Server | None = None

    def on_signal(signum: signal.Signals) -> None:
        if stop.is_set() and server is not None:
            _logger.warning("%s again: stopping without waiting for open requests", signum.name)
            server.force_exit = True
        else:
            _logger.info("%s received: stopping", signum.name)
        stop.set()

    # Installed first, so that a signal during the start-up checks also ends cleanly.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    engine = db.make_engine(settings.storage.url)
    try:
        revision = await asyncio.to_thread(db.check_schema, engine)
        _logger.info(
            "nocd %s starting: role=%s, database %s at revision %s",
            __version__,
            settings.daemon.role.value,
            db.safe_url(engine.url),
            revision,
        )
        app = create_app(settings, engine=engine)
        server = _make_server(app, settings)
        if not stop.is_set():
            await _serve(app, server, stop, readiness_interval_s)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        engine.dispose()
    _logger.info("nocd stopped")


def _make_server(app: FastAPI, settings: Settings) -> _Server:
    return _Server(
        uvicorn.Config(
            app,
            host=settings.api.host,
            port=settings.api.port,
            log_config=None,  # our handlers (configure_logging), not uvicorn's
            access_log=settings.daemon.log_level == "DEBUG",
            lifespan="on",
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        )
    )


async def _serve(
    app: FastAPI, server: _Server, stop: asyncio.Event, readiness_interval_s: float
) -> None:
    db_health: health.DatabaseHealth = app.state.db_health
    await db_health.check()
    scheduler = AsyncIOScheduler(timezone=UTC)
    # Job bodies hold no logic: each calls one coroutine wired here.
    scheduler.add_job(
        db_health.check,
        "interval",
        seconds=readiness_interval_s,
        id="readiness",
        max_instances=1,
        coalesce=True,
    )
    _schedule_alerting(scheduler, app)
    _schedule_kpis(scheduler, app)
    _schedule_tickets(scheduler, app)
    _schedule_traffic(scheduler, app)
    _schedule_reports(scheduler, app)

    async def serve() -> None:
        try:
            await server.serve()
        finally:
            stop.set()  # the server ended on its own (e.g. could not bind): stop the rest

    settings: Settings = app.state.settings
    sessions = app.state.session_factory
    # The collection's writer reads (device ids, statuses) before it writes: on SQLite it
    # takes the write lock first, or a concurrent commit fails it with "database is locked".
    collection = Collection(
        settings=settings,
        sessions=app.state.write_session_factory,
        metrics=PollMetrics(app.state.registry),
    )
    forwarder = None
    if settings.daemon.role is Role.DISTRICT and settings.daemon.district:
        # Everything the district stores goes to central through the outbox (no HTTP hop
        # in role "all": one process, one database).
        outbox = Outbox(
            district=settings.daemon.district, sessions=sessions, limits=limits_of(settings.central)
        )
        collection.store_poll, collection.record_state = outbox.store_poll, outbox.record_state
        collection.sync_ports = outbox.sync_ports
        forwarder = Forwarder(outbox, settings.central, OutboxMetrics(app.state.registry))
    if settings.daemon.role is Role.CENTRAL:
        watch = DistrictWatch(
            sessions=sessions,
            silent_after_s=silent_after_s(settings),
            started_at=app.state.started_at,
        )
        scheduler.add_job(
            watch.check,
            "interval",
            seconds=settings.central.silence_check_s,
            id="district-silence",
            max_instances=1,
            coalesce=True,
        )

    async def stop_on_signal(loops: list[asyncio.Task[None]]) -> None:
        await stop.wait()
        server.should_exit = True
        for task in loops:
            task.cancel()

    scheduler.start()
    try:
        async with asyncio.TaskGroup() as tasks:
            loops = []
            if collection.enabled():
                loops.append(tasks.create_task(collection.run(), name="collection"))
            if forwarder is not None:
                loops.append(tasks.create_task(forwarder.run(), name="forwarder"))
            tasks.create_task(serve(), name="http")
            tasks.create_task(stop_on_signal(loops), name="stop")
    finally:
        scheduler.shutdown(wait=False)


# Bearer tokens and passwords in URLs, should any library ever put one in a log message.
_SECRET_PATTERNS = (
    (re.compile(r"(?i)(bearer\s+)\S+"), r"\1***"),
    (re.compile(r"\bnocd_[A-Za-z0-9_\-]{16,}"), "nocd_***"),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
)


class _RedactSecrets(logging.Filter):
    """Masks token- and password-shaped strings in every record before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for pattern, replacement in _SECRET_PATTERNS:
            redacted = pattern.sub(replacement, redacted)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(level: str) -> None:
    """Root logging to stderr at ``level``; chatty libraries stay at WARNING unless DEBUG."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactSecrets())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    for name in ("apscheduler", "uvicorn.access", "httpx", "alembic"):
        logging.getLogger(name).setLevel(quiet)
