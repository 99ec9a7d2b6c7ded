"""``[kpi]`` and ``[sla]`` settings: rollup/KQI schedule, retention, thresholds, SLA targets.

    [kpi]
    raw_retention_days = 7
    rate_attainment_share = 0.9

    [sla]
    period = "month"

    [[sla.targets]]
    name = "enterprise-availability"
    kqi = "line_availability_ratio"
    sla_class = "enterprise"
    scope = "external"
    objective = 0.999
    schedule = ["mon-sun 00:00-24:00"]
    period = "week"                   # optional: default [sla] period
    timezone = "UTC"                  # optional: default [daemon] timezone

    [[sla.targets.excluded]]          # downtime the customer agreed not to count
    start = 2024-06-03T02:00:00       # local time in [daemon] timezone, or with an offset
    end = 2024-06-03T04:00:00
    reason = "customer's own building work"

Validated once here (pydantic, so ``nocd check-config`` names FILE:LINE); ``kpi/`` receives
plain dataclasses (:class:`kpi.sla.SlaTarget`, :class:`kpi.dsl_line.StabilityThresholds`)
built by the ``to_*`` methods. Reporting periods are ``[sla] period`` in ``[daemon]
timezone`` unless a target sets its own ``period`` and/or ``timezone``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kpi.definitions import KqiKey
from kpi.dsl_line import ScoreWindow, StabilityThresholds, WideAreaThresholds
from kpi.intervals import MAX_EPOCH_S, TimeWindow, epoch_s
from kpi.sla import AtRiskPolicy, PeriodKind, ReportingPeriod, SlaScope, SlaTarget, WeeklySchedule

__all__ = [
    "ExcludedDowntimeConfig",
    "KpiSettings",
    "SlaSettings",
    "SlaTargetConfig",
    "StabilityConfig",
    "WideAreaConfig",
]

DAY_S = 86_400


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StabilityConfig(_Section):
    """``[kpi.stability]``: DSL line stability classes (defaults in docs/kpi.md)."""

    unstable_mtbr_s: int = Field(default=DAY_S, ge=1)
    unstable_retrains_per_bin: int = Field(default=3, ge=1)
    errored_mtbe_s: int = Field(default=3_600, ge=1)
    errored_window: ScoreWindow = ScoreWindow.DAYS_7
    marginal_snr_margin_db: float = 3.0
    marginal_min_bins: int = Field(default=2, ge=1)

    def to_thresholds(self) -> StabilityThresholds:
        """The pure-core thresholds."""
        return StabilityThresholds(**self.model_dump())


class WideAreaConfig(_Section):
    """``[kpi.wide_area]``: when a DSLAM bin is one network event, not many line faults."""

    retrained_share: float = Field(default=0.20, gt=0, le=1)
    errored_share: float = Field(default=0.50, gt=0, le=1)
    errored_retrained_share: float = Field(default=0.10, gt=0, le=1)
    min_in_service_lines: int = Field(default=10, ge=1)

    def to_thresholds(self) -> WideAreaThresholds:
        """The pure-core thresholds."""
        return WideAreaThresholds(**self.model_dump())


class KpiSettings(_Section):
    """``[kpi]``: rollups, retention and the KPI/KQI computation schedule."""

    enabled: bool = True  # rollups, retention and KQI/SLA jobs (central and all-in-one)
    rollup_interval_s: int = Field(default=300, ge=10)
    kqi_interval_s: int = Field(default=900, ge=10)
    retention_interval_s: int = Field(default=3_600, ge=60)
    raw_retention_days: float = Field(default=7.0, gt=1)  # must exceed a day + late backlog
    rollup_retention_days: float = Field(default=400.0, gt=0)
    rate_attainment_share: float = Field(default=0.9, gt=0, le=1)  # actual ≥ share × plan
    congestion_threshold: float = Field(default=0.8, gt=0, le=1)  # uplink utilisation
    stale_after_s: int = Field(default=900, ge=60)  # a line sample older than this is unknown
    stability: StabilityConfig = StabilityConfig()
    wide_area: WideAreaConfig = WideAreaConfig()


class ExcludedDowntimeConfig(_Section):
    """One ``[[sla.targets.excluded]]`` entry: a window this target does not count.

    A TOML local date-time (no offset) is wall-clock time in the target's reporting time
    zone (its ``timezone``, else ``[daemon] timezone``); one with an offset or ``Z`` is
    that instant.
    """

    start: datetime
    end: datetime
    reason: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> ExcludedDowntimeConfig:
        # a local and an absolute time cannot be ordered before the zone is known
        start, end = self.start, self.end
        if (start.tzinfo is None) != (end.tzinfo is None):
            raise ValueError("start and end must both have a UTC offset or both have none")
        if end <= start:
            raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
        for moment in (start, end):
            # ±14 h: room for any UTC offset a local time gets later
            aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            if not 14 * 3600 <= epoch_s(aware) < MAX_EPOCH_S - 14 * 3600:
                raise ValueError(f"{moment.isoformat()} is outside 1970…2106")
        return self

    def window(self, time_zone: str) -> TimeWindow:
        """The UTC window; naive values are read in ``time_zone`` (fold 0 at a DST change)."""
        zone = ZoneInfo(time_zone)
        start = self.start if self.start.tzinfo else self.start.replace(tzinfo=zone)
        end = self.end if self.end.tzinfo else self.end.replace(tzinfo=zone)
        return TimeWindow.from_datetimes(start, end)


class SlaTargetConfig(_Section):
    """One ``[[sla.targets]]`` entry: an objective on a KQI for one SLA class."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    kqi: KqiKey
    sla_class: str = Field(min_length=1, max_length=32)
    scope: SlaScope
    objective: float = Field(ge=0)
    schedule: list[str] = []  # e.g. ["mon-fri 08:00-18:00"]; empty = 24×7
    at_risk_burn_rate: float = Field(default=1.0, gt=0)
    at_risk_remaining_ratio: float = Field(default=0.25, ge=0, le=1)
    excluded: list[ExcludedDowntimeConfig] = []  # [[sla.targets.excluded]]
    period: PeriodKind | None = None  # default: [sla] period
    timezone: str | None = None  # default: [daemon] timezone

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: list[str]) -> list[str]:
        if value:
            WeeklySchedule.parse(*value)  # ValueError names the bad entry
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def reporting_period(self, default: ReportingPeriod) -> ReportingPeriod:
        """This target's periods: its own ``period``/``timezone`` where set, else ``default``."""
        return ReportingPeriod(
            kind=self.period or default.kind, time_zone=self.timezone or default.time_zone
        )

    def to_target(self, default: ReportingPeriod) -> SlaTarget:
        """The pure-core target (``default``: the ``[sla]``/``[daemon]`` reporting period)."""
        period = self.reporting_period(default)
        return SlaTarget(
            kqi=self.kqi,
            sla_class=self.sla_class,
            scope=self.scope,
            objective=self.objective,
            period=period,
            schedule=WeeklySchedule.parse(*self.schedule) if self.schedule else None,
            exclusions=tuple(
                sorted(
                    (w.window(period.time_zone) for w in self.excluded),
                    key=lambda w: (w.start, w.end),
                )
            ),
            at_risk=AtRiskPolicy(
                burn_rate=self.at_risk_burn_rate, remaining_ratio=self.at_risk_remaining_ratio
            ),
        )


