"""The Prometheus registry of one nocd process: process/platform, build info, inventory gauges."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError

from alerting.model import Alert, Incident, Severity
from collectors.poller import DeviceState, PollJob, PollOutcome
from nocd import __version__
from nocd.errors import StorageUnavailable
from nocd.storage.district_repo import DistrictStatusRecord
from nocd.storage.kpi_repo import KqiRecord, SlaRecord
from nocd.storage.models import DEVICE_KINDS
from nocd.storage.outbox_repo import OutboxStats
from nocd.storage.uplink_repo import UplinkReading

__all__ = [
    "AlertingCollector",
    "AlertingMetrics",
    "AlertingSnapshot",
    "DeviceCountSource",
    "DistrictCollector",
    "IngestMetrics",
    "InventoryCollector",
    "KpiCollector",
    "LineStabilityCollector",
    "OutboxCollector",
    "OutboxMetrics",
    "PollMetrics",
    "TicketCollector",
    "TicketMetrics",
    "TicketSnapshot",
    "TrafficCollector",
    "TrafficSnapshot",
    "UplinkCollector",
    "build_registry",
    "render",
]

_logger = logging.getLogger(__name__)

# district -> kind -> number of devices. Districts with no device map to an empty mapping,
# so their series still exist (at 0) and a dashboard can tell "none" from "unknown".
DeviceCountSource = Callable[[], Mapping[str, Mapping[str, int]]]


class InventoryCollector:
    """Yields ``nocd_inventory_devices{district,kind}`` from the inventory at scrape time.

    Every known kind is reported for every district, 0 included (pre-initialised label
    values, client_python ``labels.md``). When the database is unavailable the family is
    exported without samples: the scrape still succeeds and readiness reports the outage.
    """

    NAME = "nocd_inventory_devices"
    DOC = "Devices in the inventory, by district and kind."

    def __init__(self, source: DeviceCountSource, kinds: Sequence[str] = DEVICE_KINDS) -> None:
        self._source = source
        self._kinds = tuple(kinds)

    def describe(self) -> Iterable[Metric]:
        """Names only, so that registering does not query the database."""
        return [GaugeMetricFamily(self.NAME, self.DOC, labels=("district", "kind"))]

    def collect(self) -> Iterable[Metric]:
        """One gauge sample per (district, kind)."""
        family = GaugeMetricFamily(self.NAME, self.DOC, labels=("district", "kind"))
        try:
            counts = self._source()
        except (SQLAlchemyError, StorageUnavailable) as exc:
            # The readiness monitor logs the outage once; a scrape every 15 s must not.
            _logger.debug("inventory metrics skipped: %s", exc)
            return [family]
        for district in sorted(counts):
            by_kind = counts[district]
            for kind in sorted({*self._kinds, *by_kind}):
                family.add_metric((district, kind), float(by_kind.get(kind, 0)))
        return [family]


class LineStabilityCollector:
    """Yields ``nocd_dsl_lines{district,stability}``: DSL lines per stability class.

    Read at scrape time with one grouped query over the newest per-line KPIs (central and
    all-in-one, where the KPI service writes them). Labels stay bounded: district and the
    class (stable, errored, marginal, unstable, unknown), every class reported, 0 included.
    """

    NAME = "nocd_dsl_lines"
    DOC = "DSL lines by stability class, from the newest per-line KPI computation."
    CLASSES = ("stable", "errored", "marginal", "unstable", "unknown")

    def __init__(self, source: DeviceCountSource) -> None:
        self._source = source

    def describe(self) -> Iterable[Metric]:
        """Names only, so that registering does not query the database."""
        return [GaugeMetricFamily(self.NAME, self.DOC, labels=("district", "stability"))]

    def collect(self) -> Iterable[Metric]:
        """One gauge sample per (district, class)."""
        family = GaugeMetricFamily(self.NAME, self.DOC, labels=("district", "stability"))
        try:
            counts = self._source()
        except (SQLAlchemyError, StorageUnavailable) as exc:
            _logger.debug("line stability metrics skipped: %s", exc)
            return [family]
        for district in sorted(counts):
            by_class = counts[district]
            for stability in (*self.CLASSES, *sorted(set(by_class) - set(self.CLASSES))):
                family.add_metric((district, stability), float(by_class.get(stability, 0)))
        return [family]


class UplinkCollector:
    """Yields the load of every uplink from its newest 5-minute rollup, read at scrape time.

    ``nocd_uplink_bps`` and ``nocd_uplink_utilisation_ratio`` (bucket average) and
    ``nocd_uplink_utilisation_max_ratio`` (bucket peak), labelled district, device, link
    (``if:<ifIndex>``) and direction (in = towards the device). Only ports flagged as
    uplinks: bounded, unlike customer ports. Central and all-in-one, where rollups are made.
    """

    _LABELS = ("district", "device", "link", "direction")

    def __init__(self, source: Callable[[], Sequence[UplinkReading]]) -> None:
        self._source = source

    def _families(self) -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "nocd_uplink_bps",
                "Uplink throughput, average of the newest 5-minute bucket (bit/s).",
                labels=self._LABELS,
            ),
            GaugeMetricFamily(
                "nocd_uplink_utilisation_ratio",
                "Uplink utilisation, average of the newest 5-minute bucket (0-1).",
                labels=self._LABELS,
            ),
            GaugeMetricFamily(
                "nocd_uplink_utilisation_max_ratio",
                "Uplink utilisation, highest poll in the newest 5-minute bucket (0-1).",
                labels=self._LABELS,
            ),
        ]

    def describe(self) -> Iterable[Metric]:
        """Names only, so that registering does not query the database."""
        return self._families()

    def collect(self) -> Iterable[Metric]:
        """One sample per uplink, direction and family (finite values only)."""
        bps, util, peak = families = self._families()
        try:
            readings = self._source()
        except (SQLAlchemyError, StorageUnavailable) as exc:
            _logger.debug("uplink metrics skipped: %s", exc)
            return families
        for r in readings:
            direction, _, kind = r.metric.partition("_")
            labels = (r.district, r.device, r.link, direction)
            if kind == "bps" and math.isfinite(r.avg):
                bps.add_metric(labels, r.avg)
            elif kind == "utilisation_ratio":
                if math.isfinite(r.avg):
                    util.add_metric(labels, r.avg)
                if math.isfinite(r.max):
                    peak.add_metric(labels, r.max)
        return families


def build_registry(
    *, role: str, device_counts: DeviceCountSource | None = None, version: str = __version__
) -> CollectorRegistry:
    """A fresh registry (never the global default, so apps and tests stay isolated)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    Info("nocd_build", "Version and role of this nocd process.", registry=registry).info(
        {"version": version, "role": role}
    )
    if device_counts is not None:
        registry.register(InventoryCollector(device_counts))
    return registry


