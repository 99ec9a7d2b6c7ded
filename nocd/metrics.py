"""The Prometheus registry of one nocd process: process/platform, build info, inventory gauges."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence

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
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError

from collectors.poller import DeviceState, PollJob, PollOutcome
from nocd import __version__
from nocd.errors import StorageUnavailable
from nocd.storage.models import DEVICE_KINDS

__all__ = [
    "DeviceCountSource",
    "InventoryCollector",
    "PollMetrics",
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
