"""KpiCollector: KQI/SLA gauges from in-memory results, on a fresh registry."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry

from nocd.metrics import KpiCollector
from nocd.storage.kpi_repo import KqiRecord, SlaRecord


def sla(status: str, **over: object) -> SlaRecord:
    values: dict[str, object] = {
        "period_start": 0,
        "period_end": 100,
        "evaluated_until": 50,
        "target": "enterprise-availability",
        "district": "xihu",
        "kqi": "line_availability_ratio",
        "sla_class": "enterprise",
        "scope": "external",
        "objective": 0.999,
        "entities": 1,
        "sli": 0.998,
        "up_s": 998,
        "down_s": 2,
        "unknown_s": 0,
        "maintenance_s": 0,
        "excluded_s": 0,
        "scheduled_s": 1000,
        "error_budget_total": 2.0,
        "error_budget_used": 2.0,
        "error_budget_remaining": 0.0,
        "error_budget_remaining_ratio": 0.0,
        "burn_rate": 2.0,
        "status": status,
    }
    values.update(over)
    return SlaRecord(**values)  # type: ignore[arg-type]


def test_kpi_collector_exports_kqis_and_one_hot_sla_status() -> None:
    kqis = [
        KqiRecord(
            period_start=0,
            period_end=100,
            kqi="stable_line_ratio",
            district="*",
            sla_class="*",
            numerator=9,
            denominator=10,
            value=0.9,
        ),
        KqiRecord(
            period_start=0,
            period_end=100,
            kqi="stable_line_ratio",
            district="empty",
            sla_class="*",
            numerator=0,
            denominator=0,
            value=math.nan,
        ),
    ]
    registry = CollectorRegistry()
    registry.register(KpiCollector(lambda: (kqis, [sla("at_risk")], 1234)))
    get = registry.get_sample_value
    assert (
        get("nocd_kqi_value", {"district": "*", "kqi": "stable_line_ratio", "sla_class": "*"})
        == 0.9
    )
    # NaN (nothing to measure) is left out rather than exported
    assert (
        get("nocd_kqi_value", {"district": "empty", "kqi": "stable_line_ratio", "sla_class": "*"})
        is None
    )
    labels = {
        "district": "xihu",
        "sla_class": "enterprise",
        "target": "enterprise-availability",
        "scope": "external",
    }
    assert get("nocd_sla_sli_ratio", labels) == 0.998
    assert get("nocd_sla_error_budget_remaining_ratio", labels) == 0.0
    assert [
        get("nocd_sla_status", {**labels, "status": s}) for s in ("met", "at_risk", "breached")
    ] == [0.0, 1.0, 0.0]
    assert get("nocd_kpi_computed_timestamp_seconds") == 1234


def test_kpi_collector_before_the_first_run_exports_no_samples() -> None:
    registry = CollectorRegistry()
    registry.register(KpiCollector(lambda: ((), (), None)))
    assert registry.get_sample_value("nocd_kpi_computed_timestamp_seconds") is None
    assert (
        registry.get_sample_value(
            "nocd_sla_sli_ratio",
            {"district": "x", "sla_class": "y", "target": "z", "scope": "external"},
        )
        is None
    )
