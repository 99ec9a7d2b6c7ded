"""``[traffic]`` settings: forecast refit and anomaly schedules, capacity threshold, tickets.

    [traffic]
    refit_interval_s = 86400          # daily refit of forecasts, busy hours, capacity, flows
    history_days = 63                 # 5-minute rollups read per refit (≥ 29 for a date)
    capacity_threshold = 0.8          # share of link speed that counts as exhausted
    capacity_horizon_days = 90        # warn, alert and ticket within this many days
    anomaly_interval_s = 300          # on-line anomaly pass over new 5-minute buckets
    anomaly_detector = "cad"          # CAD OSE on the raw load (or "online": forecast band)

Validated once here; ``kpi/`` receives plain dataclasses built by the ``to_*`` methods.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from alerting.model import Severity
from kpi.anomaly import DetectorConfig
from kpi.cad import CadConfig
from kpi.traffic import MIN_HISTORY_DAYS
from kpi.trend import TrendConfig

__all__ = ["TrafficSettings"]


class TrafficSettings(BaseModel):
    """``[traffic]``: the traffic model of the central (or all-in-one) nocd."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    refit_interval_s: int = Field(default=86_400, ge=60)
    refit_delay_s: int = Field(default=60, ge=0)  # first refit this long after start
    history_days: int = Field(default=63, ge=3, le=400)
    capacity_threshold: float = Field(default=0.8, gt=0, le=1)
    capacity_horizon_days: float = Field(default=90.0, gt=0)
    min_history_days: int = Field(default=MIN_HISTORY_DAYS, ge=7)
    top_n: int = Field(default=10, ge=1, le=1000)
    anomaly_interval_s: int = Field(default=300, ge=10)
    # "cad": kpi.cad.CadDetector (CAD OSE, NAB 69.9) on the raw load; "online": the
    # forecast-band OnlineDetector (the anomaly_alert_level/refractory/use_forecast keys).
    anomaly_detector: Literal["cad", "online"] = "cad"
    anomaly_cad_warmup_samples: int = Field(default=2016, ge=288)  # one week, and its range
    anomaly_cad_rest_samples: int = Field(default=120, ge=1)  # CAD's rest period (10 h)
    anomaly_cad_alert_level: float = Field(default=0.7655273437500002, gt=0, le=1)
    anomaly_cad_max_contexts: int | None = Field(default=4096, ge=256)  # memory cap per link
    anomaly_warmup_samples: int = Field(default=288, ge=24)  # replayed silently at start
    anomaly_alert_level: float = Field(default=0.8, gt=0, lt=1)
    anomaly_refractory_samples: int = Field(default=288, ge=1)
    anomaly_use_forecast: bool = True  # score against the forecast band where one covers
    anomaly_hold_s: int = Field(default=3_600, ge=300)  # an anomaly alert resolves after this
    anomaly_severity: Severity = Severity.MINOR
    lead_window_s: int = Field(default=86_400, ge=300)  # later alerts that count for lead time
    capacity_tickets: bool = True  # one low-priority capacity ticket per link within horizon
    trend_rise: float = Field(default=0.5, gt=0)  # fault/complaint rate rise to detect
    trend_false_alarms_per_year: float = Field(default=1.0, gt=0)
    trend_days: int = Field(default=120, ge=30)

    def detector(self) -> DetectorConfig:
        """The pure-core detector parameters (5-minute samples)."""
        return DetectorConfig(
            alert_level=self.anomaly_alert_level, refractory=self.anomaly_refractory_samples
        )

    def cad(self, min_value: float, max_value: float) -> CadConfig:
        """CAD OSE parameters for one link, its value range from the priming history."""
        return CadConfig(
            min_value=min_value,
            max_value=max_value,
            rest_period=self.anomaly_cad_rest_samples,
            alert_level=self.anomaly_cad_alert_level,
            max_contexts=self.anomaly_cad_max_contexts,
        )

    def trend(self) -> TrendConfig:
        """The pure-core fault/complaint trend parameters."""
        return TrendConfig(
            rise=self.trend_rise, false_alarms_per_year=self.trend_false_alarms_per_year
        )