def _default_targets() -> list[SlaTargetConfig]:
    avail = KqiKey.LINE_AVAILABILITY
    return [
        SlaTargetConfig(
            name="residential-availability-internal",
            kqi=avail,
            sla_class="residential",
            scope=SlaScope.INTERNAL,
            objective=0.995,
        ),
        SlaTargetConfig(
            name="business-availability",
            kqi=avail,
            sla_class="business",
            scope=SlaScope.EXTERNAL,
            objective=0.998,
        ),
        SlaTargetConfig(
            name="enterprise-availability",
            kqi=avail,
            sla_class="enterprise",
            scope=SlaScope.EXTERNAL,
            objective=0.999,
        ),
        SlaTargetConfig(
            name="stable-lines-internal",
            kqi=KqiKey.STABLE_LINE_RATIO,
            sla_class="*",
            scope=SlaScope.INTERNAL,
            objective=0.95,
        ),
    ]


class SlaSettings(_Section):
    """``[sla]``: the reporting period and the targets (``[[sla.targets]]``)."""

    period: PeriodKind = PeriodKind.MONTH
    targets: list[SlaTargetConfig] = Field(default_factory=_default_targets)

    @model_validator(mode="after")
    def _unique_names(self) -> SlaSettings:
        names = [t.name for t in self.targets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate target names {duplicates}")
        return self

    def reporting_period(self, time_zone: str) -> ReportingPeriod:
        """Calendar periods in ``time_zone`` (``[daemon] timezone``)."""
        return ReportingPeriod(kind=self.period, time_zone=time_zone)

    def own_periods(self, time_zone: str) -> dict[ReportingPeriod, list[SlaTargetConfig]]:
        """Targets whose reporting period differs from the global one, by that period.

        The global period's targets are computed with the KQIs (``kpi_periods``); each of
        these periods is evaluated and stored on its own (``sla_periods``).
        """
        default = self.reporting_period(time_zone)
        groups: dict[ReportingPeriod, list[SlaTargetConfig]] = {}
        for t in self.targets:
            own = t.reporting_period(default)
            if own != default:
                groups.setdefault(own, []).append(t)
        return groups
