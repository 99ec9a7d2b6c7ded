"""Correlation on a hand-built network: storms, silent districts, flapping, grouping, explain.

Every scenario runs the whole pure pipeline (evaluate → correlate → reconcile) cycle by
cycle with an injected clock, and asserts on what an operator would see: open alerts,
incidents and the notifications sent.
"""

from __future__ import annotations

import pytest

from alerting.correlation import (
    CorrelationConfig,
    CorrelationState,
    Node,
    Topology,
    correlate,
    explain,
)
from alerting.model import Alert, AlertStatus, EntityKind, EntityRef, Severity, Suppression
from alerting.rules import DEFAULT_RULES
from tests.unit.alerting.network import (
    DOWN,
    UNKNOWN,
    UP,
    Network,
    Pipeline,
    at,
    build_network,
    device,
    line,
    observe,
    port,
)

AGG_DOWN = "device_down:device:agg-1"


def everything(net: Network, t: float, *, agg, children) -> list:
    """One poll cycle's observations: lines first, then DSLAMs and uplinks, the agg last."""
    obs = [observe(ref, at(t + 1), children) for ref in net.lines]
    obs += [observe(ref, at(t + 2), children) for ref in (*net.dslams, *net.uplinks)]
    if agg is not None:
        obs.append(observe(net.aggregation, at(t + 3), agg))
    return obs


@pytest.fixture
def storm() -> Pipeline:
    """agg-1 dies at t=5 s; its children are polled before it, so they see it first."""
    net = build_network()
    pipe = Pipeline(network=net)
    pipe.cycle(everything(net, -30, agg=UP, children=UP), at(0))
    # t=30: children already down (polled at 10 s), the agg was polled at 3 s, still up
    obs = [*everything(net, 9, agg=None, children=DOWN), observe(net.aggregation, at(3), UP)]
    pipe.cycle(obs, at(30))
    for t in range(60, 361, 30):
        obs = everything(net, t - 20, agg=None, children=DOWN)
        obs.append(observe(net.aggregation, at(t - 5), DOWN))
        pipe.cycle(obs, at(t))
    return pipe


def test_storm_is_one_unsuppressed_incident_with_every_child_suppressed(storm: Pipeline) -> None:
    net = storm.network
    assert [a.key for a in storm.unsuppressed()] == [AGG_DOWN]
    assert len(storm.open_incidents) == 1
    (incident,) = storm.open_incidents.values()
    assert incident.key == f"incident:{AGG_DOWN}"
    assert incident.root_alert_key == AGG_DOWN
    children = set(incident.child_alert_keys)
    expected = (
        {f"device_down:{d}" for d in net.dslams}
        | {f"uplink_port_down:{u}" for u in net.uplinks}
        | {f"line_down:{ln}" for ln in net.lines}
    )
    assert children == expected
    assert len(children) == 4 + 4 + 4 * 48
    for key in children:
        alert = storm.open_alerts[key]
        assert alert.suppressed_by == AGG_DOWN, key
        assert alert.suppression is Suppression.PARENT_DOWN, key
        assert alert.incident_key == incident.key, key


def test_storm_impact_counts_devices_lines_and_customers_by_sla(storm: Pipeline) -> None:
    (incident,) = storm.open_incidents.values()
    # per DSLAM 48 lines: j % 12 == 0 → 4 enterprise; j % 4 == 0 otherwise → 8 business;
    # the other 36 residential. Four DSLAMs: 16 / 32 / 144. Devices: agg-1 + 4 DSLAMs.
    assert incident.impact.devices == 5
    assert incident.impact.lines == 192
    assert dict(incident.impact.customers_by_sla) == {
        "business": 32,
        "enterprise": 16,
        "residential": 144,
    }
    assert incident.impact.customers == 192
    assert incident.severity is Severity.CRITICAL


def test_storm_notifies_only_the_root_although_children_fired_first(storm: Pipeline) -> None:
    # children fired at t=90 (down since 10 s) while agg-1 was still in its grace (since 55 s)
    held = [e for e in storm.history if e.key == "device_down:device:dslam-1"]
    assert [e.event.value for e in held][:2] == ["fired", "suppressed"]
    assert "awaiting_parent" in held[1].text
    assert set(storm.notified_firing()) == {AGG_DOWN}
    severities = [a.severity for a in storm.notified if a.key == AGG_DOWN]
    assert severities == [Severity.WARNING, Severity.CRITICAL]


