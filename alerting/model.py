"""Alerting value types: observations in, alerts, incidents and explanations out.

Everything here is a frozen dataclass or a ``StrEnum``; nothing reads a clock or does I/O.
Times are timezone-aware UTC ``datetime``s supplied by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "SEVERITY_RANK",
    "Alert",
    "AlertStatus",
    "EntityKind",
    "EntityRef",
    "EntityState",
    "Explanation",
    "Impact",
    "Incident",
    "MaintenanceWindow",
    "Observation",
    "Severity",
    "Suppression",
    "Value",
    "max_severity",
]

# A rule compares a number (KPI, ratio, seconds) or a word (state, stability class, SLA status).
Value = float | str


class Severity(StrEnum):
    """How bad an alert is; the order is :data:`SEVERITY_RANK`, never the string."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"
    INFO = "info"


# Higher is worse. A table, like alerta's SEVERITY_MAP, so that comparisons never depend on
# the spelling or declaration order of the enum.
SEVERITY_RANK: Final[Mapping[Severity, int]] = MappingProxyType(
    {
        Severity.CRITICAL: 5,
        Severity.MAJOR: 4,
        Severity.MINOR: 3,
        Severity.WARNING: 2,
        Severity.INFO: 1,
    }
)


def max_severity(*severities: Severity) -> Severity:
    """The worst of ``severities`` (INFO when none are given)."""
    return max(severities, key=SEVERITY_RANK.__getitem__, default=Severity.INFO)


class AlertStatus(StrEnum):
    """An alert is firing until its clear condition holds; then it is resolved for good."""

    FIRING = "firing"
    RESOLVED = "resolved"


class EntityKind(StrEnum):
    """What an observation or alert is about."""

    DEVICE = "device"
    PORT = "port"
    LINE = "line"
    DISTRICT = "district"
    COLLECTOR = "collector"
    SLA = "sla"


class EntityState(StrEnum):
    """Reachability verdict; ``unknown`` means nobody could look (never "down")."""

    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


class Suppression(StrEnum):
    """Why an alert is not notified on its own; the suppressing alert is ``suppressed_by``."""

    COLLECTOR_SILENT = "collector_silent"  # its collector/district is unknown
    PARENT_DOWN = "parent_down"  # an upstream device or port is down and alerting
    AWAITING_PARENT = "awaiting_parent"  # held until the upstream verdict of this cycle
    FLAPPING = "flapping"  # the entity is flapping; one flapping alert stands for it
    WIDE_AREA_EVENT = "wide_area_event"  # a DSLAM-wide event explains the line alert
    GROUPED = "grouped"  # one of many line alerts on one DSLAM in one window


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class EntityRef:
    """``EntityRef(kind=EntityKind.PORT, id="dslam-7/ge-0/0/1")``: one addressable thing."""

    kind: EntityKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """What is known about one entity at one time: its state and its KPI values.

    ``values`` holds numbers (``port_utilisation_ratio``: 0.93) and words
    (``dsl_stability_class``: "unstable"); a key that is missing means "no data".
    ``retrains`` in ``values`` (a line's retrains since its previous observation) feeds the
    flapping detector.
    """

    entity: EntityRef
    district: str
    time: datetime
    state: EntityState | None = None
    values: Mapping[str, Value] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert, deduplicated by ``key`` (rule + entity), as alerta dedups on its resource/event.

    ``values`` are those that made it fire (or change severity); ``expression`` is the rule
    condition in words, for the explain output. ``suppressed_by``/``suppression`` and
    ``incident_key`` are set by correlation; ``notified`` by the lifecycle.
    """

    key: str
    rule: str
    severity: Severity
    entity: EntityRef
    district: str
    status: AlertStatus
    started_at: datetime
    resolved_at: datetime | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Value] = field(default_factory=dict)
    expression: str = ""
    suppressed_by: str | None = None
    suppression: Suppression | None = None
    incident_key: str | None = None
    notified: bool = False

    @property
    def firing(self) -> bool:
        return self.status is AlertStatus.FIRING

    @property
    def suppressed(self) -> bool:
        return self.suppressed_by is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Impact:
    """Who is behind an incident: devices, DSL lines, and distinct customers per SLA class."""

    devices: int = 0
    lines: int = 0
    customers_by_sla: Mapping[str, int] = field(default_factory=dict)

    @property
    def customers(self) -> int:
        return sum(self.customers_by_sla.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident:
    """One operator-facing problem: a root alert and the alerts it explains.

    ``key`` is stable for as long as the root alert is (``incident:<root alert key>``), so a
    ticket or an Alertmanager group can follow it across cycles.
    """

    key: str
    root_alert_key: str
    severity: Severity
    district: str
    status: AlertStatus
    started_at: datetime
    resolved_at: datetime | None = None
    child_alert_keys: tuple[str, ...] = ()
    impact: Impact = field(default_factory=Impact)
    summary: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """Why an alert fired and why it is or is not suppressed, with the values that decided."""

    alert_key: str
    rule: str
    entity: EntityRef
    status: AlertStatus
    severity: Severity
    expression: str
    values: Mapping[str, Value]
    fired_at: datetime
    suppressed: bool
    suppressed_by: str | None
    suppression: Suppression | None
    incident_key: str | None
    root_alert_key: str | None
    reason: str
    upstream: tuple[EntityRef, ...] = ()  # the entity's ancestors, nearest first
    maintenance: tuple[str, ...] = ()  # ids of windows that currently mute it


@dataclass(frozen=True, slots=True, kw_only=True)
class MaintenanceWindow:
    """Planned work: alerts in scope are not notified in ``[start, end)``; they still resolve.

    Scope is any of ``districts``, ``entities`` (which covers everything behind them in the
    topology) and, optionally, only some ``rules``::

        MaintenanceWindow(id="chg-1042", start=t0, end=t0 + timedelta(hours=2),
                          entities=frozenset({EntityRef(kind=EntityKind.DEVICE, id="agg-3")}))
    """

    id: str
    start: datetime
    end: datetime
    districts: frozenset[str] = frozenset()
    entities: frozenset[EntityRef] = frozenset()
    rules: frozenset[str] = frozenset()  # empty: every rule
    reason: str = ""

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"maintenance {self.id}: end must be after start")
        if not self.districts and not self.entities:
            raise ValueError(f"maintenance {self.id}: scope needs districts or entities")

    def active(self, now: datetime) -> bool:
        return self.start <= now < self.end

    def covers(self, alert: Alert, upstream: Iterable[EntityRef] = ()) -> bool:
        """Is ``alert`` in scope? ``upstream`` are its entity's ancestors in the topology."""
        if self.rules and alert.rule not in self.rules:
            return False
        if alert.district in self.districts or alert.entity in self.entities:
            return True
        return any(ref in self.entities for ref in upstream)

    def mutes(self, alert: Alert, now: datetime, upstream: Iterable[EntityRef] = ()) -> bool:
        """Active now and covering ``alert``."""
        return self.active(now) and self.covers(alert, upstream)