def render(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The exposition of ``registry`` in the format ``accept`` asks for, and its content type."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


class PollMetrics:
    """The poller's ``PollObserver``: poll durations, outcomes and device verdicts.

    ``nocd_device_up`` is 1 (up) or 0 (down) and absent while the verdict is unknown, so a
    Prometheus rule on ``== 0`` never fires for a device nocd could not judge;
    ``nocd_device_state`` carries the three states one-hot for dashboards.
    """

    STATES = ("up", "down", "unknown")

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "nocd_snmp_poll_duration_seconds",
            "Wall time of one device poll (all its SNMP requests), by schedule class.",
            ("schedule",),
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
            registry=registry,
        )
        self.requests = Counter(
            "nocd_snmp_requests_total",
            "Device polls by result (ok, timeout, unreachable, error, skipped).",
            ("result",),
            registry=registry,
        )
        for result in ("ok", "timeout", "unreachable", "error", "skipped"):
            self.requests.labels(result)
        self.up = Gauge(
            "nocd_device_up",
            "1 if the device answers, 0 if it is down; absent while unknown.",
            ("district", "device"),
            registry=registry,
        )
        self.state = Gauge(
            "nocd_device_state",
            "Device verdict, one-hot over up/down/unknown.",
            ("district", "device", "state"),
            registry=registry,
        )

    def poll_finished(
        self, job: PollJob, outcome: PollOutcome, duration_s: float, reason: str
    ) -> None:
        """Count every poll; time the ones that ran."""
        self.requests.labels(outcome.value).inc()
        if outcome is not PollOutcome.SKIPPED:
            self.duration.labels(job.schedule).observe(duration_s)

    def state_changed(self, job: PollJob, old: DeviceState, new: DeviceState, at: float) -> None:
        """Reflect a new verdict in the device gauges."""
        for state in self.STATES:
            self.state.labels(job.district, job.device, state).set(1 if state == new.value else 0)
        if new is DeviceState.UNKNOWN:
            with contextlib.suppress(KeyError):
                self.up.remove(job.district, job.device)
        else:
            self.up.labels(job.district, job.device).set(1 if new is DeviceState.UP else 0)

    def forget(self, district: str, device: str) -> None:
        """Drop a device's series (it left the inventory)."""
        with contextlib.suppress(KeyError):
            self.up.remove(district, device)
        for state in self.STATES:
            with contextlib.suppress(KeyError):
                self.state.remove(district, device, state)


