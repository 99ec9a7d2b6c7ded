"""The Prometheus registry of one nocd process: process/platform, build info, inventory gauges."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError

from nocd import __version__
from nocd.errors import StorageUnavailable
from nocd.storage.models import DEVICE_KINDS

__all__ = [
    "DeviceCountSource",
    "InventoryCollector",
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
