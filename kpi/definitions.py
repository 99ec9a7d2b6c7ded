"""The KPI and KQI catalogue: one row per measure (key, unit, entity kind, direction, description).

The catalogue is data, not code: the API (``/api/v1/kpis``), the metrics exporter and the
report read it to label values, and a new KPI or KQI starts with a row here (STYLE §3).
Ratios are 0…1 (never percent); rates are bit/s; durations are seconds.
"""

# ruff: noqa: E501  (the catalogue reads best as one row per line)

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import pandas as pd

__all__ = [
    "BY_KEY",
    "CATALOGUE",
    "Definition",
    "Direction",
    "EntityKind",
    "KpiKey",
    "KqiKey",
    "Level",
    "Unit",
    "catalogue_frame",
]


class Level(StrEnum):
    """KPI: a network-element measurement. KQI: one service's quality across many NEs."""

    KPI = "kpi"
    KQI = "kqi"


class EntityKind(StrEnum):
    """What a value is about."""

    PORT = "port"
    DSL_LINE = "dsl_line"
    DEVICE = "device"
    GROUP = "group"  # a district, an SLA class, or the whole network


class Unit(StrEnum):
    """Units of catalogue values."""

    BPS = "bit/s"
    RATIO = "ratio"
    DB = "dB"
    SECONDS = "s"
    COUNT = "count"
    MINUTES = "min"
    PER_100_LINES = "per 100 lines"
    CLASS = "class"
    STATE = "state"


class Direction(StrEnum):
    """Which way is better, for status colouring and SLA comparisons."""

    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"
    NEUTRAL = "neutral"


class KpiKey(StrEnum):
    """Network-element measurements."""

    # port
    PORT_IN_BPS = "port_in_bps"
    PORT_OUT_BPS = "port_out_bps"
    PORT_UTILISATION = "port_utilisation_ratio"
    PORT_IN_ERROR_RATIO = "port_in_error_ratio"
    PORT_OUT_ERROR_RATIO = "port_out_error_ratio"
    PORT_IN_DISCARD_RATIO = "port_in_discard_ratio"
    PORT_OUT_DISCARD_RATIO = "port_out_discard_ratio"
    PORT_OPER_UP_SECONDS = "port_oper_up_seconds"
    PORT_OPER_DOWN_SECONDS = "port_oper_down_seconds"
    # DSL line
    DSL_SNR_MARGIN_DOWN = "dsl_snr_margin_down_db"
    DSL_SNR_MARGIN_UP = "dsl_snr_margin_up_db"
    DSL_ATTENUATION_DOWN = "dsl_attenuation_down_db"
    DSL_ATTENUATION_UP = "dsl_attenuation_up_db"
    DSL_ACTUAL_RATE_DOWN = "dsl_actual_rate_down_bps"
    DSL_ACTUAL_RATE_UP = "dsl_actual_rate_up_bps"
    DSL_ATTAINABLE_RATE_DOWN = "dsl_attainable_rate_down_bps"
    DSL_ATTAINABLE_RATE_UP = "dsl_attainable_rate_up_bps"
    DSL_PLAN_RATE_DOWN = "dsl_plan_rate_down_bps"
    DSL_PLAN_RATE_UP = "dsl_plan_rate_up_bps"
    DSL_RATE_ATTAINMENT_DOWN = "dsl_rate_attainment_down_ratio"
    DSL_HEADROOM_DOWN = "dsl_headroom_down_bps"
    DSL_ES = "dsl_errored_seconds"
    DSL_SES = "dsl_severely_errored_seconds"
    DSL_UAS = "dsl_unavailable_seconds"
    DSL_FULL_INITS = "dsl_full_inits"
    DSL_FAILED_INITS = "dsl_failed_inits"
    DSL_MTBR_24H = "dsl_mtbr_24h_seconds"
    DSL_MTBR_7D = "dsl_mtbr_7d_seconds"
    DSL_MTBE_24H = "dsl_mtbe_24h_seconds"
    DSL_MTBE_7D = "dsl_mtbe_7d_seconds"
    DSL_STABILITY = "dsl_stability_class"
    # device
    DEVICE_REACHABILITY = "device_reachability_state"
    DEVICE_UPTIME = "device_uptime_seconds"
    DEVICE_CPU = "device_cpu_utilisation_ratio"
    DEVICE_MEMORY = "device_memory_utilisation_ratio"


