"""The alerting pipeline's I/O edge: storage → observations → evaluate → correlate → reconcile.

    service = AlertingService(settings=settings, sessions=sessions, notifiers=[am])
    await service.run_cycle()        # one cycle; the scheduler calls it every interval_s
    service.explain("device_down:device:agg-1")

One cycle reads the inventory (as a ``Topology``, refreshed every ``topology_refresh_s``),
device verdicts and the samples stored since the previous cycle, and the alerts received
from Alertmanager; runs the pure core (``alerting.rules`` → ``alerting.correlation`` →
``alerting.lifecycle``); stores alerts, incidents, history and the pipeline's memory in one
transaction; then hands the notifications to the notifiers. The database work runs in a
thread (``asyncio.to_thread``); the clock is read once per cycle and is injectable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from alerting.correlation import (
    Correlation,
    CorrelationConfig,
    CorrelationState,
    Node,
    Topology,
    correlate,
    explain,
)
from alerting.lifecycle import reconcile_alerts, reconcile_incidents
from alerting.model import (
    Alert,
    AlertStatus,
    EntityKind,
    EntityRef,
    EntityState,
    Explanation,
    Incident,
    MaintenanceWindow,
    Observation,
    Severity,
    Value,
)
from alerting.notify import Notifier
from alerting.rules import EvaluationState, Rule, TransitionKind, evaluate
from kpi.definitions import KpiKey
from kpi.dsl_line import BIN_S, wide_area_events
from kpi.port import error_ratios
from nocd.config import Settings
from nocd.kpi_service import read_line_bins
from nocd.storage import alert_repo, kpi_repo, maintenance_repo, outbox_repo, poll_repo
from nocd.storage.alert_repo import TopologyRows, WebhookAlert
from nocd.storage.alerting_codec import (
    decode_correlation,
    decode_evaluation,
    encode_correlation,
    encode_evaluation,
)

__all__ = [
    "ALERTMANAGER_PREFIX",
    "AlertingService",
    "CycleReport",
    "line_ref",
    "port_ref",
    "sla_ref",
    "webhook_alert_to_alert",
]

_logger = logging.getLogger(__name__)

ALERTMANAGER_PREFIX = "alertmanager:"  # key prefix of alerts received from Alertmanager
FIRST_LOOKBACK_S = 900  # samples considered on the first cycle after a start
# Stored metrics the observations use (entity "if:N" / "line:N" of a device).
_METRICS = (
    "oper_up",
    "in_utilisation_ratio",
    "out_utilisation_ratio",
    "snr_margin_down_db",
    "inits_total",
    # a line without inits_total (VDSL2): inits in the running 15-minute bin and its age
    "curr15_inits",
    "curr15_elapsed_s",
    # per-interval deltas and per-second rates of the same poll pair (collectors.measurements)
    "in_errors",
    "out_errors",
    "in_discards",
    "out_discards",
    "in_ucast_pps",
    "out_ucast_pps",
)
# A port error ratio over fewer packets than this in one interval is not observed: on a
# nearly idle port a handful of errors would read as 50 %, and the packet rate is stored
# floored to whole packets per second (up to one packet per second of the interval lost).
ERROR_RATIO_MIN_PACKETS = 1000  # packets per interval
# Observation keys the service derives itself (not in the KPI catalogue, kpi.definitions).
RETRAINED_LINES_KEY = "dslam_retrained_lines_ratio"  # lines retrained since the last sample
WIDE_AREA_KEY = "dslam_wide_area_event"  # 1.0 when kpi.dsl_line flags the newest 15-min bin
SLA_STATUS_KEY = "sla_status"  # met | at_risk | breached of the newest period (kpi.sla)
OUTBOX_AGE_KEY = "outbox_oldest_age_seconds"  # as nocd_outbox_oldest_age_seconds
# Alertmanager severities → ours; anything else is a warning.
_SEVERITY_WORDS: Mapping[str, Severity] = {
    **{s.value: s for s in Severity},
    "page": Severity.CRITICAL,
    "error": Severity.MAJOR,
    "high": Severity.MAJOR,
    "low": Severity.MINOR,
    "none": Severity.INFO,
}


def port_ref(device: str, ifindex: int) -> EntityRef:
    """The entity of interface ``ifindex`` of ``device``: ``port:dslam-1/if:3``."""
    return EntityRef(kind=EntityKind.PORT, id=f"{device}/if:{ifindex}")


def line_ref(device: str, ifindex: int) -> EntityRef:
    """The entity of DSL line ``ifindex`` of ``device``: ``line:dslam-1/line:3``."""
    return EntityRef(kind=EntityKind.LINE, id=f"{device}/line:{ifindex}")


def sla_ref(target: str, district: str) -> EntityRef:
    """The entity of one SLA target's evaluation: ``sla:business-availability`` network-wide
    (district ``*``), ``sla:business-availability/xihu`` for one district."""
    return EntityRef(kind=EntityKind.SLA, id=target if district == "*" else f"{target}/{district}")


def _device_ref(name: str) -> EntityRef:
    return EntityRef(kind=EntityKind.DEVICE, id=name)


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleReport:
    """What one cycle did (for logs, metrics and tests)."""

    at: datetime
    observations: int
    firing: int
    unsuppressed: int
    incidents: int
    notified: int
    duration_s: float
    ok: bool = True


@dataclass(slots=True)
class _Inventory:
    topology: Topology
    line_ifindexes: dict[str, frozenset[int]]
    uplinks: frozenset[tuple[str, int]]
    devices: dict[str, tuple[str, str]]  # name -> (district, kind)
    loaded_at: float


def _build_inventory(rows: TopologyRows, loaded_at: float) -> _Inventory:
    nodes: list[Node] = []
    districts = {d.name: d.district for d in rows.devices}
    for d in rows.devices:
        parent = _device_ref(d.parent) if d.parent else None
        nodes.append(Node(entity=_device_ref(d.name), district=d.district, parent=parent))
    uplinks = set()
    for p in rows.ports:
        if p.device not in districts:
            continue
        if p.uplink:
            uplinks.add((p.device, p.ifindex))
        nodes.append(
            Node(
                entity=port_ref(p.device, p.ifindex),
                district=districts[p.device],
                parent=_device_ref(p.device),
                role="uplink" if p.uplink else None,
            )
        )
    lines: dict[str, set[int]] = defaultdict(set)
    for ln in rows.lines:
        if ln.device not in districts:
            continue
        lines[ln.device].add(ln.ifindex)
        nodes.append(
            Node(
                entity=line_ref(ln.device, ln.ifindex),
                district=districts[ln.device],
                parent=_device_ref(ln.device),
                customer_id=ln.customer_id,
                sla_class=ln.sla_class,
            )
        )
    return _Inventory(
        topology=Topology.build(nodes),
        line_ifindexes={name: frozenset(ix) for name, ix in lines.items()},
        uplinks=frozenset(uplinks),
        devices={d.name: (d.district, d.kind) for d in rows.devices},
        loaded_at=loaded_at,
    )


def _severity(word: str | None) -> Severity:
    return _SEVERITY_WORDS.get((word or "").lower(), Severity.WARNING)


def webhook_alert_to_alert(received: WebhookAlert, topology: Topology | None = None) -> Alert:
    """An alert received from Alertmanager as a nocd alert (key ``alertmanager:<name>:<fp>``).

    Its entity is the ``device`` label (so topology correlation applies to it), else the
    ``district`` label, else the ``instance``/``job`` as a collector.
    """
    labels = dict(received.labels)
    name = labels.get("alertname", "alertmanager")
    district = labels.get("district", "")
    if labels.get("device"):
        entity = _device_ref(labels["device"])
        node = topology.nodes.get(entity) if topology is not None else None
        district = district or (node.district if node is not None else "")
    elif district:
        entity = EntityRef(kind=EntityKind.DISTRICT, id=district)
    else:
        entity = EntityRef(
            kind=EntityKind.COLLECTOR, id=labels.get("instance") or labels.get("job") or name
        )
    annotations = dict(received.annotations)
    summary = annotations.get("summary") or annotations.get("description") or name
    annotations.setdefault("summary", summary)
    if received.generator_url:
        annotations.setdefault("generator_url", received.generator_url)
    resolved = received.status is AlertStatus.RESOLVED
    return Alert(
        key=f"{ALERTMANAGER_PREFIX}{name}:{received.fingerprint}",
        rule=name,
        severity=_severity(labels.get("severity")),
        entity=entity,
        district=district,
        status=received.status,
        started_at=received.starts_at,
        resolved_at=(received.ends_at or received.starts_at) if resolved else None,
        labels=labels,
        annotations=annotations,
        values={},
        expression=f"Alertmanager alert {name} (receiver {received.receiver or '?'})",
    )


def _from_alertmanager(alert: Alert) -> bool:
    return alert.key.startswith(ALERTMANAGER_PREFIX)


@dataclass(slots=True)
class AlertingService:
    """Runs the alerting cycle against storage; see the module docstring."""

    settings: Settings
    sessions: Callable[[], Session]
    notifiers: Sequence[Notifier] = ()
    # the cycle's one write transaction (SQLite: BEGIN IMMEDIATE); default: ``sessions``
    write_sessions: Callable[[], Session] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    observer: Callable[[AlertingService, CycleReport], None] | None = None
    rules: tuple[Rule, ...] = ()
    correlation_config: CorrelationConfig = field(default_factory=CorrelationConfig)
    # memory (loaded from storage on the first cycle)
    _loaded: bool = False
    _started_at: datetime | None = None
    _evaluation: EvaluationState = field(default_factory=EvaluationState)
    _correlation_state: CorrelationState = field(default_factory=CorrelationState)
    _open: dict[str, Alert] = field(default_factory=dict)
    _incidents: dict[str, Incident] = field(default_factory=dict)
    _inventory: _Inventory | None = None
    _samples_after: int | None = None
    _inits: dict[tuple[str, int], float] = field(default_factory=dict)
    _curr15: dict[tuple[str, int], _BinCount] = field(default_factory=dict)  # last VDSL2 count
    _lines_down: set[tuple[str, int]] = field(default_factory=set)  # last oper status down
    _port_ts: dict[tuple[str, int], int] = field(default_factory=dict)  # last rate sample
    _stability_at: int | None = None  # computed_at of the line_kpis already observed
    _wide_area_watermark: int | None = None  # 5-minute rollup watermark _wide_area was judged at
    _wide_area: dict[str, float] = field(default_factory=dict)  # DSLAM -> 1.0 / 0.0
    _last_obs: dict[EntityRef, Observation] = field(default_factory=dict)
    _last: Correlation | None = None
    _last_now: datetime | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _again: bool = False
    _report: CycleReport | None = None
    _windows: tuple[MaintenanceWindow, ...] = ()
    _failing: bool = False
    _pruned_at: datetime | None = None
    _tasks: set[asyncio.Task[CycleReport | None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.rules:
            self.rules = self.settings.alerting.effective_rules()
        self.correlation_config = CorrelationConfig.from_rules(self.rules)

    # -- read-only views (API, metrics) ---------------------------------------------------------
    @property
    def open_alerts(self) -> Mapping[str, Alert]:
        """Firing alerts after the last cycle, by key."""
        return self._open

    @property
    def open_incidents(self) -> Mapping[str, Incident]:
        """Open incidents after the last cycle, by key."""
        return self._incidents

    @property
    def topology(self) -> Topology | None:
        """The topology of the last cycle."""
        return self._inventory.topology if self._inventory is not None else None

    def districts(self) -> tuple[str, ...]:
        """Districts known to the inventory (for pre-initialised metric labels)."""
        return tuple(sorted(self._inventory.topology.districts)) if self._inventory else ()

    def maintenance(self) -> tuple[MaintenanceWindow, ...]:
        """Maintenance windows of the last cycle (configuration and ``/api/v1/maintenance``)."""
        return self._windows

    def _maintenance(
        self, session: Session, inventory: _Inventory, now: datetime
    ) -> tuple[MaintenanceWindow, ...]:
        now_s = int(now.timestamp())
        windows = list(self.settings.alerting.windows())
        for record in maintenance_repo.windows_between(session, now_s, now_s + 1):
            entities = frozenset({_device_ref(record.device)} if record.device else ())
            districts = frozenset({record.district} if record.district else ())
            if not entities and not districts:  # the whole network
                districts = inventory.topology.districts
            if not entities and not districts:
                continue
            windows.append(
                MaintenanceWindow(
                    id=f"maintenance-{record.id}",
                    start=datetime.fromtimestamp(record.starts_at, UTC),
                    end=datetime.fromtimestamp(record.ends_at, UTC),
                    districts=districts,
                    entities=entities,
                    reason=record.reason,
                )
            )
        return tuple(windows)

    def explain(self, key: str) -> Explanation | None:
        """Why the firing alert ``key`` fired and is or is not suppressed (None if not firing)."""
        if self._last is None or self._inventory is None or self._last.alert(key) is None:
            return None
        return explain(
            key,
            self._last,
            self._inventory.topology,
            maintenance=self.maintenance(),
            now=self._last_now,
            config=self.correlation_config,
        )

    # -- the cycle --------------------------------------------------------------------------------
    def request_cycle(self) -> None:
        """Run a cycle soon (e.g. after the webhook stored alerts), without waiting for it."""
        task = asyncio.get_running_loop().create_task(self.run_cycle(), name="alerting-cycle")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run_cycle(self) -> CycleReport | None:
        """One cycle, then the notifications; the report, or None when the cycle failed (logged
        once per outage, never raised). A call while a cycle runs makes that cycle run once
        more and returns its report rather than queueing another."""
        if self._lock.locked():
            self._again = True
            async with self._lock:
                return self._report
        async with self._lock:
            while True:
                self._again = False
                self._report = await self._guarded_cycle()
                if not self._again:
                    break
        return self._report

    async def _guarded_cycle(self) -> CycleReport | None:
        started = time.monotonic()
        now = self.clock()
        try:
            push, counts = await asyncio.to_thread(self._cycle, now)
        except Exception as exc:
            # Per-cycle stability point: a failure (database down, bad row) must not end
            # alerting; the next cycle retries from stored state.
            if not self._failing:
                _logger.error(
                    "alerting cycle failed (retrying every cycle): %s",
                    exc,
                    exc_info=_logger.isEnabledFor(logging.DEBUG),
                )
            self._failing = True
            self._loaded = False  # re-read the stored state: this cycle's writes rolled back
            if self.observer is not None:
                failed = CycleReport(
                    at=now,
                    observations=0,
                    firing=len(self._open),
                    unsuppressed=sum(1 for a in self._open.values() if not a.suppressed),
                    incidents=len(self._incidents),
                    notified=0,
                    duration_s=time.monotonic() - started,
                    ok=False,
                )
                self.observer(self, failed)
            return None
        if self._failing:
            _logger.info("alerting cycle works again")
            self._failing = False
        for notifier in self.notifiers:
            try:
                await notifier.send(push, now=now)
            except Exception as exc:  # noqa: BLE001 - per-notifier stability point: a notifier
                # bug must not stop the others or the cycle (notifiers log their own outages).
                _logger.error("notifier %s failed: %s", type(notifier).__name__, exc)
        observations, notified = counts
        report = CycleReport(
            at=now,
            observations=observations,
            firing=len(self._open),
            unsuppressed=sum(1 for a in self._open.values() if not a.suppressed),
            incidents=len(self._incidents),
            notified=notified,
            duration_s=time.monotonic() - started,
        )
        if self.observer is not None:
            self.observer(self, report)
        return report

    def _cycle(self, now: datetime) -> tuple[list[Alert], tuple[int, int]]:
        # Where this cycle started reading samples: a failed cycle (its writes rolled back)
        # must not have consumed them, or the next one would never observe them.
        cursor = (self._samples_after, dict(self._inits), dict(self._curr15), dict(self._port_ts))
        try:
            return self._cycle_once(now)
        except BaseException:
            self._samples_after, self._inits, self._curr15, self._port_ts = cursor
            raise

    def _cycle_once(self, now: datetime) -> tuple[list[Alert], tuple[int, int]]:
        config = self.settings.alerting
        with self.sessions() as session:
            if not self._loaded:
                self._load(session)
            if self._started_at is None:
                self._started_at = now
            inventory = self._refresh_inventory(session)
            observations, collectors = self._observe(session, inventory, now)
            observations += self._repeated(observations, collectors)
            expire = timedelta(seconds=config.webhook_expire_s)
            firing_in, resolved_in = alert_repo.firing_webhook_alerts(
                session, now=now, expire=expire
            )
            self._evaluation, transitions = evaluate(
                self.rules, observations, self._evaluation, now
            )
            self._forget_settled()
            external = [webhook_alert_to_alert(a, inventory.topology) for a in firing_in]
            result = correlate(
                (*self._evaluation.firing(), *external),
                inventory.topology,
                collectors,
                now,
                observations=observations,
                previous=self._correlation_state,
                config=self.correlation_config,
            )
            windows = self._windows = self._maintenance(session, inventory, now)
            ended = [t.alert for t in transitions if t.kind is TransitionKind.RESOLVED]
            ended += [webhook_alert_to_alert(a, inventory.topology) for a in resolved_in]
            alerts = reconcile_alerts(
                self._open,
                (*result.alerts, *ended),
                now,
                maintenance=windows,
                topology=inventory.topology,
            )
            incidents = reconcile_incidents(
                self._incidents, result.incidents, now, alerts=alerts.open
            )
        # Reads above (one snapshot), writes below in a transaction of their own: on SQLite a
        # read transaction cannot become a writer once the collection has committed since
        # ("database is locked" at once), which at thousands of devices was every cycle.
        with (self.write_sessions or self.sessions)() as session:
            alert_repo.prune_webhook_alerts(session, before=now - expire)
            alert_repo.save_cycle(
                session,
                alerts=alerts,
                incidents=incidents,
                now=now,
                devices=partial_device(inventory.topology),
                sources=lambda a: (
                    alert_repo.ALERTMANAGER_SOURCE
                    if _from_alertmanager(a)
                    else alert_repo.RULE_SOURCE
                ),
            )
            alert_repo.save_state(
                session, "evaluation", encode_evaluation(self._evaluation), now=now
            )
            alert_repo.save_state(session, "correlation", encode_correlation(result.state), now=now)
            if self._pruned_at is None or now - self._pruned_at > timedelta(hours=1):
                alert_repo.prune_history(
                    session, before=now - timedelta(days=config.history_keep_days)
                )
                self._pruned_at = now
            session.commit()
        # Only after the commit: memory follows what is stored.
        self._correlation_state = result.state
        self._open = dict(alerts.open)
        self._incidents = dict(incidents.open)
        self._last, self._last_now = result, now
        for alert in alerts.resolved:
            _logger.info("alert %s resolved", alert.key)
        for alert in alerts.notify:
            if alert.status is AlertStatus.FIRING:
                _logger.warning(
                    "alert %s fired (%s): %s",
                    alert.key,
                    alert.severity,
                    alert.annotations.get("summary", alert.expression),
                )
        # Alertmanager forgets what is not re-sent: every announced firing alert goes out each
        # cycle, resolutions once (the notifier retries them if the push fails).
        push = [a for a in self._open.values() if a.notified]
        push += [a for a in alerts.notify if a.status is AlertStatus.RESOLVED]
        push = [a for a in push if not _from_alertmanager(a)]
        return push, (len(observations), len(alerts.notify))

    def _repeated(
        self, fresh: Sequence[Observation], collectors: Mapping[str, EntityState]
    ) -> list[Observation]:
        """The last observation of ports and lines whose rule timers run but that have no new
        sample this cycle: a ``for`` elapses between samples. Then remember the fresh ones,
        but only for entities with a pending or firing rule (a healthy line costs nothing)."""
        seen = {obs.entity for obs in fresh}
        watched = {entry.entity for entry in self._evaluation.entries.values()}
        repeated = [
            obs
            for ref, obs in self._last_obs.items()
            if ref in watched
            and ref not in seen
            and collectors.get(obs.district) is not EntityState.DOWN
        ]
        for obs in fresh:
            if obs.entity.kind in (EntityKind.PORT, EntityKind.LINE):
                values = {k: v for k, v in obs.values.items() if k != "retrains"}
                self._last_obs[obs.entity] = replace(obs, values=values)
        return repeated

    def _forget_settled(self) -> None:
        watched = {entry.entity for entry in self._evaluation.entries.values()}
        for ref in [ref for ref in self._last_obs if ref not in watched]:
            del self._last_obs[ref]

    def _load(self, session: Session) -> None:
        self._evaluation = decode_evaluation(alert_repo.load_state(session, "evaluation"))
        self._correlation_state = decode_correlation(alert_repo.load_state(session, "correlation"))
        self._open = alert_repo.open_alerts(session)
        self._incidents = alert_repo.open_incidents(session)
        # The KPI results are re-read with the state: a failed cycle's reads were not applied.
        self._stability_at = None
        self._wide_area_watermark = None
        self._loaded = True

    def _refresh_inventory(self, session: Session) -> _Inventory:
        refresh_s = self.settings.alerting.topology_refresh_s
        now_s = time.monotonic()
        if self._inventory is None or now_s - self._inventory.loaded_at >= refresh_s:
            self._inventory = _build_inventory(alert_repo.topology_rows(session), now_s)
        return self._inventory

    def refresh_topology(self) -> None:
        """Re-read the inventory on the next cycle (after an import)."""
        self._inventory = None

    # -- observations -------------------------------------------------------------------------
    def _observe(
        self, session: Session, inventory: _Inventory, now: datetime
    ) -> tuple[list[Observation], dict[str, EntityState]]:
        now_s = int(now.timestamp())
        silent_after = self.settings.alerting.district_silent_after_s
        statuses = poll_repo.device_statuses(session)
        newest: dict[str, int] = {}
        for status in statuses:
            polled = status.last_poll_at or status.since
            newest[status.district] = max(newest.get(status.district, 0), polled)
        judging = (
            self._started_at is not None
            and (now - self._started_at).total_seconds() >= silent_after
        )
        collectors = {
            district: EntityState.DOWN
            if judging and now_s - last > silent_after
            else EntityState.UP
            for district, last in newest.items()
        }
        for district in alert_repo.silent_districts(session):
            collectors[district] = EntityState.DOWN
        district_values = self._outbox_values(session, now_s)
        observations: list[Observation] = []
        for district in sorted(collectors.keys() | district_values.keys()):
            observations.append(
                Observation(
                    entity=EntityRef(kind=EntityKind.DISTRICT, id=district),
                    district=district,
                    time=now,
                    state=collectors.get(district),
                    values=district_values.get(district, {}),
                    labels={"district": district},
                )
            )
        silent_districts = {d for d, s in collectors.items() if s is EntityState.DOWN}
        lines_and_ports, device_values = self._sample_observations(
            session, inventory, now_s, silent_districts
        )
        self._judge_wide_area(session)
        for device, flag in self._wide_area.items():
            device_values.setdefault(device, {})[WIDE_AREA_KEY] = flag
        for status in statuses:
            silent = status.district in silent_districts
            state = EntityState.UNKNOWN if silent else EntityState(status.state)
            polled = status.last_poll_at or status.since
            _, kind = inventory.devices.get(status.device, (status.district, ""))
            observations.append(
                Observation(
                    entity=_device_ref(status.device),
                    district=status.district,
                    time=datetime.fromtimestamp(polled, UTC),
                    state=state,
                    values=device_values.get(status.device, {}),
                    labels={"device": status.device, "kind": kind},
                )
            )
        observations += _with_stability(
            lines_and_ports, self._stability_observations(session, silent_districts)
        )
        observations += _sla_observations(session)
        return observations, collectors

    def _outbox_values(self, session: Session, now_s: int) -> dict[str, dict[str, Value]]:
        """A district process: the age of its oldest unsent outbox item (0 when none), the
        value of ``nocd_outbox_oldest_age_seconds``. Other roles have no outbox."""
        district = self.settings.daemon.district
        if not district:
            return {}
        stats = outbox_repo.outbox_stats(session, district=district)
        if stats is None:
            return {}
        oldest = stats.oldest_created_at
        age = float(max(0, now_s - oldest)) if oldest is not None else 0.0
        return {district: {OUTBOX_AGE_KEY: age}}

    def _stability_observations(self, session: Session, silent: set[str]) -> list[Observation]:
        """Each line's stability class, once per KPI computation that stored a new one."""
        rows = kpi_repo.line_stability_since(session, computed_after=self._stability_at)
        if not rows:
            return []
        self._stability_at = max(row.computed_at for row in rows)
        return [
            Observation(
                entity=line_ref(row.device, row.ifindex),
                district=row.district,
                time=datetime.fromtimestamp(row.computed_at, UTC),
                values={KpiKey.DSL_STABILITY.value: row.stability},
                labels={"device": row.device},
            )
            for row in rows
            if row.stability is not None and row.district not in silent
        ]

    def _judge_wide_area(self, session: Session) -> None:
        """Flag DSLAMs whose newest complete 15-minute bin is a wide-area event.

        The bin comes from the 5-minute rollups through the KPI service's ``read_line_bins``
        (running counters, or a VDSL2 agent's own ``pm15_*`` bins)
        and is judged by ``kpi.dsl_line.wide_area_events`` with ``[kpi.wide_area]``, so the
        alert and the bins left out of line scoring agree. Judged again whenever the
        rollups advance: a VDSL2 agent's own count of a bin is polled during the next bin,
        so it can complete the bin up to 15 minutes after its counter-based lines. Without
        rollups (a district process) nothing is flagged.
        """
        watermark = kpi_repo.rollup_watermark(session, "5m")
        if watermark is None or watermark == self._wide_area_watermark:
            return
        self._wide_area_watermark = watermark
        start = (watermark // BIN_S) * BIN_S - BIN_S  # the newest bin wholly before it
        lines = kpi_repo.line_inventory(session)
        # until the end of the next bin: a VDSL2 agent's own count of this bin comes then
        bins = read_line_bins(session, lines, since=start, until=start + 2 * BIN_S)
        self._wide_area = {}
        bins = bins.loc[bins["start"] == start] if len(bins) else bins
        if bins.empty:
            return  # a DSLAM's firing alert holds: no data is not "no event"
        events = wide_area_events(bins, thresholds=self.settings.kpi.wide_area.to_thresholds())
        names = dict(zip(lines["dslam"], lines["device"], strict=True))
        self._wide_area = {
            names[dslam]: 1.0 if flagged else 0.0
            for dslam, flagged in zip(events["dslam"], events["wide_area"], strict=True)
        }

    def _sample_observations(
        self, session: Session, inventory: _Inventory, now_s: int, silent: set[str]
    ) -> tuple[list[Observation], dict[str, dict[str, Value]]]:
        """Port and line observations from new samples; per-device values derived from them."""
        since = self._samples_after if self._samples_after is not None else now_s - FIRST_LOOKBACK_S
        rows = alert_repo.samples_since(session, since, _METRICS)
        if rows:
            self._samples_after = max(row.ts for row in rows)
        elif self._samples_after is None:
            self._samples_after = since
        # (device, entity kind, ifindex, ts) -> metric -> value
        grouped: dict[tuple[str, str, int, int], dict[str, float]] = defaultdict(dict)
        districts: dict[str, str] = {}
        for row in rows:
            if row.district in silent:
                continue
            prefix, _, index = row.entity.partition(":")
            if prefix not in ("if", "line") or not index.isdigit():
                continue
            ifindex = int(index)
            kind = (
                "line"
                if prefix == "line"
                or ifindex in inventory.line_ifindexes.get(row.device, frozenset())
                else "port"
            )
            grouped[(row.device, kind, ifindex, row.ts)][row.metric] = row.value
            districts[row.device] = row.district
        error_ratios_at = self._error_ratios(grouped)
        observations: list[Observation] = []
        retrained: dict[str, list[bool]] = defaultdict(list)
        for (device, kind, ifindex, ts), metrics in sorted(grouped.items()):
            at = datetime.fromtimestamp(ts, UTC)
            values: dict[str, Value] = {}
            state: EntityState | None = None
            if "oper_up" in metrics:
                state = EntityState.UP if metrics["oper_up"] >= 1 else EntityState.DOWN
            labels = {"device": device}
            if kind == "port":
                utilisation = [
                    metrics[m]
                    for m in ("in_utilisation_ratio", "out_utilisation_ratio")
                    if m in metrics
                ]
                if utilisation:
                    values[KpiKey.PORT_UTILISATION.value] = max(utilisation)
                values.update(error_ratios_at.get((device, ifindex, ts), {}))
                if (device, ifindex) in inventory.uplinks:
                    labels["role"] = "uplink"
                entity = port_ref(device, ifindex)
            else:
                if state is EntityState.DOWN:
                    self._lines_down.add((device, ifindex))
                elif state is EntityState.UP:
                    self._lines_down.discard((device, ifindex))
                # A line out of showtime (modem off) reports a margin of 0 dB: no data, not
                # a collapse. Its state says it is down; the SNR rule must not judge it.
                if "snr_margin_down_db" in metrics and (device, ifindex) not in self._lines_down:
                    values[KpiKey.DSL_SNR_MARGIN_DOWN.value] = metrics["snr_margin_down_db"]
                if "inits_total" in metrics:
                    count = metrics["inits_total"]
                    before = self._inits.get((device, ifindex))
                    self._inits[(device, ifindex)] = count
                    if before is not None and count >= before:
                        values["retrains"] = count - before
                        retrained[device].append(count > before)
                elif "curr15_inits" in metrics:
                    after = _BinCount(
                        ts=ts,
                        inits=metrics["curr15_inits"],
                        elapsed_s=metrics.get("curr15_elapsed_s"),
                    )
                    earlier = self._curr15.get((device, ifindex))
                    self._curr15[(device, ifindex)] = after
                    if earlier is not None:
                        retrains = _inits_between(earlier, after)
                        values["retrains"] = retrains
                        retrained[device].append(retrains > 0)
                entity = line_ref(device, ifindex)
            if state is None and not values:
                continue
            observations.append(
                Observation(
                    entity=entity,
                    district=districts[device],
                    time=at,
                    state=state,
                    values=values,
                    labels=labels,
                )
            )
        device_values: dict[str, dict[str, Value]] = {
            device: {RETRAINED_LINES_KEY: sum(flags) / len(flags)}
            for device, flags in retrained.items()
        }
        return observations, device_values

    def _error_ratios(
        self, grouped: Mapping[tuple[str, str, int, int], Mapping[str, float]]
    ) -> dict[tuple[str, int, int], dict[str, Value]]:
        """Port error/discard ratios (``kpi.port.error_ratios``) by (device, ifIndex, ts).

        Errors and discards are stored as deltas per interval but packets as a rate, so the
        interval is the time since the port's previous rate sample (the poll pair both come
        from); a port's first sample after a start gives no ratio.
        """
        keys: list[tuple[str, int, int]] = []
        columns: dict[str, list[float]] = defaultdict(list)
        for (device, kind, ifindex, ts), metrics in sorted(grouped.items()):
            if kind != "port" or not {"in_ucast_pps", "out_ucast_pps"} & metrics.keys():
                continue
            before = self._port_ts.get((device, ifindex))
            self._port_ts[(device, ifindex)] = ts
            if before is None or ts <= before:
                continue
            interval_s = ts - before
            keys.append((device, ifindex, ts))
            for direction in ("in", "out"):
                pkts = metrics.get(f"{direction}_ucast_pps", np.nan) * interval_s
                columns[f"{direction}_pkts"].append(pkts)
                columns[f"{direction}_errors"].append(metrics.get(f"{direction}_errors", np.nan))
                columns[f"{direction}_discards"].append(metrics.get(f"{direction}_discards", 0.0))
        if not keys:
            return {}
        frame = pd.DataFrame(columns)
        ratios = error_ratios(frame)
        enough = {
            "in": (frame["in_pkts"] >= ERROR_RATIO_MIN_PACKETS).to_numpy(),
            "out": (frame["out_pkts"] >= ERROR_RATIO_MIN_PACKETS).to_numpy(),
        }
        named = (
            (KpiKey.PORT_IN_ERROR_RATIO, "in_error_ratio", "in"),
            (KpiKey.PORT_OUT_ERROR_RATIO, "out_error_ratio", "out"),
            (KpiKey.PORT_IN_DISCARD_RATIO, "in_discard_ratio", "in"),
            (KpiKey.PORT_OUT_DISCARD_RATIO, "out_discard_ratio", "out"),
        )
        out: dict[tuple[str, int, int], dict[str, Value]] = defaultdict(dict)
        for key, column, direction in named:
            values = ratios[column].to_numpy(dtype=np.float64)
            for i in np.flatnonzero(enough[direction] & np.isfinite(values)):
                out[keys[i]][key.value] = float(values[i])
        return dict(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class _BinCount:
    """One sample of a line's inits in the running 15-minute bin (``curr15_*``), at ``ts``."""

    ts: int
    inits: float
    elapsed_s: float | None


def _inits_between(earlier: _BinCount, after: _BinCount) -> float:
    """Inits of a line between two samples of its running 15-minute bin count (VDSL2).

    The same bin: the increase. A new bin (the count went down, the elapsed time went back,
    or the bin began after the earlier sample): the new count, the inits since the bin
    began. That is a lower bound: inits between the earlier sample and the end of the old
    bin are not seen here (only in that bin's ``pm15_inits``, 15–30 minutes later).
    """
    new_bin = after.inits < earlier.inits
    if earlier.elapsed_s is not None and after.elapsed_s is not None:
        # also a gap of more than a bin between the samples, where the elapsed time can grow
        new_bin |= after.elapsed_s < earlier.elapsed_s or after.ts - after.elapsed_s > earlier.ts
    return after.inits if new_bin else after.inits - earlier.inits


def _with_stability(samples: list[Observation], stability: list[Observation]) -> list[Observation]:
    """Sample observations with each line's new stability class added to its latest one.

    ``evaluate`` reads one observation per entity (the latest): a separate stability
    observation would hide that sample's values (and restart the SNR rule's ``for``).
    """
    if not stability:
        return samples
    latest: dict[EntityRef, int] = {}
    for i, obs in enumerate(samples):
        seen = latest.get(obs.entity)
        if seen is None or obs.time >= samples[seen].time:
            latest[obs.entity] = i
    merged = list(samples)
    alone: list[Observation] = []
    for obs in stability:
        at = latest.get(obs.entity)
        if at is None:
            alone.append(obs)
        else:
            merged[at] = replace(merged[at], values={**merged[at].values, **obs.values})
    return merged + alone


def _sla_observations(session: Session) -> list[Observation]:
    """The verdict of every SLA target in the newest computed period (``sla_results``)."""
    return [
        Observation(
            entity=sla_ref(record.target, record.district),
            district="" if record.district == "*" else record.district,
            time=datetime.fromtimestamp(record.evaluated_until, UTC),
            values={SLA_STATUS_KEY: record.status},
            labels={
                "target": record.target,
                "kqi": record.kqi,
                "sla_class": record.sla_class,
                "scope": record.scope,
            },
        )
        for record in kpi_repo.query_sla(session, period_start=None)
    ]


def partial_device(topology: Topology) -> Callable[[Alert], str | None]:
    """The device an alert is about: its entity if a device, else the nearest device upstream."""

    def device(alert: Alert) -> str | None:
        if alert.entity.kind is EntityKind.DEVICE:
            return alert.entity.id
        if alert.labels.get("device"):
            return alert.labels["device"]
        upstream = topology.device_of(alert.entity)
        return upstream.id if upstream is not None else None

    return device


def firing_counts(
    alerts: Iterable[Alert],
) -> dict[tuple[str, str, str], int]:
    """(severity, rule, district) → firing alerts, for ``nocd_alerts_firing``."""
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for alert in alerts:
        counts[(alert.severity.value, alert.rule, alert.district)] += 1
    return dict(counts)
