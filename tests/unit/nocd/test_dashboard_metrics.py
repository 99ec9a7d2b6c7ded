"""The series added for the dashboards: lines per stability class, forecast band bounds."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from nocd.metrics import LineStabilityCollector, TrafficCollector, TrafficSnapshot


def test_stability_counts_report_every_class_per_district_zero_included() -> None:
    registry = CollectorRegistry()
    counts = {"xihu": {"stable": 40, "unstable": 2, "unknown": 1}, "bj": {}}
    registry.register(LineStabilityCollector(lambda: counts))

    def value(district: str, stability: str) -> float | None:
        labels = {"district": district, "stability": stability}
        return registry.get_sample_value("nocd_dsl_lines", labels)

    assert value("xihu", "stable") == 40
    assert value("xihu", "unstable") == 2
    assert value("xihu", "errored") == 0  # pre-initialised: a panel can tell 0 from missing
    assert value("xihu", "unknown") == 1
    assert value("bj", "marginal") == 0


def test_stability_counts_without_a_database_export_the_family_empty() -> None:
    from nocd.errors import StorageUnavailable

    def down() -> dict[str, dict[str, int]]:
        raise StorageUnavailable("database down")

    registry = CollectorRegistry()
    registry.register(LineStabilityCollector(down))
    assert (
        registry.get_sample_value("nocd_dsl_lines", {"district": "x", "stability": "stable"})
        is None
    )


def test_forecast_band_bounds_are_exported_beside_the_point_forecast() -> None:
    snapshot = TrafficSnapshot(
        forecasts=(("xihu", "sw-1", "if:49", "24h", 700e6),),
        bands=(("xihu", "sw-1", "if:49", "24h", 650e6, 760e6),
               ("xihu", "sw-2", "if:49", "24h", float("nan"), 1e6)),
    )  # fmt: skip
    registry = CollectorRegistry()
    registry.register(TrafficCollector(lambda: snapshot))
    link = {"district": "xihu", "device": "sw-1", "link": "if:49", "horizon": "24h"}
    assert registry.get_sample_value("nocd_forecast_bps", link) == 700e6
    assert registry.get_sample_value("nocd_forecast_bound_bps", {**link, "bound": "lower"}) == 650e6
    assert registry.get_sample_value("nocd_forecast_bound_bps", {**link, "bound": "upper"}) == 760e6
    nan_link = {**link, "device": "sw-2"}
    assert (
        registry.get_sample_value("nocd_forecast_bound_bps", {**nan_link, "bound": "lower"}) is None
    )
    assert (
        registry.get_sample_value("nocd_forecast_bound_bps", {**nan_link, "bound": "upper"}) == 1e6
    )


def test_uplink_gauges_split_direction_and_keep_average_and_peak() -> None:
    from nocd.metrics import UplinkCollector
    from nocd.storage.uplink_repo import UplinkReading

    def reading(metric: str, avg: float, peak: float) -> UplinkReading:
        return UplinkReading(
            district="xihu", device="dslam-1", link="if:1", metric=metric, bucket=0,
            avg=avg, max=peak,
        )  # fmt: skip

    readings = [
        reading("in_bps", 6e8, 7e8),
        reading("out_bps", 1e8, 2e8),
        reading("in_utilisation_ratio", 0.6, 0.97),
        reading("out_utilisation_ratio", float("nan"), 0.2),
    ]
    registry = CollectorRegistry()
    registry.register(UplinkCollector(lambda: readings))
    link = {"district": "xihu", "device": "dslam-1", "link": "if:1"}
    assert registry.get_sample_value("nocd_uplink_bps", {**link, "direction": "in"}) == 6e8
    assert registry.get_sample_value("nocd_uplink_bps", {**link, "direction": "out"}) == 1e8
    got = registry.get_sample_value("nocd_uplink_utilisation_ratio", {**link, "direction": "in"})
    assert got == 0.6
    peak = registry.get_sample_value(
        "nocd_uplink_utilisation_max_ratio", {**link, "direction": "in"}
    )
    assert peak == 0.97
    out = {**link, "direction": "out"}
    assert registry.get_sample_value("nocd_uplink_utilisation_ratio", out) is None  # NaN left out
    assert registry.get_sample_value("nocd_uplink_utilisation_max_ratio", out) == 0.2
