"""The per-app metrics registry: build info, process metrics and the inventory collector."""

from __future__ import annotations

import platform

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError

from nocd import __version__
from nocd.errors import StorageUnavailable
from nocd.metrics import InventoryCollector, build_registry, render


def test_build_info_carries_version_and_role() -> None:
    registry = build_registry(role="district")
    assert (
        registry.get_sample_value("nocd_build_info", {"version": __version__, "role": "district"})
        == 1.0
    )


def test_each_registry_is_isolated_from_the_others() -> None:
    first = build_registry(role="all")
    second = build_registry(role="central")
    assert (
        first.get_sample_value("nocd_build_info", {"version": __version__, "role": "central"})
        is None
    )
    assert (
        second.get_sample_value("nocd_build_info", {"version": __version__, "role": "central"})
        == 1.0
    )


def test_process_platform_and_gc_metrics_are_exported() -> None:
    registry = build_registry(role="all")
    assert registry.get_sample_value("process_resident_memory_bytes") > 0
    info = {
        "implementation": platform.python_implementation(),
        "major": platform.python_version_tuple()[0],
        "minor": platform.python_version_tuple()[1],
        "patchlevel": platform.python_version_tuple()[2],
        "version": platform.python_version(),
    }
    assert registry.get_sample_value("python_info", info) == 1.0
    assert registry.get_sample_value("python_gc_collections_total", {"generation": "0"}) is not None


def test_inventory_devices_counts_every_kind_of_every_district_zero_included() -> None:
    registry = CollectorRegistry()
    registry.register(
        InventoryCollector(lambda: {"xihu": {"dslam": 3, "aggregation": 1}, "binjiang": {}})
    )
    value = registry.get_sample_value
    assert value("nocd_inventory_devices", {"district": "xihu", "kind": "dslam"}) == 3.0
    assert value("nocd_inventory_devices", {"district": "xihu", "kind": "aggregation"}) == 1.0
    assert value("nocd_inventory_devices", {"district": "xihu", "kind": "bras"}) == 0.0
    assert value("nocd_inventory_devices", {"district": "binjiang", "kind": "access_switch"}) == 0.0
    assert value("nocd_inventory_devices", {"district": "nowhere", "kind": "dslam"}) is None


def test_inventory_collector_reads_the_source_at_every_scrape() -> None:
    counts = {"xihu": {"dslam": 1}}
    registry = CollectorRegistry()
    registry.register(InventoryCollector(lambda: counts))
    labels = {"district": "xihu", "kind": "dslam"}
    assert registry.get_sample_value("nocd_inventory_devices", labels) == 1.0
    counts["xihu"] = {"dslam": 7}
    assert registry.get_sample_value("nocd_inventory_devices", labels) == 7.0


def test_registering_the_inventory_collector_does_not_query_the_source() -> None:
    calls: list[int] = []

    def source() -> dict[str, dict[str, int]]:
        calls.append(1)
        return {}

    CollectorRegistry().register(InventoryCollector(source))
    assert calls == []


@pytest.mark.parametrize(
    "error",
    [
        StorageUnavailable("schema out of date"),
        OperationalError("SELECT 1", {}, Exception("connection refused")),
    ],
    ids=["storage-unavailable", "sqlalchemy-operational-error"],
)
def test_scrape_succeeds_without_inventory_samples_when_the_database_is_down(
    error: Exception,
) -> None:
    def source() -> dict[str, dict[str, int]]:
        raise error

    registry = build_registry(role="all", device_counts=source)
    body, content_type = render(registry, None)
    assert content_type.startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(body.decode())}
    assert "nocd_inventory_devices" in names  # HELP/TYPE still there, no samples
    assert "nocd_build_info" in names
    assert b"nocd_inventory_devices{" not in body


def test_render_negotiates_openmetrics() -> None:
    registry = build_registry(role="all")
    body, content_type = render(registry, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