class KqiKey(StrEnum):
    """Service quality measures over many network elements; SLA targets refer to these."""

    LINE_AVAILABILITY = "line_availability_ratio"
    CUSTOMER_MINUTES_LOST = "customer_minutes_lost"
    STABLE_LINE_RATIO = "stable_line_ratio"
    RATE_ATTAINMENT_RATIO = "rate_attainment_ratio"
    UPLINK_CONGESTION_SHARE = "uplink_congestion_share_ratio"
    UPLINK_BUSY_HOUR_P95 = "uplink_busy_hour_p95_utilisation_ratio"
    FAULT_REPORTS_PER_100_LINES = "fault_reports_per_100_lines_month"
    REPAIR_TIME_MEDIAN = "repair_time_median_seconds"
    REPAIR_TIME_P80 = "repair_time_p80_seconds"
    REPAIR_TIME_P95 = "repair_time_p95_seconds"
    ON_SITE_WITHIN_30_MIN = "on_site_within_30_min_ratio"
    CALLBACK_DONE = "callback_done_ratio"
    INSTALLATION_WITHIN_3_DAYS = "installation_within_3_days_ratio"


@dataclass(frozen=True, slots=True, kw_only=True)
class Definition:
    """One catalogue row."""

    key: KpiKey | KqiKey
    level: Level
    unit: Unit
    entity: EntityKind
    direction: Direction
    description: str


_HI, _LO, _NEU = Direction.HIGHER_IS_BETTER, Direction.LOWER_IS_BETTER, Direction.NEUTRAL
_P, _L, _D, _G = EntityKind.PORT, EntityKind.DSL_LINE, EntityKind.DEVICE, EntityKind.GROUP


def _kpi(
    key: KpiKey, unit: Unit, entity: EntityKind, direction: Direction, text: str
) -> Definition:
    return Definition(
        key=key, level=Level.KPI, unit=unit, entity=entity, direction=direction, description=text
    )


def _kqi(key: KqiKey, unit: Unit, direction: Direction, text: str) -> Definition:
    return Definition(
        key=key, level=Level.KQI, unit=unit, entity=_G, direction=direction, description=text
    )