# --- two tiers -----------------------------------------------------------------------------


class OutboxCollector:
    """District: the outbox backlog, read from its counters at scrape time.

    ``nocd_outbox_dropped_items_total`` is stored with the outbox, so it survives restarts;
    ``nocd_outbox_quota_used_ratio`` (the larger of items and bytes against their quota)
    lets an alert fire before anything is dropped.
    """

    def __init__(
        self,
        source: Callable[[], OutboxStats | None],
        *,
        quota_items: int,
        quota_bytes: int,
        wall_clock: Callable[[], float],
    ) -> None:
        self._source = source
        self._quota_items = quota_items
        self._quota_bytes = quota_bytes
        self._clock = wall_clock

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily("nocd_outbox_backlog_items", "Items waiting for central."),
            GaugeMetricFamily("nocd_outbox_backlog_bytes", "Payload bytes waiting for central."),
            GaugeMetricFamily(
                "nocd_outbox_oldest_age_seconds", "Age of the oldest unsent item (0 if none)."
            ),
            GaugeMetricFamily(
                "nocd_outbox_quota_used_ratio", "Backlog against its quota (items or bytes)."
            ),
        )

    def describe(self) -> Iterable[Metric]:
        """Names only, so that registering does not query the database."""
        return [
            *self._families(),
            CounterMetricFamily("nocd_outbox_dropped_items", "Unsent items dropped, ever."),
        ]

    def collect(self) -> Iterable[Metric]:
        """The backlog gauges and the drop counter; no samples while the database is away."""
        items, size, age, ratio = self._families()
        dropped = CounterMetricFamily(
            "nocd_outbox_dropped_items",
            "Unsent items dropped by the quota or the retention limit, ever.",
        )
        try:
            stats = self._source()
        except (SQLAlchemyError, StorageUnavailable) as exc:
            _logger.debug("outbox metrics skipped: %s", exc)
            return [items, size, age, ratio, dropped]
        if stats is not None:
            items.add_metric((), float(stats.items))
            size.add_metric((), float(stats.bytes))
            oldest = stats.oldest_created_at
            age.add_metric((), max(0.0, self._clock() - oldest) if oldest is not None else 0.0)
            ratio.add_metric(
                (), max(stats.items / self._quota_items, stats.bytes / self._quota_bytes)
            )
            dropped.add_metric((), float(stats.dropped))
        return [items, size, age, ratio, dropped]


class OutboxMetrics:
    """District: what the forwarder did (items central acknowledged, failed sends)."""

    REASONS = ("unreachable", "unavailable", "refused", "rejected")

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter(
            "nocd_outbox_sent_items_total",
            "Outbox items central acknowledged (and the district then deleted).",
            registry=registry,
        )
        self.failures = Counter(
            "nocd_outbox_send_failures_total",
            "Failed batch sends by reason (unreachable, unavailable, refused, rejected).",
            ("reason",),
            registry=registry,
        )
        for reason in self.REASONS:
            self.failures.labels(reason)