def test_storm_children_are_explainable(storm: Pipeline) -> None:
    net = storm.network
    assert storm.last is not None
    for key in (
        "line_down:line:dslam-3/line-17",
        "uplink_port_down:port:dslam-2/uplink",
        "device_down:device:dslam-4",
    ):
        why = explain(key, storm.last, net.topology)
        assert why.suppressed, key
        assert why.suppressed_by == AGG_DOWN, key
        assert why.suppression is Suppression.PARENT_DOWN
        assert why.root_alert_key == AGG_DOWN
        assert net.aggregation in why.upstream
        assert "topmost upstream outage" in why.reason
        assert "state == down" in why.reason
    root = explain(AGG_DOWN, storm.last, net.topology)
    assert not root.suppressed
    assert root.values == {"state": "down"}
    assert f"root of incident:{AGG_DOWN}" in root.reason


def test_storm_recovery_resolves_everything_without_child_notifications(storm: Pipeline) -> None:
    net = storm.network
    sent_before = len(storm.notified)
    # the agg is back at 400 s; the children's polls at 391/392 s still say down (stale)
    obs = [*everything(net, 390, agg=None, children=DOWN), observe(net.aggregation, at(405), UP)]
    storm.cycle(obs, at(420))
    assert AGG_DOWN not in storm.open_alerts
    assert storm.unsuppressed() == [], "stale child verdicts are held, not a new storm"
    # the DSLAMs wait for their next poll; what is behind them stays behind them
    for dslam in net.dslams:
        assert storm.open_alerts[f"device_down:{dslam}"].suppression is (
            Suppression.AWAITING_PARENT
        )
    assert storm.open_alerts["line_down:line:dslam-1/line-0"].suppressed_by == (
        "device_down:device:dslam-1"
    )
    storm.cycle(everything(net, 430, agg=UP, children=UP), at(450))
    assert storm.open_alerts == {}
    assert storm.open_incidents == {}
    assert [i.key for i in storm.resolved_incidents] == [f"incident:{AGG_DOWN}"]
    sent = storm.notified[sent_before:]
    assert [(a.key, a.status) for a in sent] == [(AGG_DOWN, AlertStatus.RESOLVED)]
    resolved = {a.key for a in storm.resolved}
    assert len(resolved) == 1 + 4 + 4 + 192


def test_held_child_is_released_when_the_parent_never_confirms() -> None:
    net = build_network(dslams=1, lines_per_dslam=0)
    pipe = Pipeline(network=net)
    pipe.cycle(everything(net, -30, agg=UP, children=UP), at(0))
    # dslam-1 down from 10 s; agg-1 is never polled again (its last verdict: up at -27 s)
    for t in range(30, 241, 30):
        pipe.cycle([observe(net.dslams[0], at(t - 20), DOWN)], at(t))
        alert = pipe.open_alerts.get("device_down:device:dslam-1")
        if t < 130:  # held for at most parent_verdict_timeout = 2 min after going down
            assert alert is None or alert.suppression is Suppression.AWAITING_PARENT, t
    alert = pipe.open_alerts["device_down:device:dslam-1"]
    assert not alert.suppressed
    assert pipe.notified_firing() == ["device_down:device:dslam-1"]


# --- silent collector / district --------------------------------------------------------------

SILENT_CASES = [
    ("silent district: unknown devices raise nothing", False, False),
    ("silent district: a firing device alert is suppressed, not resolved", True, False),
    ("silent district reported by both the rule and the collector state is one alert", False, True),
]