K, Q = KpiKey, KqiKey
CATALOGUE: Final[tuple[Definition, ...]] = (
    _kpi(K.PORT_IN_BPS, Unit.BPS, _P, _NEU, "Received throughput, from ifHCInOctets deltas × 8 ÷ interval"),
    _kpi(K.PORT_OUT_BPS, Unit.BPS, _P, _NEU, "Sent throughput, from ifHCOutOctets deltas × 8 ÷ interval"),
    _kpi(K.PORT_UTILISATION, Unit.RATIO, _P, _LO, "max(in, out) bit/s ÷ (ifHighSpeed × 10^6)"),
    _kpi(K.PORT_IN_ERROR_RATIO, Unit.RATIO, _P, _LO, "ifInErrors ÷ (received packets + ifInErrors + ifInDiscards)"),
    _kpi(K.PORT_OUT_ERROR_RATIO, Unit.RATIO, _P, _LO, "ifOutErrors ÷ packets requested for transmission"),
    _kpi(K.PORT_IN_DISCARD_RATIO, Unit.RATIO, _P, _LO, "ifInDiscards ÷ (received packets + ifInErrors + ifInDiscards)"),
    _kpi(K.PORT_OUT_DISCARD_RATIO, Unit.RATIO, _P, _LO, "ifOutDiscards ÷ packets requested for transmission"),
    _kpi(K.PORT_OPER_UP_SECONDS, Unit.SECONDS, _P, _HI, "Seconds with ifOperStatus up in the window"),
    _kpi(K.PORT_OPER_DOWN_SECONDS, Unit.SECONDS, _P, _LO, "Seconds with ifOperStatus down in the window (maintenance excluded)"),
    _kpi(K.DSL_SNR_MARGIN_DOWN, Unit.DB, _L, _HI, "Downstream SNR margin"),
    _kpi(K.DSL_SNR_MARGIN_UP, Unit.DB, _L, _HI, "Upstream SNR margin"),
    _kpi(K.DSL_ATTENUATION_DOWN, Unit.DB, _L, _LO, "Downstream line/signal attenuation"),
    _kpi(K.DSL_ATTENUATION_UP, Unit.DB, _L, _LO, "Upstream line/signal attenuation"),
    _kpi(K.DSL_ACTUAL_RATE_DOWN, Unit.BPS, _L, _HI, "Downstream actual (synced) net data rate"),
    _kpi(K.DSL_ACTUAL_RATE_UP, Unit.BPS, _L, _HI, "Upstream actual (synced) net data rate"),
    _kpi(K.DSL_ATTAINABLE_RATE_DOWN, Unit.BPS, _L, _HI, "Downstream attainable net data rate"),
    _kpi(K.DSL_ATTAINABLE_RATE_UP, Unit.BPS, _L, _HI, "Upstream attainable net data rate"),
    _kpi(K.DSL_PLAN_RATE_DOWN, Unit.BPS, _L, _NEU, "Downstream rate of the customer's plan (inventory)"),
    _kpi(K.DSL_PLAN_RATE_UP, Unit.BPS, _L, _NEU, "Upstream rate of the customer's plan (inventory)"),
    _kpi(K.DSL_RATE_ATTAINMENT_DOWN, Unit.RATIO, _L, _HI, "Downstream actual rate ÷ plan rate"),
    _kpi(K.DSL_HEADROOM_DOWN, Unit.BPS, _L, _HI, "Downstream attainable − actual rate"),
    _kpi(K.DSL_ES, Unit.COUNT, _L, _LO, "Errored seconds per 15-minute bin"),
    _kpi(K.DSL_SES, Unit.COUNT, _L, _LO, "Severely errored seconds per 15-minute bin"),
    _kpi(K.DSL_UAS, Unit.COUNT, _L, _LO, "Unavailable seconds per 15-minute bin"),
    _kpi(K.DSL_FULL_INITS, Unit.COUNT, _L, _LO, "Full initialisations (retrains) per 15-minute bin"),
    _kpi(K.DSL_FAILED_INITS, Unit.COUNT, _L, _LO, "Failed initialisations per 15-minute bin"),
    _kpi(K.DSL_MTBR_24H, Unit.SECONDS, _L, _HI, "Showtime seconds ÷ retrains over the last 24 h"),
    _kpi(K.DSL_MTBR_7D, Unit.SECONDS, _L, _HI, "Showtime seconds ÷ retrains over the last 7 d"),
    _kpi(K.DSL_MTBE_24H, Unit.SECONDS, _L, _HI, "Showtime seconds ÷ errored seconds over the last 24 h"),
    _kpi(K.DSL_MTBE_7D, Unit.SECONDS, _L, _HI, "Showtime seconds ÷ errored seconds over the last 7 d"),
    _kpi(K.DSL_STABILITY, Unit.CLASS, _L, _NEU, "stable | errored | marginal | unstable (kpi.dsl_line)"),
    _kpi(K.DEVICE_REACHABILITY, Unit.STATE, _D, _NEU, "up | down | maintenance | unknown (kpi.intervals.State)"),
    _kpi(K.DEVICE_UPTIME, Unit.SECONDS, _D, _NEU, "Seconds since the device's last (re)start, from sysUpTime"),
    _kpi(K.DEVICE_CPU, Unit.RATIO, _D, _LO, "CPU utilisation where the profile collects it"),
    _kpi(K.DEVICE_MEMORY, Unit.RATIO, _D, _LO, "Memory utilisation where the profile collects it"),
    _kqi(Q.LINE_AVAILABILITY, Unit.RATIO, _HI, "1 − (down seconds incl. UAS) ÷ scheduled seconds"),
    _kqi(Q.CUSTOMER_MINUTES_LOST, Unit.MINUTES, _LO, "Σ over lines of down minutes; a DSLAM outage counts once per line behind it"),
    _kqi(Q.STABLE_LINE_RATIO, Unit.RATIO, _HI, "Lines classed stable ÷ lines scored"),
    _kqi(Q.RATE_ATTAINMENT_RATIO, Unit.RATIO, _HI, "Lines with actual rate ≥ configured share of plan ÷ lines"),
    _kqi(Q.UPLINK_CONGESTION_SHARE, Unit.RATIO, _LO, "5-minute uplink intervals above 80 % utilisation ÷ intervals"),
    _kqi(Q.UPLINK_BUSY_HOUR_P95, Unit.RATIO, _LO, "p95 of utilisation within each uplink's busy hour"),
    _kqi(Q.FAULT_REPORTS_PER_100_LINES, Unit.PER_100_LINES, _LO, "Fault tickets opened in the month × 100 ÷ lines in service"),
    _kqi(Q.REPAIR_TIME_MEDIAN, Unit.SECONDS, _LO, "Median of fault ticket resolved − opened"),
    _kqi(Q.REPAIR_TIME_P80, Unit.SECONDS, _LO, "80th percentile of fault ticket resolved − opened"),
    _kqi(Q.REPAIR_TIME_P95, Unit.SECONDS, _LO, "95th percentile of fault ticket resolved − opened"),
    _kqi(Q.ON_SITE_WITHIN_30_MIN, Unit.RATIO, _HI, "Dispatches with on-site arrival ≤ 30 min after dispatch ÷ dispatches due"),
    _kqi(Q.CALLBACK_DONE, Unit.RATIO, _HI, "Closed fault tickets and installations with the customer callback done ÷ those due"),
    _kqi(Q.INSTALLATION_WITHIN_3_DAYS, Unit.RATIO, _HI, "Installations completed ≤ 3 days after the order ÷ installations due"),
)  # fmt: skip
del K, Q

BY_KEY: Final[Mapping[str, Definition]] = {d.key.value: d for d in CATALOGUE}


def catalogue_frame() -> pd.DataFrame:
    """The catalogue as a DataFrame (one row per definition, string columns)."""
    return pd.DataFrame(
        [
            {
                "key": d.key.value,
                "level": d.level.value,
                "unit": d.unit.value,
                "entity": d.entity.value,
                "direction": d.direction.value,
                "description": d.description,
            }
            for d in CATALOGUE
        ]
    )
