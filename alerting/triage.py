"""Priority triage (轻重缓急): impact × urgency → P1..P4, and the operator's override (pure).

Impact is how many are hurt, weighted by SLA class (:data:`SLA_WEIGHT`); urgency is how bad
it is for each of them now (:data:`EFFECT_URGENCY`), one step higher when the caller says it
is time-critical (an enterprise's business hours, a promised appointment). The matrix is
:data:`PRIORITY_MATRIX`::

    impact \\ urgency   high  medium  low
    wide  (≥ 500)       P1    P1      P2
    large (≥ 50)        P1    P2      P3
    small (≥ 2)         P2    P3      P4
    single (< 2)        P3    P3      P4

so one household without service is P3, an enterprise customer without service (weight 20)
is P2, three of them (60) or a DSLAM of 50 households down is P1, and a forecast with nobody
hurt yet is P4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from alerting.model import Impact
from alerting.tickets import Priority, Ticket, TicketEvent, set_priority

__all__ = [
    "EFFECT_URGENCY",
    "IMPACT_THRESHOLDS",
    "PRIORITY_MATRIX",
    "SLA_WEIGHT",
    "ImpactLevel",
    "ServiceEffect",
    "Triage",
    "Urgency",
    "impact_level",
    "override_priority",
    "triage",
]


class ServiceEffect(StrEnum):
    """What the affected customers experience."""

    DOWN = "down"  # no service
    DEGRADED = "degraded"  # slow, unstable, below plan rate
    AT_RISK = "at_risk"  # nothing yet: forecast, early warning, complaint trend


class Urgency(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class ImpactLevel(StrEnum):
    WIDE = "wide"
    LARGE = "large"
    SMALL = "small"
    SINGLE = "single"


# One affected customer of each SLA class counts as this many households.
SLA_WEIGHT: Final[Mapping[str, int]] = MappingProxyType(
    {"residential": 1, "business": 5, "enterprise": 20}
)
_UNKNOWN_SLA_WEIGHT: Final = 1

# Weighted customers at or above which the level applies; checked in this order.
IMPACT_THRESHOLDS: Final[tuple[tuple[ImpactLevel, int], ...]] = (
    (ImpactLevel.WIDE, 500),
    (ImpactLevel.LARGE, 50),
    (ImpactLevel.SMALL, 2),
    (ImpactLevel.SINGLE, 0),
)

EFFECT_URGENCY: Final[Mapping[ServiceEffect, Urgency]] = MappingProxyType(
    {
        ServiceEffect.DOWN: Urgency.HIGH,
        ServiceEffect.DEGRADED: Urgency.MEDIUM,
        ServiceEffect.AT_RISK: Urgency.LOW,
    }
)

_RAISED: Final[Mapping[Urgency, Urgency]] = MappingProxyType(
    {Urgency.LOW: Urgency.MEDIUM, Urgency.MEDIUM: Urgency.HIGH, Urgency.HIGH: Urgency.HIGH}
)

_P = Priority
PRIORITY_MATRIX: Final[Mapping[tuple[ImpactLevel, Urgency], Priority]] = MappingProxyType(
    {
        (ImpactLevel.WIDE, Urgency.HIGH): _P.P1,
        (ImpactLevel.WIDE, Urgency.MEDIUM): _P.P1,
        (ImpactLevel.WIDE, Urgency.LOW): _P.P2,
        (ImpactLevel.LARGE, Urgency.HIGH): _P.P1,
        (ImpactLevel.LARGE, Urgency.MEDIUM): _P.P2,
        (ImpactLevel.LARGE, Urgency.LOW): _P.P3,
        (ImpactLevel.SMALL, Urgency.HIGH): _P.P2,
        (ImpactLevel.SMALL, Urgency.MEDIUM): _P.P3,
        (ImpactLevel.SMALL, Urgency.LOW): _P.P4,
        (ImpactLevel.SINGLE, Urgency.HIGH): _P.P3,
        (ImpactLevel.SINGLE, Urgency.MEDIUM): _P.P3,
        (ImpactLevel.SINGLE, Urgency.LOW): _P.P4,
    }
)
del _P


@dataclass(frozen=True, slots=True, kw_only=True)
class Triage:
    """The computed priority and how it was reached (shown to the operator)."""

    priority: Priority
    impact: ImpactLevel
    urgency: Urgency
    weighted_customers: int
    reason: str


def _weighted(customers_by_sla: Mapping[str, int]) -> int:
    return sum(SLA_WEIGHT.get(sla, _UNKNOWN_SLA_WEIGHT) * n for sla, n in customers_by_sla.items())


def impact_level(impact: Impact) -> tuple[ImpactLevel, int]:
    """The impact level of ``impact`` and its weighted customer count."""
    weighted = _weighted(impact.customers_by_sla)
    for level, threshold in IMPACT_THRESHOLDS:
        if weighted >= threshold:
            return level, weighted
    raise AssertionError("the last threshold is 0")  # pragma: no cover


def triage(impact: Impact, effect: ServiceEffect, *, time_critical: bool = False) -> Triage:
    """P1..P4 from who is affected (``impact``), how (``effect``) and whether time presses."""
    level, weighted = impact_level(impact)
    urgency = EFFECT_URGENCY[effect]
    if time_critical:
        urgency = _RAISED[urgency]
    priority = PRIORITY_MATRIX[(level, urgency)]
    who = ", ".join(f"{n} {sla}" for sla, n in sorted(impact.customers_by_sla.items()) if n)
    reason = (
        f"{priority}: impact {level} ({who or 'no customers'}; weighted {weighted}), "
        f"urgency {urgency} (service {effect}{', time-critical' if time_critical else ''})"
    )
    return Triage(
        priority=priority, impact=level, urgency=urgency, weighted_customers=weighted, reason=reason
    )


def override_priority(
    ticket: Ticket,
    priority: Priority,
    *,
    actor: str,
    now: datetime,
    reason: str,
    expected_version: int | None = None,
) -> tuple[Ticket, TicketEvent]:
    """An operator sets the priority by hand; the reason is required and goes in the audit trail."""
    return set_priority(
        ticket, priority, actor=actor, now=now, reason=reason, expected_version=expected_version
    )