@pytest.mark.parametrize(
    ("description", "down_before", "district_observed"),
    SILENT_CASES,
    ids=[c[0] for c in SILENT_CASES],
)
def test_silent_district_is_one_alert_and_no_device_alarms(
    description, down_before, district_observed
) -> None:
    net = build_network(dslams=1, lines_per_dslam=2)
    pipe = Pipeline(network=net)
    state = DOWN if down_before else UP
    for t in (0, 30, 60, 90):
        pipe.cycle([observe(net.remote, at(t), state, district="d2")], at(t))
    for t in range(120, 601, 30):
        obs = [observe(net.remote, at(t), UNKNOWN, district="d2")]
        obs += everything(net, t - 5, agg=UP, children=UP)
        if district_observed:
            obs.append(
                observe(EntityRef(kind=EntityKind.DISTRICT, id="d2"), at(t), DOWN, district="d2")
            )
        pipe.cycle(obs, at(t), collectors={"d1": UP, "d2": UNKNOWN})
    unsuppressed = [a.key for a in pipe.unsuppressed()]
    assert unsuppressed == ["district_silent:district:d2"], description
    assert len(pipe.open_incidents) == 1, description
    device_alerts = [a for a in pipe.open_alerts.values() if a.entity == net.remote]
    if down_before:
        assert [a.suppression for a in device_alerts] == [Suppression.COLLECTOR_SILENT]
        assert device_alerts[0].suppressed_by == "district_silent:district:d2"
    else:
        assert device_alerts == [], description
        assert "device_down:device:sw-9" not in pipe.notified_firing(), description
    assert pipe.notified_firing()[-1] == "district_silent:district:d2", description
    assert pipe.notified_firing().count("district_silent:district:d2") == 1, description

    # the district reports again: the silent alert resolves
    obs = [observe(net.remote, at(630), UP, district="d2")]
    if district_observed:
        obs.append(
            observe(EntityRef(kind=EntityKind.DISTRICT, id="d2"), at(630), UP, district="d2")
        )
    pipe.cycle(obs, at(630))
    assert "district_silent:district:d2" not in pipe.open_alerts, description
    assert pipe.open_alerts == {}, description


# --- flapping ---------------------------------------------------------------------------------