class DistrictCollector:
    """Central: per district, seconds since its last batch and whether it is silent."""

    def __init__(
        self,
        source: Callable[[], Sequence[DistrictStatusRecord]],
        *,
        started_at: float,
        wall_clock: Callable[[], float],
    ) -> None:
        self._source = source
        self._started_at = started_at
        self._clock = wall_clock

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "nocd_district_last_seen_seconds",
                "Seconds since the district's last batch (since central started if none).",
                labels=("district",),
            ),
            GaugeMetricFamily(
                "nocd_district_silent",
                "1 while central hears nothing from the district (its devices are unknown).",
                labels=("district",),
            ),
        )

    def describe(self) -> Iterable[Metric]:
        """Names only, so that registering does not query the database."""
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        """One sample per district central knows."""
        seen, silent = self._families()
        try:
            statuses = self._source()
        except (SQLAlchemyError, StorageUnavailable) as exc:
            _logger.debug("district metrics skipped: %s", exc)
            return [seen, silent]
        now = self._clock()
        for status in statuses:
            heard = status.last_seen_at if status.last_seen_at is not None else self._started_at
            seen.add_metric((status.district,), max(0.0, now - heard))
            silent.add_metric((status.district,), 1.0 if status.state == "silent" else 0.0)
        return [seen, silent]


class IngestMetrics:
    """Central: items received from districts by result."""

    RESULTS = ("applied", "duplicate", "unknown_device", "missing")

    def __init__(self, registry: CollectorRegistry) -> None:
        self.items = Counter(
            "nocd_ingest_items_total",
            "District items by result: applied, duplicate (a resend), unknown_device, "
            "missing (dropped by the district before it could send them).",
            ("district", "result"),
            registry=registry,
        )

    def batch(self, district: str, **counts: int) -> None:
        """Count one batch's items (pre-initialising every result of the district)."""
        for result in self.RESULTS:
            self.items.labels(district, result).inc(counts.get(result, 0))


# --- alerting --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertingSnapshot:
    """What ``AlertingCollector`` exports: the open alerts and incidents of the last cycle,
    and the label values to pre-initialise (every rule's severities × every district)."""

    alerts: Sequence[Alert] = ()
    incidents: Sequence[Incident] = ()
    rule_severities: Mapping[str, Sequence[str]] = field(default_factory=dict)
    districts: Sequence[str] = ()


class AlertingCollector:
    """``nocd_alerts_firing{severity,rule,district}`` and ``nocd_incidents_open{severity,
    district}`` from the alerting service's memory at scrape time (no database read).

    Every (rule, one of its severities, district) series exists, 0 included, so that a
    Prometheus rule on ``nocd_alerts_firing`` sees 0 rather than nothing before the first
    alert. Suppressed alerts count: they fire; ``nocd_alerts_unsuppressed`` counts the rest.
    """

    def __init__(self, source: Callable[[], AlertingSnapshot]) -> None:
        self._source = source

    def describe(self) -> Iterable[Metric]:
        return self._families()

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "nocd_alerts_firing",
                "Firing alerts (suppressed included), by severity, rule and district.",
                labels=("severity", "rule", "district"),
            ),
            GaugeMetricFamily(
                "nocd_alerts_unsuppressed",
                "Firing alerts that stand for themselves (incident roots), by severity, district.",
                labels=("severity", "district"),
            ),
            GaugeMetricFamily(
                "nocd_incidents_open",
                "Open incidents by severity and district.",
                labels=("severity", "district"),
            ),
        ]

    def collect(self) -> Iterable[Metric]:
        firing, unsuppressed, incidents = self._families()
        snap = self._source()
        severities = [s.value for s in Severity]
        districts = set(snap.districts)
        counts: dict[tuple[str, str, str], int] = {}
        for rule, rule_severities in snap.rule_severities.items():
            for severity in rule_severities:
                for district in districts:
                    counts[(severity, rule, district)] = 0
        roots: dict[tuple[str, str], int] = {(s, d): 0 for s in severities for d in districts}
        for alert in snap.alerts:
            key = (alert.severity.value, alert.rule, alert.district)
            counts[key] = counts.get(key, 0) + 1
            if not alert.suppressed:
                root = (alert.severity.value, alert.district)
                roots[root] = roots.get(root, 0) + 1
        opened: dict[tuple[str, str], int] = {(s, d): 0 for s in severities for d in districts}
        for incident in snap.incidents:
            key2 = (incident.severity.value, incident.district)
            opened[key2] = opened.get(key2, 0) + 1
        for labels, value in sorted(counts.items()):
            firing.add_metric(labels, float(value))
        for labels2, value in sorted(roots.items()):
            unsuppressed.add_metric(labels2, float(value))
        for labels2, value in sorted(opened.items()):
            incidents.add_metric(labels2, float(value))
        return [firing, unsuppressed, incidents]


