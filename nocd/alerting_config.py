"""``[alerting]`` settings: rules, maintenance windows, Alertmanager URLs, cycle interval.

    [alerting]
    interval_s = 15
    alertmanager_urls = ["http://127.0.0.1:9093"]

    [[alerting.rules]]
    name = "uplink_utilisation"
    entity = "port"
    match = { role = "uplink" }
    expr = "port_utilisation_ratio > 0.80"
    for = "15m"
    clear = 0.75
    severity = "warning"

Validated once here (pydantic, so ``nocd check-config`` names FILE:LINE); the alerting
package receives plain :class:`alerting.rules.Rule` values built by :meth:`rules`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from alerting.model import EntityKind, EntityRef, MaintenanceWindow, Severity
from alerting.rules import DEFAULT_RULES, ImpactScope, Level, Rule, parse_expression

__all__ = [
    "AlertingSettings",
    "LevelConfig",
    "MaintenanceConfig",
    "RuleConfig",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> timedelta:
    """``"15m"``, ``"90s"``, ``"1h"``, ``"0"`` or a number of seconds → ``timedelta``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '15m'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        found = _DURATION.match(str(value))
        if found is None:
            raise ValueError(f"not a duration (like '90s', '15m', '1h'): {value!r}")
        seconds = float(found.group(1)) * _UNIT_S[found.group(2) or "s"]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(seconds=seconds)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LevelConfig(_Model):
    """A further severity step of a rule: ``[[alerting.rules.levels]]``."""

    severity: Severity
    threshold: float | str
    for_: timedelta = Field(default=timedelta(0), alias="for")
    clear: float | None = None

    @field_validator("for_", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)


class RuleConfig(_Model):
    """One ``[[alerting.rules]]`` entry; ``expr`` is ``key <op> threshold``.

    A rule named like a built-in (``device_down``) replaces the built-in.
    """

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    entity: EntityKind
    expr: str
    for_: timedelta = Field(default=timedelta(0), alias="for")
    clear: float | None = None
    severity: Severity = Severity.WARNING
    match: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    impact: ImpactScope = ImpactScope.ENTITY
    levels: list[LevelConfig] = Field(default_factory=list)

    @field_validator("for_", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)

    @field_validator("expr")
    @classmethod
    def _expression(cls, value: str) -> str:
        parse_expression(value)  # raises ValueError naming the text
        return value

    @model_validator(mode="after")
    def _builds(self) -> RuleConfig:
        self.to_rule()  # threshold/clear/op consistency: Rule raises ValueError
        return self

    def to_rule(self) -> Rule:
        """The pure rule this entry declares."""
        key, op, threshold = parse_expression(self.expr)
        first = Level(severity=self.severity, threshold=threshold, for_=self.for_, clear=self.clear)
        more = [
            Level(
                severity=lv.severity, threshold=_typed(lv.threshold), for_=lv.for_, clear=lv.clear
            )
            for lv in self.levels
        ]
        return Rule(
            name=self.name,
            entity_kind=self.entity,
            key=key,
            op=op,
            levels=(first, *more),
            match=dict(self.match),
            labels=dict(self.labels),
            annotations=dict(self.annotations),
            impact=self.impact,
        )


def _typed(threshold: float | str) -> float | str:
    if isinstance(threshold, str):
        try:
            return float(threshold)
        except ValueError:
            return threshold
    return float(threshold)


class MaintenanceConfig(_Model):
    """``[[alerting.maintenance]]``: planned work that mutes notifications in its scope."""

    id: str
    start: datetime
    end: datetime
    districts: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    reason: str = ""

    @model_validator(mode="after")
    def _window(self) -> MaintenanceConfig:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset (e.g. 2025-03-01T22:00:00+08:00)")
        self.to_window()
        return self

    def to_window(self) -> MaintenanceWindow:
        """The pure window this entry declares."""
        return MaintenanceWindow(
            id=self.id,
            start=self.start,
            end=self.end,
            districts=frozenset(self.districts),
            entities=frozenset(EntityRef(kind=EntityKind.DEVICE, id=d) for d in self.devices),
            rules=frozenset(self.rules),
            reason=self.reason,
        )


class AlertingSettings(_Model):
    """``[alerting]``: the evaluation cycle, its rules and where alerts go."""

    enabled: bool = True
    interval_s: float = Field(default=15.0, gt=0, le=3600)  # one evaluate→correlate→reconcile
    builtin_rules: bool = True  # the rules of docs/alerting.md
    disabled_rules: list[str] = Field(default_factory=list)  # built-ins to leave out, by name
    rules: list[RuleConfig] = Field(default_factory=list)
    maintenance: list[MaintenanceConfig] = Field(default_factory=list)
    # A district none of whose devices was polled for this long is silent (role all/central).
    district_silent_after_s: float = Field(default=300.0, gt=0)
    topology_refresh_s: float = Field(default=300.0, ge=0)  # inventory re-read interval
    alertmanager_urls: list[AnyHttpUrl] = Field(default_factory=list)
    alertmanager_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # Value of the ``origin`` label on pushed alerts; inbound webhook alerts carrying it are
    # dropped (the loop guard) — give every nocd of one Alertmanager the same value.
    origin: str = Field(default="nocd", min_length=1)
    # Firing alerts from Alertmanager that are not re-sent for this long are dropped.
    webhook_expire_s: float = Field(default=6 * 3600.0, gt=0)
    history_keep_days: int = Field(default=90, ge=1)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[RuleConfig]) -> list[RuleConfig]:
        names = [rule.name for rule in rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique: {', '.join(duplicates)}")
        return rules

    @model_validator(mode="after")
    def _known_disabled(self) -> AlertingSettings:
        builtin = {rule.name for rule in DEFAULT_RULES}
        unknown = sorted(set(self.disabled_rules) - builtin)
        if unknown:
            raise ValueError(f"disabled_rules names no built-in rule: {', '.join(unknown)}")
        return self

    def effective_rules(self) -> tuple[Rule, ...]:
        """Built-ins (unless disabled or replaced by a rule of the same name), then the rest."""
        configured = [rule.to_rule() for rule in self.rules]
        replaced = {rule.name for rule in configured} | set(self.disabled_rules)
        builtin = [r for r in DEFAULT_RULES if r.name not in replaced] if self.builtin_rules else []
        return (*builtin, *configured)

    def windows(self) -> tuple[MaintenanceWindow, ...]:
        """Maintenance windows declared in the file."""
        return tuple(m.to_window() for m in self.maintenance)

    def push_urls(self) -> tuple[str, ...]:
        """Alertmanager base URLs as text, without a trailing slash."""
        return tuple(str(url).rstrip("/") for url in self.alertmanager_urls)
