"""A hand-built access network and a driver that runs the pure alerting pipeline per cycle.

The pipeline is the one ``nocd/app.py`` will wire: observations → ``rules.evaluate`` →
``correlation.correlate`` → ``lifecycle.reconcile_*``. Time is always a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from alerting.correlation import Correlation, CorrelationConfig, CorrelationState, Node, Topology
from alerting.correlation import correlate as run_correlate
from alerting.lifecycle import HistoryEntry, reconcile_alerts, reconcile_incidents
from alerting.model import (
    Alert,
    AlertStatus,
    EntityKind,
    EntityRef,
    EntityState,
    Incident,
    MaintenanceWindow,
    Observation,
    Severity,
)
from alerting.rules import DEFAULT_RULES, STATE_KEY, Comparison, EvaluationState, Level, Rule
from alerting.rules import evaluate as run_evaluate

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
UP, DOWN, UNKNOWN = EntityState.UP, EntityState.DOWN, EntityState.UNKNOWN

# Lines report "down" in these tests (loss of sync / session), so that an outage upstream
# really produces one alert per line, the storm that correlation must fold into one incident.
LINE_DOWN = Rule(
    name="line_down",
    entity_kind=EntityKind.LINE,
    key=STATE_KEY,
    op=Comparison.EQ,
    levels=(Level(severity=Severity.MINOR, threshold="down", for_=timedelta(minutes=1)),),
)
RULES = (*DEFAULT_RULES, LINE_DOWN)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def device(name: str) -> EntityRef:
    return EntityRef(kind=EntityKind.DEVICE, id=name)


def port(name: str) -> EntityRef:
    return EntityRef(kind=EntityKind.PORT, id=name)


def line(name: str) -> EntityRef:
    return EntityRef(kind=EntityKind.LINE, id=name)


def sla_of(index: int) -> str:
    """Line j of a DSLAM: every 12th enterprise, other 4th business, the rest residential."""
    if index % 12 == 0:
        return "enterprise"
    if index % 4 == 0:
        return "business"
    return "residential"


@dataclass(frozen=True)
class Network:
    """agg-1 → dslam-1..N (each with an uplink port and M lines) in district d1, plus a
    lone switch sw-9 in district d2."""

    topology: Topology
    aggregation: EntityRef
    dslams: tuple[EntityRef, ...]
    uplinks: tuple[EntityRef, ...]
    lines: tuple[EntityRef, ...]
    remote: EntityRef

    def district_of(self, ref: EntityRef) -> str:
        return self.topology.nodes[ref].district


def build_network(dslams: int = 4, lines_per_dslam: int = 48) -> Network:
    agg = device("agg-1")
    nodes = [
        Node(entity=agg, district="d1"),
        Node(entity=port("agg-1/uplink"), district="d1", parent=agg, role="uplink"),
    ]
    dslam_refs, uplink_refs, line_refs = [], [], []
    for d in range(1, dslams + 1):
        dslam = device(f"dslam-{d}")
        uplink = port(f"dslam-{d}/uplink")
        nodes += [
            Node(entity=dslam, district="d1", parent=agg),
            Node(entity=uplink, district="d1", parent=dslam, role="uplink"),
        ]
        dslam_refs.append(dslam)
        uplink_refs.append(uplink)
        for j in range(lines_per_dslam):
            ref = line(f"dslam-{d}/line-{j}")
            nodes.append(
                Node(
                    entity=ref,
                    district="d1",
                    parent=dslam,
                    customer_id=f"cust-{d}-{j}",
                    sla_class=sla_of(j),
                )
            )
            line_refs.append(ref)
    remote = device("sw-9")
    nodes.append(Node(entity=remote, district="d2"))
    return Network(
        topology=Topology.build(nodes),
        aggregation=agg,
        dslams=tuple(dslam_refs),
        uplinks=tuple(uplink_refs),
        lines=tuple(line_refs),
        remote=remote,
    )


def observe(
    ref: EntityRef,
    time: datetime,
    state: EntityState | None = None,
    *,
    district: str = "d1",
    labels: Mapping[str, str] | None = None,
    **values: float | str,
) -> Observation:
    if labels is None:
        labels = {"role": "uplink"} if ref.id.endswith("/uplink") else {}
    return Observation(
        entity=ref, district=district, time=time, state=state, values=values, labels=labels
    )


@dataclass
class Pipeline:
    """Runs cycles and keeps everything a storage layer would keep."""

    network: Network
    rules: tuple[Rule, ...] = RULES
    config: CorrelationConfig | None = None
    evaluation: EvaluationState = field(default_factory=EvaluationState)
    correlation_state: CorrelationState | None = None
    open_alerts: dict[str, Alert] = field(default_factory=dict)
    open_incidents: dict[str, Incident] = field(default_factory=dict)
    resolved: list[Alert] = field(default_factory=list)
    resolved_incidents: list[Incident] = field(default_factory=list)
    notified: list[Alert] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    last: Correlation | None = None

    def cycle(
        self,
        observations: Iterable[Observation],
        now: datetime,
        *,
        collectors: Mapping[str, EntityState] | None = None,
        maintenance: Iterable[MaintenanceWindow] = (),
    ) -> Correlation:
        observations = tuple(observations)
        self.evaluation, transitions = run_evaluate(self.rules, observations, self.evaluation, now)
        kwargs = {} if self.config is None else {"config": self.config}
        result = run_correlate(
            self.evaluation.firing(),
            self.network.topology,
            collectors if collectors is not None else {"d1": UP, "d2": UP},
            now,
            observations=observations,
            previous=self.correlation_state,
            **kwargs,
        )
        self.correlation_state = result.state
        windows = tuple(maintenance)
        alerts = reconcile_alerts(
            self.open_alerts,
            (
                *result.alerts,
                *(t.alert for t in transitions if t.alert.status is AlertStatus.RESOLVED),
            ),
            now,
            maintenance=windows,
            topology=self.network.topology,
        )
        incidents = reconcile_incidents(self.open_incidents, result.incidents, now)
        self.open_alerts = dict(alerts.open)
        self.open_incidents = dict(incidents.open)
        self.resolved += alerts.resolved
        self.resolved_incidents += incidents.resolved
        self.notified += alerts.notify
        self.history += (*alerts.history, *incidents.history)
        self.last = result
        return result

    def unsuppressed(self) -> list[Alert]:
        return [a for a in self.open_alerts.values() if not a.suppressed]

    def notified_firing(self) -> list[str]:
        return [a.key for a in self.notified if a.status is AlertStatus.FIRING]
