"""Triage (轻重缓急): the impact × urgency table, SLA weights, time-critical bump."""

from __future__ import annotations

import itertools

import pytest

from alerting.model import Impact
from alerting.tickets import PRIORITY_RANK, Priority
from alerting.triage import (
    PRIORITY_MATRIX,
    ImpactLevel,
    ServiceEffect,
    Urgency,
    impact_level,
    triage,
)

DOWN, DEGRADED, AT_RISK = ServiceEffect.DOWN, ServiceEffect.DEGRADED, ServiceEffect.AT_RISK


def customers(**by_sla: int) -> Impact:
    return Impact(customers_by_sla=by_sla)


CASES = [
    # description, impact, effect, time_critical, priority
    ("one household without service", customers(residential=1), DOWN, False, Priority.P3),
    ("one household, slow line", customers(residential=1), DEGRADED, False, Priority.P3),
    ("one household, time-critical outage", customers(residential=1), DOWN, True, Priority.P3),
    ("one enterprise customer down (weight 20)", customers(enterprise=1), DOWN, False, Priority.P2),
    ("three enterprise customers down (60)", customers(enterprise=3), DOWN, False, Priority.P1),
    ("a DSLAM of 50 households down", customers(residential=50), DOWN, False, Priority.P1),
    ("a DSLAM of 50 households degraded", customers(residential=50), DEGRADED, False, Priority.P2),
    (
        "degraded but time-critical becomes high urgency",
        customers(residential=50),
        DEGRADED,
        True,
        Priority.P1,
    ),
    ("ten businesses degraded (50)", customers(business=10), DEGRADED, False, Priority.P2),
    (
        "a district aggregation switch down",
        customers(residential=4000, enterprise=12),
        DOWN,
        False,
        Priority.P1,
    ),
    (
        "wide area at risk (capacity forecast)",
        customers(residential=600),
        AT_RISK,
        False,
        Priority.P2,
    ),
    ("nobody affected yet, forecast", customers(), AT_RISK, False, Priority.P4),
    ("a few households degraded", customers(residential=5), DEGRADED, False, Priority.P3),
    ("a few households at risk", customers(residential=5), AT_RISK, False, Priority.P4),
    ("unknown SLA class counts as a household", customers(gold=2), DOWN, False, Priority.P2),
]


@pytest.mark.parametrize(
    ("description", "impact", "effect", "time_critical", "expected"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_triage_table(description, impact, effect, time_critical, expected):
    result = triage(impact, effect, time_critical=time_critical)
    assert result.priority is expected, f"{description}: {result.reason}"
    assert str(expected) in result.reason


def test_matrix_is_complete_and_monotonic():
    levels = list(ImpactLevel)  # widest first
    urgencies = list(Urgency)  # highest first
    assert set(PRIORITY_MATRIX) == set(itertools.product(levels, urgencies))
    for i, level in enumerate(levels):
        for j, urgency in enumerate(urgencies):
            here = PRIORITY_RANK[PRIORITY_MATRIX[(level, urgency)]]
            if i + 1 < len(levels):
                assert here >= PRIORITY_RANK[PRIORITY_MATRIX[(levels[i + 1], urgency)]]
            if j + 1 < len(urgencies):
                assert here >= PRIORITY_RANK[PRIORITY_MATRIX[(level, urgencies[j + 1])]]


@pytest.mark.parametrize(
    ("weighted", "level"),
    [
        (0, ImpactLevel.SINGLE),
        (1, ImpactLevel.SINGLE),
        (2, ImpactLevel.SMALL),
        (49, ImpactLevel.SMALL),
        (50, ImpactLevel.LARGE),
        (499, ImpactLevel.LARGE),
        (500, ImpactLevel.WIDE),
    ],
)
def test_impact_thresholds_are_inclusive(weighted, level):
    assert impact_level(customers(residential=weighted)) == (level, weighted)