def test_fast_flapping_port_is_one_flapping_alert_not_a_storm() -> None:
    net = build_network(dslams=1, lines_per_dslam=0)
    uplink = net.uplinks[0]
    pipe = Pipeline(network=net)
    pipe.cycle([observe(uplink, at(0), UP)], at(0))
    # down/up on every 30-second poll for 10 minutes, then stable
    for t in range(30, 631, 30):
        pipe.cycle([observe(uplink, at(t), DOWN if (t // 30) % 2 else UP)], at(t))
    assert pipe.notified_firing() == ["flapping:port:dslam-1/uplink"]
    assert [a.key for a in pipe.unsuppressed()] == ["flapping:port:dslam-1/uplink"]
    flapping = pipe.open_alerts["flapping:port:dslam-1/uplink"]
    assert flapping.severity is Severity.WARNING
    for t in range(660, 2000, 30):
        pipe.cycle([observe(uplink, at(t), UP)], at(t))
    assert pipe.open_alerts == {}
    assert [a.key for a in pipe.notified if a.status is AlertStatus.RESOLVED] == [
        "flapping:port:dslam-1/uplink"
    ]


def test_slow_flapping_port_stops_notifying_once_flapping() -> None:
    net = build_network(dslams=1, lines_per_dslam=0)
    uplink = net.uplinks[0]
    pipe = Pipeline(network=net)
    pipe.cycle([observe(uplink, at(0), UP)], at(0))
    detected_at = None
    for t in range(30, 1800, 30):
        state = DOWN if (t // 90) % 2 else UP  # 90 s down, 90 s up: port_down (1 min) fires
        pipe.cycle([observe(uplink, at(t), state)], at(t))
        if detected_at is None and "flapping:port:dslam-1/uplink" in pipe.open_alerts:
            detected_at = len(pipe.notified)
    assert detected_at is not None
    after = [a.key for a in pipe.notified[detected_at:]]
    assert "uplink_port_down:port:dslam-1/uplink" not in after, "no storm once flapping"
    assert after.count("flapping:port:dslam-1/uplink") == 0  # the one notification came before
    assert pipe.notified_firing().count("flapping:port:dslam-1/uplink") == 1
    port_alert = pipe.open_alerts.get("uplink_port_down:port:dslam-1/uplink")
    if port_alert is not None:
        assert port_alert.suppression is Suppression.FLAPPING


FLAP_CASES = [
    # description, change times (s), evaluated at (s), flapping expected
    ("5 changes in 15 min is not flapping", [0, 60, 120, 180, 240], 300, False),
    ("6 changes in 15 min is flapping", [0, 60, 120, 180, 240, 300], 330, True),
    ("6 changes spread over more than 15 min is not", [0, 200, 400, 600, 800, 1000], 1010, False),
    (
        "flapping holds while 3 changes remain in the window",
        [0, 60, 120, 180, 240, 300, 700, 760, 820],
        1300,
        True,
    ),
    (
        "flapping ends at 2 changes in the window (hysteresis)",
        [0, 60, 120, 180, 240, 300, 700, 760],
        1300,
        False,
    ),
    ("a quiet window ends flapping", [0, 60, 120, 180, 240, 300], 1300, False),
]


@pytest.mark.parametrize(
    ("description", "changes", "now", "expected"), FLAP_CASES, ids=[c[0] for c in FLAP_CASES]
)
def test_flapping_enter_and_leave_hysteresis(description, changes, now, expected) -> None:
    net = build_network(dslams=1, lines_per_dslam=0)
    topology = net.topology
    uplink = net.uplinks[0]
    state = correlate((), topology, {"d1": UP}, at(-1), observations=[observe(uplink, at(-1), UP)])
    current = UP
    for t in changes:
        current = DOWN if current is UP else UP
        state = correlate(
            (),
            topology,
            {"d1": UP},
            at(t),
            observations=[observe(uplink, at(t), current)],
            previous=state.state,
        )
    result = correlate((), topology, {"d1": UP}, at(now), previous=state.state)
    flapping = [a.key for a in result.alerts if a.rule == "flapping"]
    assert (flapping == ["flapping:port:dslam-1/uplink"]) is expected, description


def test_retraining_line_becomes_one_flapping_alert() -> None:
    net = build_network(dslams=1, lines_per_dslam=3)
    target = net.lines[0]
    pipe = Pipeline(network=net)
    for t in range(0, 301, 60):
        obs = [observe(ref, at(t), UP) for ref in net.lines]
        obs[0] = observe(target, at(t), UP, retrains=2.0, dsl_stability_class="unstable")
        pipe.cycle(obs, at(t))
    flapping = f"flapping:{target}"
    assert [a.key for a in pipe.unsuppressed()] == [flapping]
    unstable = pipe.open_alerts[f"line_unstable:{target}"]
    assert unstable.suppression is Suppression.FLAPPING
    assert unstable.suppressed_by == flapping


# --- line alerts on one DSLAM -----------------------------------------------------------------

GROUP_CASES = [
    # description, lines down, seconds between their failures, expected unsuppressed
    (
        "6 lines down together on one DSLAM: one group alert",
        6,
        0,
        ["line_alarm_group:device:dslam-2"],
    ),
    ("5 lines within 15 min: one group alert", 5, 200, ["line_alarm_group:device:dslam-2"]),
    (
        "4 lines down: each stands alone",
        4,
        0,
        [f"line_down:line:dslam-2/line-{j}" for j in range(4)],
    ),
    (
        "5 lines failing 20 min apart: no group",
        5,
        1200,
        [f"line_down:line:dslam-2/line-{j}" for j in range(5)],
    ),
]


@pytest.mark.parametrize(
    ("description", "count", "spacing", "expected"), GROUP_CASES, ids=[c[0] for c in GROUP_CASES]
)
def test_many_line_alerts_on_one_dslam_become_one_incident(
    description, count, spacing, expected
) -> None:
    net = build_network(dslams=2, lines_per_dslam=8)
    pipe = Pipeline(network=net)
    down_at = {line(f"dslam-2/line-{j}"): j * spacing for j in range(count)}
    end = max(down_at.values()) + 120
    for t in range(0, end + 1, 30):
        obs = [observe(d, at(t), UP) for d in (net.aggregation, *net.dslams)]
        obs += [
            observe(ref, at(t), DOWN if t >= down_at.get(ref, 10**9) else UP) for ref in net.lines
        ]
        pipe.cycle(obs, at(t))
    assert sorted(a.key for a in pipe.unsuppressed()) == sorted(expected), description
    assert len(pipe.open_incidents) == len(expected), description
    if expected[0].startswith("line_alarm_group"):
        (incident,) = pipe.open_incidents.values()
        assert incident.impact.lines == count, description
        assert incident.impact.devices == 0, description
        assert incident.impact.customers == count, description


def test_wide_area_event_on_a_dslam_explains_its_line_alerts() -> None:
    net = build_network(dslams=1, lines_per_dslam=4)
    pipe = Pipeline(network=net)
    dslam = net.dslams[0]
    for t in range(0, 181, 30):
        obs = [observe(dslam, at(t), UP, dslam_wide_area_event=1.0 if t >= 60 else 0.0)]
        obs += [observe(ref, at(t), DOWN if t >= 60 else UP) for ref in net.lines[:3]]
        pipe.cycle(obs, at(t))
    assert [a.key for a in pipe.unsuppressed()] == ["dslam_wide_area_event:device:dslam-1"]
    (incident,) = pipe.open_incidents.values()
    assert len(incident.child_alert_keys) == 3
    assert incident.impact.lines == 4, "a DSLAM-wide event impacts every line behind it"
    assert pipe.last is not None
    why = explain("line_down:line:dslam-1/line-0", pipe.last, net.topology)
    assert why.suppression is Suppression.WIDE_AREA_EVENT
    assert "DSLAM-wide event" in why.reason


def test_flapping_left_over_from_a_retrain_storm_stays_with_the_storm() -> None:
    """The storm ends; its lines stay "flapping" (hysteresis) but raise no incident of their
    own, until one of them retrains again by itself."""
    net = build_network(dslams=1, lines_per_dslam=6)
    pipe = Pipeline(network=net)
    dslam = net.dslams[0]
    storm = "incident:dslam_retrain_storm:device:dslam-1"
    for t in range(0, 601, 30):
        during = 60 <= t <= 240
        obs = [observe(dslam, at(t), UP, dslam_retrained_lines_ratio=1.0 if during else 0.0)]
        obs += [observe(ref, at(t), UP, retrains=2.0 if during else 0.0) for ref in net.lines]
        pipe.cycle(obs, at(t))
        if t == 240:
            assert list(pipe.open_incidents) == [storm]
            assert len(pipe.open_incidents[storm].child_alert_keys) == 6
        if 390 <= t <= 450:  # the district is silent for a while: nothing it says is judged
            pipe.cycle([], at(t + 15), collectors={"d1": UNKNOWN, "d2": UP})
    flapping = sorted(a.key for a in pipe.open_alerts.values() if a.rule == "flapping")
    assert len(flapping) == 6, "the lines still count as flapping after the storm"
    assert pipe.open_incidents == {}, "the storm's aftermath opens no incident, nor its silence"
    assert all(pipe.open_alerts[k].suppression is Suppression.WIDE_AREA_EVENT for k in flapping)

    # one line retrains again on its own: now its flapping is its own incident
    for t in range(630, 751, 30):
        obs = [observe(dslam, at(t), UP, dslam_retrained_lines_ratio=1 / 6)]  # no storm
        obs += [observe(ref, at(t), UP, retrains=0.0) for ref in net.lines[1:]]
        obs.append(observe(net.lines[0], at(t), UP, retrains=1.0))
        pipe.cycle(obs, at(t))
    assert list(pipe.open_incidents) == [f"incident:flapping:{net.lines[0]}"]


# --- smaller properties -----------------------------------------------------------------------


def test_topology_ancestors_stop_on_a_cycle() -> None:
    a, b = device("a"), device("b")
    topology = Topology.build(
        [Node(entity=a, district="d", parent=b), Node(entity=b, district="d", parent=a)]
    )
    assert topology.ancestors(a) == (b,)


def test_uplink_port_outage_takes_out_its_device_subtree() -> None:
    net = build_network(dslams=1, lines_per_dslam=5)
    scope = net.topology.outage_scope(port("dslam-1/uplink"))
    assert device("dslam-1") in scope
    assert net.topology.impact(scope).lines == 5


def test_same_cycle_twice_gives_the_same_correlation() -> None:
    net = build_network(dslams=1, lines_per_dslam=0)
    alert = Alert(
        key="device_down:device:dslam-1",
        rule="device_down",
        severity=Severity.WARNING,
        entity=device("dslam-1"),
        district="d1",
        status=AlertStatus.FIRING,
        started_at=at(0),
    )
    first = correlate([alert], net.topology, {"d1": UP}, at(60))
    second = correlate([alert], net.topology, {"d1": UP}, at(60), previous=first.state)
    assert first.alerts == second.alerts
    assert first.incidents == second.incidents


def test_explain_unknown_alert_raises_key_error() -> None:
    net = build_network(dslams=1, lines_per_dslam=0)
    result = correlate((), net.topology, {}, at(0), previous=CorrelationState())
    with pytest.raises(KeyError):
        explain("nope", result, net.topology)


def test_config_refuses_leave_threshold_at_or_above_enter() -> None:
    with pytest.raises(ValueError, match="flap_leave_changes"):
        CorrelationConfig(flap_enter_changes=3, flap_leave_changes=3)


def test_config_from_rules_knows_subtree_rules() -> None:
    config = CorrelationConfig.from_rules(DEFAULT_RULES)
    assert {"device_down", "uplink_port_down", "uplink_utilisation"} <= config.subtree_rules
    assert "snr_margin_low" not in config.subtree_rules