class AlertingMetrics:
    """Events of the alerting cycle, the Alertmanager push and the inbound webhook."""

    WEBHOOK_RESULTS = ("stored", "loop_dropped")

    def __init__(self, registry: CollectorRegistry) -> None:
        self.cycles = Counter(
            "nocd_alerting_cycles_total",
            "Alerting cycles (evaluate → correlate → reconcile) by result (ok, failed).",
            ("result",),
            registry=registry,
        )
        for result in ("ok", "failed"):
            self.cycles.labels(result)
        self.duration = Histogram(
            "nocd_alerting_cycle_duration_seconds",
            "Wall time of one alerting cycle, storage included.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=registry,
        )
        self.last_ok = Gauge(
            "nocd_alerting_last_success_timestamp_seconds",
            "Unix time of the last alerting cycle that completed.",
            registry=registry,
        )
        self.pushes = Counter(
            "nocd_alertmanager_pushes_total",
            "Pushes to an Alertmanager (POST /api/v2/alerts) by target and result (ok, failed).",
            ("alertmanager", "result"),
            registry=registry,
        )
        self.webhook = Counter(
            "nocd_alertmanager_webhook_alerts_total",
            "Alerts received on the Alertmanager webhook: stored, or dropped by the loop guard.",
            ("result",),
            registry=registry,
        )
        for result in self.WEBHOOK_RESULTS:
            self.webhook.labels(result)

    def targets(self, urls: Iterable[str]) -> None:
        """Pre-initialise the push series of every Alertmanager."""
        for url in urls:
            for result in ("ok", "failed"):
                self.pushes.labels(url, result)

    def cycle(self, ok: bool, duration_s: float, at: float) -> None:
        """Count one cycle."""
        self.cycles.labels("ok" if ok else "failed").inc()
        if ok:
            self.duration.observe(duration_s)
            self.last_ok.set(at)

    def pushed(self, url: str, ok: bool, _count: int) -> None:
        """Count one push (the notifier's recorder)."""
        self.pushes.labels(url, "ok" if ok else "failed").inc()


