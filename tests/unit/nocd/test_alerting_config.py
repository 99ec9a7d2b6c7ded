"""[alerting] settings: TOML rules, built-ins replaced, FILE:LINE problems, codec round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerting.correlation import CorrelationState, EntityStatus, FlapState
from alerting.model import EntityKind, EntityRef, EntityState, Severity
from alerting.rules import DEFAULT_RULES, EvaluationState, evaluate
from nocd.alerting_config import parse_duration
from nocd.config import load_settings
from nocd.errors import ConfigError
from nocd.storage.alerting_codec import (
    decode_correlation,
    decode_evaluation,
    encode_correlation,
    encode_evaluation,
)
from tests.unit.alerting.network import DOWN, at, build_network, observe

GOOD = """\
[alerting]
interval_s = 5
alertmanager_urls = ["http://127.0.0.1:9093/"]
disabled_rules = ["sla_status"]

[[alerting.rules]]
name = "device_down"
entity = "device"
expr = "state == down"
for = "30s"
severity = "warning"
impact = "subtree"

[[alerting.rules.levels]]
severity = "critical"
threshold = "down"
for = "2m"

[[alerting.rules]]
name = "uplink_hot"
entity = "port"
match = { role = "uplink" }
expr = "port_utilisation_ratio > 0.9"
for = "10m"
clear = 0.8
severity = "major"
labels = { team = "transport" }
"""


def test_rules_from_toml_replace_builtins_by_name_and_disable_others(tmp_path: Path) -> None:
    path = tmp_path / "nocd.toml"
    path.write_text(GOOD)
    settings = load_settings(path)
    rules = {rule.name: rule for rule in settings.alerting.effective_rules()}
    assert "sla_status" not in rules
    assert set(rules) == {r.name for r in DEFAULT_RULES} - {"sla_status"} | {"uplink_hot"}
    down = rules["device_down"]
    assert [(lv.severity, lv.for_) for lv in down.levels] == [
        (Severity.CRITICAL, timedelta(minutes=2)),
        (Severity.WARNING, timedelta(seconds=30)),
    ]
    assert rules["uplink_hot"].levels[0].clear == 0.8
    assert rules["uplink_hot"].labels == {"team": "transport"}
    assert settings.alerting.push_urls() == ("http://127.0.0.1:9093",)


@pytest.mark.parametrize(
    ("change", "where", "description"),
    [
        (('for = "10m"', 'for = "soon"'), ":24: alerting.rules.1.for:", "bad duration"),
        (("clear = 0.8", "clear = 0.95"), ":19: alerting.rules.1:", "clear on the firing side"),
        (('expr = "port_utilisation_ratio > 0.9"', 'expr = "utilisation is high"'),
         ":23: alerting.rules.1.expr:", "not an expression"),
        (('severity = "critical"', 'severity = "urgent"'),
         ":15: alerting.rules.0.levels.0.severity:", "nested level"),
        (('disabled_rules = ["sla_status"]', 'disabled_rules = ["nope"]'), ":1: alerting:",
         "unknown built-in"),
    ],
)
def test_bad_rules_are_named_with_file_and_line(
    tmp_path: Path, change: tuple[str, str], where: str, description: str
) -> None:
    path = tmp_path / "nocd.toml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert f"{path}{where}" in str(info.value), (description, str(info.value))


def test_durations() -> None:
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration(0) == timedelta(0)
    with pytest.raises(ValueError):
        parse_duration("-1s")


def test_pipeline_memory_round_trips_through_json() -> None:
    net = build_network(dslams=1, lines_per_dslam=2)
    obs = [observe(net.dslams[0], at(0), DOWN)]
    state, _ = evaluate(DEFAULT_RULES, obs, EvaluationState(), at(0))
    state, _ = evaluate(DEFAULT_RULES, obs, state, at(120))
    assert state.firing()
    assert decode_evaluation(encode_evaluation(state)) == state
    ref = EntityRef(kind=EntityKind.LINE, id="dslam-1/line:7")
    t = datetime(2025, 1, 1, tzinfo=UTC)
    corr = CorrelationState(
        statuses={ref: EntityStatus(state=EntityState.DOWN, since=t, observed_at=t)},
        flaps={ref: FlapState(district="d1", changes=(t,), flapping=True, since=t)},
        groups=frozenset({net.dslams[0]}),
        synthetic={a.key: a for a in state.firing()},
        explained={"flapping:line:dslam-1/line-0": ("dslam_retrain_storm:device:dslam-1", t)},
    )
    assert decode_correlation(encode_correlation(corr)) == corr
    assert decode_evaluation({"format": 999}) == EvaluationState()
