"""Rule evaluation: ``for`` durations, hysteresis, escalation, missing data, edge-triggering."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerting.model import AlertStatus, EntityKind, EntityRef, EntityState, Observation, Severity
from alerting.rules import (
    DEFAULT_RULES,
    Comparison,
    EvaluationState,
    Level,
    Rule,
    TransitionKind,
    evaluate,
    parse_expression,
)
from tests.unit.alerting.network import T0

RULES = {rule.name: rule for rule in DEFAULT_RULES}
F, S, R = TransitionKind.FIRING, TransitionKind.SEVERITY_CHANGED, TransitionKind.RESOLVED
W, MI, MA, C = Severity.WARNING, Severity.MINOR, Severity.MAJOR, Severity.CRITICAL

PORT = EntityRef(kind=EntityKind.PORT, id="agg-1/xe-0/0/0")
DEVICE = EntityRef(kind=EntityKind.DEVICE, id="dslam-1")
LINE = EntityRef(kind=EntityKind.LINE, id="dslam-1/line-7")
SLA = EntityRef(kind=EntityKind.SLA, id="d1/enterprise/line_availability")
ENTITY = {
    "uplink_utilisation": PORT,
    "device_down": DEVICE,
    "snr_margin_low": LINE,
    "sla_status": SLA,
    "line_unstable": LINE,
}
KEY = {
    "uplink_utilisation": "port_utilisation_ratio",
    "snr_margin_low": "dsl_snr_margin_down_db",
    "sla_status": "sla_status",
    "line_unstable": "dsl_stability_class",
}


def run(rule_name: str, samples: list[tuple[float, object]]) -> list[tuple[float, str, str]]:
    """Feed (minute, value) samples to one built-in rule; return (minute, edge, severity)."""
    rule = RULES[rule_name]
    state = EvaluationState()
    edges = []
    for minute, value in samples:
        now = T0 + timedelta(minutes=minute)
        if rule_name == "device_down":
            obs = Observation(entity=DEVICE, district="d1", time=now, state=EntityState(value))
        else:
            values = {} if value is None else {KEY[rule_name]: value}
            obs = Observation(
                entity=ENTITY[rule_name],
                district="d1",
                time=now,
                values=values,
                labels={"role": "uplink"},
            )
        state, transitions = evaluate([rule], [obs], state, now)
        edges += [(minute, t.kind.value, t.alert.severity.value) for t in transitions]
    return edges


CASES = [
    # description, rule, samples (minute, value), expected edges (minute, kind, severity)
    (
        "below the threshold nothing fires",
        "uplink_utilisation",
        [(0, 0.5), (15, 0.79), (30, 0.8)],
        [],
    ),
    (
        "above 80 % for less than 15 min does not fire",
        "uplink_utilisation",
        [(0, 0.85), (10, 0.85), (14, 0.9), (15, 0.7)],
        [],
    ),
    (
        "above 80 % for 15 min fires a warning, once",
        "uplink_utilisation",
        [(0, 0.85), (10, 0.85), (15, 0.85), (20, 0.85), (25, 0.85)],
        [(15, F, W)],
    ),
    (
        "a dip below the threshold restarts the for timer",
        "uplink_utilisation",
        [(0, 0.85), (10, 0.79), (15, 0.85), (25, 0.85), (30, 0.85)],
        [(30, F, W)],
    ),
    (
        "between clear (75 %) and threshold (80 %) a firing alert holds",
        "uplink_utilisation",
        [(0, 0.85), (15, 0.85), (20, 0.77), (25, 0.76), (30, 0.79)],
        [(15, F, W)],
    ),
    (
        "reaching the clear threshold resolves",
        "uplink_utilisation",
        [(0, 0.85), (15, 0.85), (20, 0.77), (25, 0.75)],
        [(15, F, W), (25, R, W)],
    ),
    (
        "straight to 96 % for 15 min fires critical, not warning then critical",
        "uplink_utilisation",
        [(0, 0.96), (15, 0.96)],
        [(15, F, C)],
    ),
    (
        "95 % sustained escalates a firing warning to critical after its own 15 min",
        "uplink_utilisation",
        [(0, 0.85), (15, 0.85), (20, 0.97), (30, 0.97), (35, 0.97)],
        [(15, F, W), (35, S, C)],
    ),
    (
        "critical holds above its clear (90 %), drops to warning below it, then resolves",
        "uplink_utilisation",
        [(0, 0.97), (15, 0.97), (20, 0.92), (25, 0.89), (30, 0.76), (35, 0.74)],
        [(15, F, C), (25, S, W), (35, R, W)],
    ),
    (
        "device down: grace of 1 min before warning, critical after 4 min",
        "device_down",
        [(0, "down"), (0.5, "down"), (1, "down"), (2, "down"), (4, "down"), (5, "down")],
        [(1, F, W), (4, S, C)],
    ),
    (
        "device down shorter than the grace raises nothing",
        "device_down",
        [(0, "down"), (0.75, "up"), (1, "up"), (1.5, "down"), (2, "up")],
        [],
    ),
    (
        "device recovers: resolved once",
        "device_down",
        [(0, "down"), (1, "down"), (2, "up"), (3, "up")],
        [(1, F, W), (2, R, W)],
    ),
    (
        "unknown holds a firing alert and does not escalate it",
        "device_down",
        [
            (0, "down"),
            (1, "down"),
            (2, "unknown"),
            (6, "unknown"),
            (7, "down"),
            (10, "down"),
            (11, "down"),
        ],
        [(1, F, W), (11, S, C)],
    ),
    (
        "unknown forgets a pending alert",
        "device_down",
        [(0, "down"), (0.5, "unknown"), (1, "down"), (1.5, "down"), (2, "down")],
        [(2, F, W)],
    ),
    (
        "missing value holds a firing alert",
        "snr_margin_low",
        [(0, 2.5), (15, 2.5), (20, None), (40, None), (45, 3.5), (50, 4.0)],
        [(15, F, MI), (50, R, MI)],
    ),
    (
        "SNR margin between 3 and 4 dB keeps a firing alert (hysteresis)",
        "snr_margin_low",
        [(0, 2.9), (15, 2.9), (20, 3.9), (25, 3.95), (30, 4.1)],
        [(15, F, MI), (30, R, MI)],
    ),
    (
        "SLA at risk warns, breached escalates to critical, met resolves",
        "sla_status",
        [(0, "met"), (1, "at_risk"), (2, "at_risk"), (3, "breached"), (4, "met")],
        [(1, F, W), (3, S, C), (4, R, C)],
    ),
    (
        "a word where a number is expected never matches",
        "uplink_utilisation",
        [(0, "high"), (20, "high")],
        [],
    ),
    (
        "line unstable fires on the stability class at once",
        "line_unstable",
        [(0, "stable"), (15, "unstable"), (30, "unstable"), (45, "marginal")],
        [(15, F, MI), (45, R, MI)],
    ),
]


@pytest.mark.parametrize(
    ("description", "rule", "samples", "expected"), CASES, ids=[case[0] for case in CASES]
)
def test_rule_edges(description, rule, samples, expected) -> None:
    expected = [(m, k.value, s.value) for m, k, s in expected]
    assert run(rule, samples) == expected, description


def test_same_input_twice_gives_no_second_transition() -> None:
    rule = RULES["device_down"]
    obs = [Observation(entity=DEVICE, district="d1", time=T0, state=EntityState.DOWN)]
    now = T0 + timedelta(minutes=2)
    state, first = evaluate([rule], obs, EvaluationState(), T0)
    state, second = evaluate([rule], obs, state, now)
    state, third = evaluate([rule], obs, state, now)
    assert first == ()
    assert [t.kind for t in second] == [TransitionKind.FIRING]
    assert third == (), "a repeated poll with the same verdict must not emit again"
    assert [a.key for a in state.firing()] == ["device_down:device:dslam-1"]


def test_firing_alert_carries_values_expression_labels_and_annotations() -> None:
    rule = RULES["uplink_utilisation"]
    obs = Observation(
        entity=PORT,
        district="d1",
        time=T0,
        values={"port_utilisation_ratio": 0.97},
        labels={"role": "uplink", "device": "agg-1"},
    )
    state, _ = evaluate([rule], [obs], EvaluationState(), T0)
    later = Observation(
        entity=PORT,
        district="d1",
        time=T0 + timedelta(minutes=15),
        values={"port_utilisation_ratio": 0.98},
        labels=obs.labels,
    )
    state, (edge,) = evaluate([rule], [later], state, later.time)
    alert = edge.alert
    assert alert.key == "uplink_utilisation:port:agg-1/xe-0/0/0"
    assert alert.status is AlertStatus.FIRING
    assert alert.started_at == later.time
    assert alert.values == {"port_utilisation_ratio": 0.98}
    assert alert.expression == "port_utilisation_ratio > 0.95 for 15m (clear <= 0.9)"
    assert alert.labels == {"role": "uplink", "device": "agg-1"}
    assert alert.annotations["summary"] == "uplink agg-1/xe-0/0/0 at 0.98 utilisation"


def test_label_match_selects_observations() -> None:
    rule = RULES["uplink_port_down"]
    access = Observation(
        entity=PORT, district="d1", time=T0, state=EntityState.DOWN, labels={"role": "access"}
    )
    state, _ = evaluate([rule], [access], EvaluationState(), T0)
    assert state.entries == {}, "a customer-facing port is not an uplink"


def test_latest_observation_of_an_entity_wins_within_a_cycle() -> None:
    rule = RULES["device_down"]
    old = Observation(entity=DEVICE, district="d1", time=T0, state=EntityState.DOWN)
    new = Observation(
        entity=DEVICE, district="d1", time=T0 + timedelta(seconds=5), state=EntityState.UP
    )
    state, _ = evaluate([rule], [new, old], EvaluationState(), T0 + timedelta(minutes=5))
    assert state.entries == {}


@pytest.mark.parametrize(
    ("description", "kwargs"),
    [
        ("no levels", {"levels": ()}),
        (
            "clear on the firing side",
            {"levels": (Level(severity=Severity.WARNING, threshold=0.8, clear=0.9),)},
        ),
        ("word threshold with >", {"levels": (Level(severity=Severity.WARNING, threshold="x"),)}),
        (
            "duplicate severities",
            {
                "levels": (
                    Level(severity=Severity.WARNING, threshold=0.8),
                    Level(severity=Severity.WARNING, threshold=0.9),
                )
            },
        ),
        (
            "negative for duration",
            {
                "levels": (
                    Level(severity=Severity.WARNING, threshold=0.8, for_=timedelta(seconds=-1)),
                )
            },
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_invalid_rules_are_refused(description: str, kwargs) -> None:
    with pytest.raises(ValueError, match="rule bad"):
        Rule(name="bad", entity_kind=EntityKind.PORT, key="k", op=Comparison.GT, **kwargs)


@pytest.mark.parametrize(
    ("description", "text", "expected"),
    [
        ("number", "port_utilisation_ratio > 0.8", ("port_utilisation_ratio", Comparison.GT, 0.8)),
        ("word", "state == down", ("state", Comparison.EQ, "down")),
        (
            "quoted word",
            "dsl_stability_class=='unstable'",
            ("dsl_stability_class", Comparison.EQ, "unstable"),
        ),
        (
            "two-character operator",
            "dsl_snr_margin_down_db <= 3",
            ("dsl_snr_margin_down_db", Comparison.LE, 3.0),
        ),
    ],
)
def test_parse_expression(description, text, expected) -> None:
    assert parse_expression(text) == expected, description


def test_parse_expression_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="not an expression"):
        parse_expression("utilisation is high")


def test_builtin_rule_names_are_unique_and_documented() -> None:
    from pathlib import Path

    names = [rule.name for rule in DEFAULT_RULES]
    assert len(names) == len(set(names))
    doc = (Path(__file__).resolve().parents[3] / "docs" / "alerting.md").read_text()
    missing = [name for name in names if f"`{name}`" not in doc]
    assert not missing, f"built-in rules missing from docs/alerting.md: {missing}"