class KpiCollector:
    """KQI and SLA gauges of the current reporting period, from the newest computed results.

    ``source`` returns what the KPI service computed last (held in memory): a scrape never
    queries the database. Labels are bounded: district (and ``*`` for the network), KQI,
    SLA class, target name and scope; per-line values stay in storage and the API.
    ``nocd_sla_status`` is one-hot over met/at_risk/breached.
    """

    STATUSES = ("met", "at_risk", "breached")
    _SLA_LABELS = ("district", "sla_class", "target", "scope")

    def __init__(
        self, source: Callable[[], tuple[Sequence[KqiRecord], Sequence[SlaRecord], int | None]]
    ) -> None:
        self._source = source

    def describe(self) -> Iterable[Metric]:
        """Names only."""
        return self._families()

    def _families(self) -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "nocd_kqi_value",
                "KQI of the current reporting period (ratios 0-1, minutes for minutes lost).",
                labels=("district", "kqi", "sla_class"),
            ),
            GaugeMetricFamily(
                "nocd_sla_sli_ratio",
                "SLI of an SLA target in the current reporting period.",
                labels=self._SLA_LABELS,
            ),
            GaugeMetricFamily(
                "nocd_sla_error_budget_remaining_ratio",
                "Share of the period's error budget left (negative once breached).",
                labels=self._SLA_LABELS,
            ),
            GaugeMetricFamily(
                "nocd_sla_status",
                "SLA verdict, one-hot over met/at_risk/breached.",
                labels=(*self._SLA_LABELS, "status"),
            ),
            GaugeMetricFamily(
                "nocd_kpi_computed_timestamp_seconds",
                "When the KQI/SLA results were last computed (UTC epoch seconds).",
            ),
        ]

    def collect(self) -> Iterable[Metric]:
        """One sample per KQI row and per SLA evaluation (NaN/inf values are left out)."""
        kqi, sli, remaining, verdict, computed = self._families()
        kqis, slas, computed_at = self._source()
        for k in kqis:
            if k.value is not None and math.isfinite(k.value):
                kqi.add_metric((k.district, k.kqi, k.sla_class), k.value)
        for s in slas:
            labels = (s.district, s.sla_class, s.target, s.scope)
            if s.sli is not None and math.isfinite(s.sli):
                sli.add_metric(labels, s.sli)
            ratio = s.error_budget_remaining_ratio
            if ratio is not None and math.isfinite(ratio):
                remaining.add_metric(labels, ratio)
            for status in self.STATUSES:
                verdict.add_metric((*labels, status), 1.0 if s.status == status else 0.0)
        if computed_at is not None:
            computed.add_metric((), float(computed_at))
        return [kqi, sli, remaining, verdict, computed]


# --- tickets (issue 7) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketSnapshot:
    """What ``TicketCollector`` exports, read from storage at scrape time."""

    counts: Sequence[tuple[str, str, str, int]] = ()  # (state, priority, district, tickets)
    # district -> (arrivals, on time, callbacks due, callbacks done) over the window
    ratios: Mapping[str, tuple[int, int, int, int]] = field(default_factory=dict)
    outbox: Mapping[str, int] = field(default_factory=dict)  # webhook outbox rows by state


class TicketCollector:
    """``nocd_tickets{state,priority,district}``, ``nocd_ticket_on_time_arrival_ratio{district}``,
    ``nocd_ticket_callback_done_ratio{district}`` and ``nocd_webhook_outbox_items{state}``.

    The ratios cover tickets opened in the configured window (``[tickets]
    metrics_window_days``) and are absent for a district with nothing to divide by. When the
    database is unavailable the families are exported without samples.
    """

    def __init__(self, source: Callable[[], TicketSnapshot]) -> None:
        self._source = source

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "nocd_tickets",
                "Tickets by state, priority and district.",
                labels=("state", "priority", "district"),
            ),
            GaugeMetricFamily(
                "nocd_ticket_on_time_arrival_ratio",
                "Share of arrivals on site within the on-site promise (30 min or appointment).",
                labels=("district",),
            ),
            GaugeMetricFamily(
                "nocd_ticket_callback_done_ratio",
                "Share of tickets due a callback (回访) whose callback is done.",
                labels=("district",),
            ),
            GaugeMetricFamily(
                "nocd_webhook_outbox_items",
                "Outbound webhook deliveries in the durable outbox, by state.",
                labels=("state",),
            ),
        ]

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        tickets, on_time, callbacks, outbox = families = self._families()
        try:
            snapshot = self._source()
        except (SQLAlchemyError, StorageUnavailable) as exc:
            _logger.debug("ticket metrics skipped: %s", exc)
            return families
        for state, priority, district, count in snapshot.counts:
            tickets.add_metric((state, priority, district), float(count))
        for district, (arrived, in_time, due, done) in sorted(snapshot.ratios.items()):
            if arrived:
                on_time.add_metric((district,), in_time / arrived)
            if due:
                callbacks.add_metric((district,), done / due)
        for state, count in sorted(snapshot.outbox.items()):
            outbox.add_metric((state,), float(count))
        return families


class TicketMetrics:
    """Ticket events counted in code: breaches per timer, repair time, webhook attempts.

    Implements ``nocd.ticket_service.TicketObserver``.
    """

    REPAIR_BUCKETS_S = (900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800)
    DELIVERY_RESULTS = ("delivered", "failed", "dead")

    def __init__(self, registry: CollectorRegistry, timers: Iterable[str] = ()) -> None:
        self.breaches = Counter(
            "nocd_ticket_breaches_total",
            "Ticket timer breaches (on_site, response, restore, callback…), by timer.",
            ("timer",),
            registry=registry,
        )
        for timer in sorted(set(timers)):
            self.breaches.labels(timer)
        self.repair = Histogram(
            "nocd_ticket_repair_seconds",
            "Time from opening a ticket to its first resolution (MTTR), by kind and priority.",
            ("kind", "priority"),
            buckets=self.REPAIR_BUCKETS_S,
            registry=registry,
        )
        self.deliveries = Counter(
            "nocd_webhook_deliveries_total",
            "Outbound webhook attempts by result (failed: will retry; dead: gave up).",
            ("result",),
            registry=registry,
        )
        for result in self.DELIVERY_RESULTS:
            self.deliveries.labels(result)

    def breached(self, breach: Any) -> None:
        self.breaches.labels(breach.timer).inc()

    def resolved(self, ticket: Any, repair_s: float) -> None:
        self.repair.labels(ticket.kind.value, ticket.priority.value).observe(max(repair_s, 0.0))

    def delivery(self, result: str) -> None:
        self.deliveries.labels(result).inc()


# --- traffic model (issue 8) -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TrafficSnapshot:
    """The newest refit, flattened: ``(district, device, link, horizon, bps)`` forecasts,
    ``(district, device, link, days)`` exhaustion dates and the refit time."""

    forecasts: tuple[tuple[str, str, str, str, float], ...] = ()
    capacity: tuple[tuple[str, str, str, float], ...] = ()
    computed_at: int | None = None
    # (district, device, link, horizon, lower, upper): the 90 % band's peaks in the horizon
    bands: tuple[tuple[str, str, str, str, float, float], ...] = ()


class TrafficCollector:
    """Forecast and capacity gauges of uplinks, from the traffic service's memory.

    Only uplink/aggregation links carry series (bounded: one per uplink and horizon);
    districts and per-line values stay in the API. A scrape never queries the database.
    """

    def __init__(self, source: Callable[[], TrafficSnapshot]) -> None:
        self._source = source

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "nocd_forecast_bps",
                "Peak forecast load (busier direction) of an uplink within the horizon.",
                labels=("district", "device", "link", "horizon"),
            ),
            GaugeMetricFamily(
                "nocd_forecast_bound_bps",
                "Peak of the lower/upper 90 % prediction bound of an uplink within the horizon.",
                labels=("district", "device", "link", "horizon", "bound"),
            ),
            GaugeMetricFamily(
                "nocd_capacity_exhaustion_days",
                "Days until the uplink's busy-hour p95 trend crosses the capacity threshold.",
                labels=("district", "device", "link"),
            ),
            GaugeMetricFamily(
                "nocd_traffic_refit_timestamp_seconds",
                "When the traffic model was last refitted (UTC epoch seconds).",
            ),
        ]

    def describe(self) -> Iterable[Metric]:
        """Names only."""
        return self._families()

    def collect(self) -> Iterable[Metric]:
        """One sample per uplink forecast horizon and per dated uplink (finite values only)."""
        forecast, bound, days, refit = self._families()
        snapshot = self._source()
        for district, device, link, horizon, bps in snapshot.forecasts:
            if math.isfinite(bps):
                forecast.add_metric((district, device, link, horizon), bps)
        for district, device, link, horizon, lower, upper in snapshot.bands:
            for name, value in (("lower", lower), ("upper", upper)):
                if math.isfinite(value):
                    bound.add_metric((district, device, link, horizon, name), value)
        for district, device, link, value in snapshot.capacity:
            if math.isfinite(value):
                days.add_metric((district, device, link), value)
        if snapshot.computed_at is not None:
            refit.add_metric((), float(snapshot.computed_at))
        return [forecast, bound, days, refit]
