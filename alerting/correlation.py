"""Topology correlation: suppression, incidents, flapping and the explain output (pure).

One call of :func:`correlate` per evaluation cycle, after every observation of the cycle is
in. It takes the firing alerts from :func:`alerting.rules.evaluate` and decides, in this
order of precedence, which alerts stand for themselves and which are explained by another:

1. ``collector_silent``: the entity's collector/district is not ``up``; one
   ``district_silent`` (or ``collector_silent``) alert stands for all of them.
2. ``parent_down``: an upstream device/port has a firing outage alert; the *topmost* one
   becomes ``suppressed_by``, so one dead aggregation switch is one incident.
3. ``awaiting_parent``: the entity is down but the upstream verdict is not in yet (the
   parent is down and still in its grace time, has not been polled since the child went
   down, or came back and the child has not been re-polled since); held for at most
   ``parent_verdict_timeout``. This removes the poll-order race in both directions.
4. ``flapping``: the entity changed state too often in the window; one ``flapping`` alert.
5. ``wide_area_event`` / ``grouped``: line alerts on one DSLAM are explained by a DSLAM-wide
   alert, or, when many start within one window, by one ``line_alarm_group`` alert.

Every unsuppressed alert is the root of one :class:`Incident` whose children are the alerts
it explains, with the impacted devices, lines and customers per SLA class.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final

from alerting.model import (
    Alert,
    AlertStatus,
    EntityKind,
    EntityRef,
    EntityState,
    Explanation,
    Impact,
    Incident,
    MaintenanceWindow,
    Observation,
    Severity,
    Suppression,
    max_severity,
)
from alerting.rules import DEFAULT_RULES, ImpactScope, Rule, alert_key

__all__ = [
    "COLLECTOR_SILENT_RULE",
    "DEFAULT_CORRELATION",
    "DISTRICT_SILENT_RULE",
    "FLAPPING_RULE",
    "LINE_GROUP_RULE",
    "Correlation",
    "CorrelationConfig",
    "CorrelationState",
    "EntityStatus",
    "FlapState",
    "Node",
    "Topology",
    "correlate",
    "explain",
    "incident_key",
]

DISTRICT_SILENT_RULE: Final = "district_silent"
COLLECTOR_SILENT_RULE: Final = "collector_silent"
FLAPPING_RULE: Final = "flapping"
LINE_GROUP_RULE: Final = "line_alarm_group"
_SILENT_RULES: Final = frozenset({DISTRICT_SILENT_RULE, COLLECTOR_SILENT_RULE})


# --- topology -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """One inventory entity and its upstream parent (aggregation → DSLAM/switch → port/line).

    A DSLAM's parent may be a device or the aggregation port it hangs off. A line node carries
    its customer (``customer_id``, ``sla_class``). ``role="uplink"`` on a port means the port
    connects its own device upstream: its outage takes out the whole device.
    ``collector`` defaults to the district: the district nocd is the collector.
    """

    entity: EntityRef
    district: str
    parent: EntityRef | None = None
    collector: str | None = None
    role: str | None = None
    customer_id: str | None = None
    sla_class: str | None = None

    @property
    def collector_id(self) -> str:
        return self.collector or self.district


@dataclass(frozen=True, slots=True, kw_only=True)
class Topology:
    """The inventory as a tree. Build with :meth:`build`; parents unknown to it are roots."""

    nodes: Mapping[EntityRef, Node]
    children: Mapping[EntityRef, tuple[EntityRef, ...]]
    districts: frozenset[str]

    @classmethod
    def build(cls, nodes: Iterable[Node]) -> Topology:
        by_ref = {node.entity: node for node in nodes}
        children: dict[EntityRef, list[EntityRef]] = defaultdict(list)
        for node in by_ref.values():
            if node.parent is not None:
                children[node.parent].append(node.entity)
        return cls(
            nodes=by_ref,
            children={ref: tuple(sorted(kids)) for ref, kids in children.items()},
            districts=frozenset(node.district for node in by_ref.values()),
        )

    def ancestors(self, ref: EntityRef) -> tuple[EntityRef, ...]:
        """Upstream entities, nearest first (stops on a cycle rather than looping)."""
        chain: list[EntityRef] = []
        node = self.nodes.get(ref)
        while node is not None and node.parent is not None and node.parent not in chain:
            if node.parent == ref:
                break
            chain.append(node.parent)
            node = self.nodes.get(node.parent)
        return tuple(chain)

    def descendants(self, ref: EntityRef) -> Iterator[EntityRef]:
        """Everything behind ``ref``, depth first, without ``ref`` itself."""
        stack = list(self.children.get(ref, ()))
        seen: set[EntityRef] = set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            yield current
            stack.extend(self.children.get(current, ()))

    def outage_scope(self, ref: EntityRef) -> set[EntityRef]:
        """Entities taken out when ``ref`` fails: it, everything behind it, and for an uplink
        port its device and everything behind that."""
        node = self.nodes.get(ref)
        base = ref
        if node is not None and node.role == "uplink" and node.parent is not None:
            base = node.parent
        return {base, ref, *self.descendants(base)}

    def impact(self, refs: Iterable[EntityRef]) -> Impact:
        """Counts over ``refs``: devices, lines and distinct customers per SLA class."""
        devices = lines = 0
        customers: dict[str, set[str]] = defaultdict(set)
        for ref in refs:
            if ref.kind is EntityKind.DEVICE:
                devices += 1
            elif ref.kind is EntityKind.LINE:
                lines += 1
            node = self.nodes.get(ref)
            if node is not None and node.sla_class is not None:
                customers[node.sla_class].add(node.customer_id or str(ref))
        return Impact(
            devices=devices,
            lines=lines,
            customers_by_sla={sla: len(ids) for sla, ids in sorted(customers.items())},
        )

    def device_of(self, ref: EntityRef) -> EntityRef | None:
        """The nearest device upstream of ``ref`` (a line's DSLAM)."""
        return next((a for a in self.ancestors(ref) if a.kind is EntityKind.DEVICE), None)


# --- configuration and memory between cycles ------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CorrelationConfig:
    """Correlation knobs. ``subtree_rules`` come from the rules' ``impact`` field
    (:meth:`from_rules`); ``outage_rules`` are those whose alert suppresses what is behind."""

    outage_rules: frozenset[str] = frozenset({"device_down", "uplink_port_down"})
    # The rule whose alert an entity of this kind raises when it is down (for held children).
    down_rule: Mapping[EntityKind, str] = field(
        default_factory=lambda: {
            EntityKind.DEVICE: "device_down",
            EntityKind.PORT: "uplink_port_down",
        }
    )
    subtree_rules: frozenset[str] = frozenset()
    wide_area_rules: frozenset[str] = frozenset({"dslam_wide_area_event", "dslam_retrain_storm"})
    # Must exceed the upstream rule's shortest ``for`` (device_down warns after 1 min).
    parent_verdict_timeout: timedelta = timedelta(minutes=2)
    group_min_lines: int = 5
    group_window: timedelta = timedelta(minutes=15)
    flap_kinds: frozenset[EntityKind] = frozenset({EntityKind.PORT, EntityKind.LINE})
    flap_window: timedelta = timedelta(minutes=15)
    flap_enter_changes: int = 6  # ≥ this many state changes (or retrains) in the window: flapping
    flap_leave_changes: int = 2  # ≤ this many: no longer flapping (hysteresis)
    flap_severity: Severity = Severity.WARNING
    silent_severity: Severity = Severity.MAJOR

    def __post_init__(self) -> None:
        if not 0 <= self.flap_leave_changes < self.flap_enter_changes:
            raise ValueError("flap_leave_changes must be below flap_enter_changes")
        if self.group_min_lines < 2:
            raise ValueError("group_min_lines must be at least 2")

    @classmethod
    def from_rules(cls, rules: Iterable[Rule], **overrides: object) -> CorrelationConfig:
        """Config whose ``subtree_rules`` are the rules declared with ``impact=subtree``."""
        subtree = frozenset(rule.name for rule in rules if rule.impact is ImpactScope.SUBTREE)
        return cls(subtree_rules=subtree, **overrides)  # type: ignore[arg-type]


DEFAULT_CORRELATION: Final = CorrelationConfig.from_rules(DEFAULT_RULES)


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityStatus:
    """Last verdict on an entity: its state, since when, and when it was last observed."""

    state: EntityState
    since: datetime
    observed_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class FlapState:
    """Recent state changes of one entity (capped at the enter threshold) and the verdict."""

    district: str
    changes: tuple[datetime, ...] = ()
    flapping: bool = False
    since: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CorrelationState:
    """What correlation remembers between cycles; store it as a whole."""

    statuses: Mapping[EntityRef, EntityStatus] = field(default_factory=dict)
    flaps: Mapping[EntityRef, FlapState] = field(default_factory=dict)
    groups: frozenset[EntityRef] = frozenset()  # DSLAMs whose line alerts are grouped
    synthetic: Mapping[str, Alert] = field(default_factory=dict)  # alerts made here
    # flapping alert key -> (the wide-area alert that explained its episode, episode start)
    explained: Mapping[str, tuple[str, datetime]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Correlation:
    """The outcome of one cycle: all firing alerts (correlated), incidents, and the memory."""

    alerts: tuple[Alert, ...]
    incidents: tuple[Incident, ...]
    state: CorrelationState

    def alert(self, key: str) -> Alert | None:
        return next((a for a in self.alerts if a.key == key), None)


def incident_key(root_alert_key: str) -> str:
    """The dedup key of the incident rooted at an alert."""
    return f"incident:{root_alert_key}"


# --- cycle memory ---------------------------------------------------------------------------


def _update_statuses(
    previous: Mapping[EntityRef, EntityStatus], observations: Iterable[Observation]
) -> dict[EntityRef, EntityStatus]:
    statuses = dict(previous)
    for obs in sorted(observations, key=lambda o: o.time):
        if obs.state is None:
            continue
        seen = statuses.get(obs.entity)
        if seen is not None and obs.time < seen.observed_at:
            continue  # late duplicate
        since = seen.since if seen is not None and seen.state is obs.state else obs.time
        statuses[obs.entity] = EntityStatus(state=obs.state, since=since, observed_at=obs.time)
    return statuses


def _update_flaps(
    previous: Mapping[EntityRef, FlapState],
    statuses: Mapping[EntityRef, EntityStatus],
    observations: Iterable[Observation],
    now: datetime,
    config: CorrelationConfig,
) -> dict[EntityRef, FlapState]:
    events: dict[EntityRef, list[datetime]] = defaultdict(list)
    districts: dict[EntityRef, str] = {}
    last = dict(statuses)
    for obs in sorted(observations, key=lambda o: o.time):
        if obs.entity.kind not in config.flap_kinds:
            continue
        districts[obs.entity] = obs.district
        seen = last.get(obs.entity)
        known = (EntityState.UP, EntityState.DOWN)
        if (
            obs.state in known
            and seen is not None
            and seen.state in known
            and obs.state is not seen.state
        ):
            events[obs.entity].append(obs.time)
        if obs.state is not None:
            last[obs.entity] = EntityStatus(state=obs.state, since=obs.time, observed_at=obs.time)
        retrains = obs.values.get("retrains")
        if isinstance(retrains, int | float) and retrains > 0:
            count = min(int(retrains), config.flap_enter_changes)
            events[obs.entity].extend([obs.time] * count)

    horizon = now - config.flap_window
    flaps: dict[EntityRef, FlapState] = {}
    for ref in set(previous) | set(events):
        old = previous.get(ref) or FlapState(district=districts.get(ref, ""))
        changes = sorted(t for t in (*old.changes, *events.get(ref, ())) if t > horizon)
        changes = changes[-config.flap_enter_changes :]  # enough to decide either way
        flapping, since = old.flapping, old.since
        if not flapping and len(changes) >= config.flap_enter_changes:
            flapping, since = True, changes[0]
        elif flapping and len(changes) <= config.flap_leave_changes:
            flapping, since = False, None
        if changes or flapping:
            flaps[ref] = FlapState(
                district=districts.get(ref, old.district),
                changes=tuple(changes),
                flapping=flapping,
                since=since,
            )
    return flaps


# --- correlation ----------------------------------------------------------------------------


def _synthetic(
    *,
    rule: str,
    entity: EntityRef,
    district: str,
    severity: Severity,
    started_at: datetime,
    expression: str,
    values: Mapping[str, float | str],
    summary: str,
    previous: Mapping[str, Alert],
) -> Alert:
    key = alert_key(rule, entity)
    before = previous.get(key)
    return Alert(
        key=key,
        rule=rule,
        severity=severity,
        entity=entity,
        district=district,
        status=AlertStatus.FIRING,
        started_at=before.started_at if before is not None else started_at,
        annotations={"summary": summary},
        values=values,
        expression=expression,
    )


def _suppress(alert: Alert, by: str, why: Suppression) -> Alert:
    return replace(alert, suppressed_by=by, suppression=why)


def _max_in_window(times: list[datetime], window: timedelta) -> int:
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _held_by(
    alert: Alert,
    ancestors: tuple[EntityRef, ...],
    statuses: Mapping[EntityRef, EntityStatus],
    now: datetime,
    config: CorrelationConfig,
) -> str | None:
    """The upstream alert key a down child waits for, or None (see module docstring, 3.)."""
    own = statuses.get(alert.entity)
    if own is None or own.state is not EntityState.DOWN:
        return None
    for ancestor in ancestors:
        rule = config.down_rule.get(ancestor.kind)
        up = statuses.get(ancestor)
        if rule is None or up is None:
            continue
        if up.state is EntityState.DOWN or up.observed_at < own.since:
            waiting_since = own.since  # parent in grace, or not polled since the child fell
        elif up.state is EntityState.UP and own.observed_at < up.since:
            waiting_since = up.since  # parent recovered; the child's "down" predates that
        else:
            continue
        if now - waiting_since < config.parent_verdict_timeout:
            return alert_key(rule, ancestor)
    return None


def correlate(
    alerts: Iterable[Alert],
    topology: Topology,
    collector_states: Mapping[str, EntityState],
    now: datetime,
    *,
    observations: Iterable[Observation] = (),
    previous: CorrelationState | None = None,
    config: CorrelationConfig = DEFAULT_CORRELATION,
) -> Correlation:
    """Correlate one cycle's firing ``alerts`` (see the module docstring for the semantics).

    ``collector_states`` maps a collector (by default a district) to its state; anything but
    ``up`` means silent. ``observations`` are the cycle's observations (for entity states and
    flapping); ``previous`` is the :class:`CorrelationState` the last call returned.
    """
    prev = previous or CorrelationState()
    alerts = tuple(alerts)
    observations = tuple(observations)
    statuses = _update_statuses(prev.statuses, observations)
    flaps = _update_flaps(prev.flaps, prev.statuses, observations, now, config)

    firing: dict[str, Alert] = {
        a.key: replace(a, suppressed_by=None, suppression=None, incident_key=None)
        for a in alerts
        if a.status is AlertStatus.FIRING
    }

    # 1. silent collectors: one alert each
    silent: dict[str, str] = {}
    for collector, collector_state in sorted(collector_states.items()):
        if collector_state is EntityState.UP:
            continue
        is_district = collector in topology.districts
        rule = DISTRICT_SILENT_RULE if is_district else COLLECTOR_SILENT_RULE
        kind = EntityKind.DISTRICT if is_district else EntityKind.COLLECTOR
        entity = EntityRef(kind=kind, id=collector)
        key = alert_key(rule, entity)
        silent[collector] = key
        if key not in firing:
            firing[key] = _synthetic(
                rule=rule,
                entity=entity,
                district=collector if is_district else "",
                severity=config.silent_severity,
                started_at=now,
                expression=f"collector state is {collector_state}",
                values={"state": collector_state.value},
                summary=f"{kind} {collector} is silent; its devices are unknown, not down",
                previous=prev.synthetic,
            )

    # 4. (made here, decided below) one flapping alert per flapping entity
    for ref, flap in sorted(flaps.items()):
        if flap.flapping:
            node = topology.nodes.get(ref)
            firing[alert_key(FLAPPING_RULE, ref)] = _synthetic(
                rule=FLAPPING_RULE,
                entity=ref,
                district=node.district if node else flap.district,
                severity=config.flap_severity,
                started_at=flap.since or now,
                expression=(
                    f"state changes >= {config.flap_enter_changes} in "
                    f"{config.flap_window} (leaves at <= {config.flap_leave_changes})"
                ),
                values={"changes": float(len(flap.changes))},
                summary=f"{ref} is flapping",
                previous=prev.synthetic,
            )

    outages: dict[EntityRef, Alert] = {}
    for a in firing.values():
        if a.rule in config.outage_rules:
            outages.setdefault(a.entity, a)

    # 1.–4. per-alert suppression, in order of precedence
    for key, a in sorted(firing.items()):
        if a.rule in _SILENT_RULES:
            continue
        node = topology.nodes.get(a.entity)
        collector = node.collector_id if node is not None else a.district
        if collector in silent and a.entity.kind not in (EntityKind.DISTRICT, EntityKind.SLA):
            firing[key] = _suppress(a, silent[collector], Suppression.COLLECTOR_SILENT)
            continue
        ancestors = topology.ancestors(a.entity)
        upstream = [outages[anc] for anc in ancestors if anc in outages]
        if upstream:
            firing[key] = _suppress(a, upstream[-1].key, Suppression.PARENT_DOWN)
            continue
        held = _held_by(a, ancestors, statuses, now, config)
        if held is not None:
            firing[key] = _suppress(a, held, Suppression.AWAITING_PARENT)
            continue
        flapping = flaps.get(a.entity)
        if a.rule != FLAPPING_RULE and flapping is not None and flapping.flapping:
            firing[key] = _suppress(a, alert_key(FLAPPING_RULE, a.entity), Suppression.FLAPPING)

    # 5. line alerts on one DSLAM: a wide-area alert or one group alert explains them
    by_dslam: dict[EntityRef, list[Alert]] = defaultdict(list)
    for a in firing.values():
        if a.entity.kind is EntityKind.LINE and not a.suppressed:
            dslam = topology.device_of(a.entity)
            if dslam is not None:
                by_dslam[dslam].append(a)
    wide: dict[EntityRef, Alert] = {}
    for a in sorted(firing.values(), key=lambda x: x.key):
        if a.rule in config.wide_area_rules:
            wide.setdefault(a.entity, a)
    groups: set[EntityRef] = set()
    for dslam, lines in sorted(by_dslam.items()):
        if dslam in wide:
            for a in lines:
                firing[a.key] = _suppress(a, wide[dslam].key, Suppression.WIDE_AREA_EVENT)
            continue
        for a in lines:
            if (by := _aftermath_of(a, prev, flaps)) is not None:
                firing[a.key] = _suppress(a, by, Suppression.WIDE_AREA_EVENT)
        lines = [a for a in lines if not firing[a.key].suppressed]
        if not lines:
            continue
        starts = [a.started_at for a in lines]
        if dslam not in prev.groups and _max_in_window(starts, config.group_window) < (
            config.group_min_lines
        ):
            continue
        groups.add(dslam)
        node = topology.nodes.get(dslam)
        group = _synthetic(
            rule=LINE_GROUP_RULE,
            entity=dslam,
            district=node.district if node else lines[0].district,
            severity=max_severity(*(a.severity for a in lines)),
            started_at=min(starts),
            expression=(
                f"line alerts on one DSLAM >= {config.group_min_lines} within {config.group_window}"
            ),
            values={"lines": float(len(lines))},
            summary=f"{len(lines)} line alerts on {dslam.id}",
            previous=prev.synthetic,
        )
        firing[group.key] = group
        for a in lines:
            firing[a.key] = _suppress(a, group.key, Suppression.GROUPED)

    result, incidents = _incidents(firing, topology, config)
    given = {a.key for a in alerts}
    synthetic = {
        a.key: a
        for a in result
        if a.rule in (*_SILENT_RULES, FLAPPING_RULE, LINE_GROUP_RULE) and a.key not in given
    }
    state = CorrelationState(
        statuses=statuses,
        flaps=flaps,
        groups=frozenset(groups),
        synthetic=synthetic,
        explained=_explained(firing, prev),
    )
    return Correlation(alerts=result, incidents=incidents, state=state)


def _aftermath_of(
    alert: Alert, prev: CorrelationState, flaps: Mapping[EntityRef, FlapState]
) -> str | None:
    """The ended wide-area alert a line's flapping still belongs to, if any.

    Flapping leaves with hysteresis (few changes in the window), so a line that flapped in a
    retrain storm stays "flapping" for up to a window after the storm. That episode was the
    storm's: it stays explained by it (no incident of its own) until the line changes state
    or retrains again on its own.
    """
    if alert.rule != FLAPPING_RULE:
        return None
    by, episode = prev.explained.get(alert.key, ("", None))
    if episode != alert.started_at:
        return None
    now, then = flaps.get(alert.entity), prev.flaps.get(alert.entity)
    if now is None or then is None or now.changes[-1:] != then.changes[-1:]:
        return None  # a change since the last cycle: it flaps on its own now
    return by


def _explained(
    firing: Mapping[str, Alert], prev: CorrelationState
) -> dict[str, tuple[str, datetime]]:
    """Flapping episodes a wide-area alert explains, remembered while they stay suppressed.

    Kept through other suppressions (a silent district hides everything for a while); an
    episode that became its own root is forgotten.
    """
    out: dict[str, tuple[str, datetime]] = {}
    for a in firing.values():
        if a.rule != FLAPPING_RULE or not a.suppressed:
            continue
        if a.suppression is Suppression.WIDE_AREA_EVENT and a.suppressed_by is not None:
            out[a.key] = (a.suppressed_by, a.started_at)
        elif (old := prev.explained.get(a.key)) is not None and old[1] == a.started_at:
            out[a.key] = old
    return out


def _root_of(alert: Alert, firing: Mapping[str, Alert]) -> Alert | None:
    """Follow ``suppressed_by`` to an unsuppressed firing alert; None if it leads nowhere."""
    seen: set[str] = set()
    current = alert
    while current.suppressed_by is not None:
        if current.key in seen:
            return None
        seen.add(current.key)
        nxt = firing.get(current.suppressed_by)
        if nxt is None:
            return None  # held for an upstream alert that does not fire (yet)
        current = nxt
    return current


def _scope(alert: Alert, topology: Topology, config: CorrelationConfig) -> set[EntityRef]:
    if alert.rule in config.subtree_rules or alert.rule in config.outage_rules:
        return topology.outage_scope(alert.entity)
    if alert.rule in _SILENT_RULES or alert.rule == LINE_GROUP_RULE:
        return set()  # their children say who is affected
    return {alert.entity}


def _incidents(
    firing: dict[str, Alert], topology: Topology, config: CorrelationConfig
) -> tuple[tuple[Alert, ...], tuple[Incident, ...]]:
    children: dict[str, list[Alert]] = defaultdict(list)
    for a in firing.values():
        root = _root_of(a, firing)
        if root is not None and root.key != a.key:
            children[root.key].append(a)
    incidents: list[Incident] = []
    for root in sorted((a for a in firing.values() if not a.suppressed), key=lambda a: a.key):
        kids = sorted(children.get(root.key, ()), key=lambda a: a.key)
        scope = _scope(root, topology, config)
        for kid in kids:
            scope |= _scope(kid, topology, config)
        key = incident_key(root.key)
        incidents.append(
            Incident(
                key=key,
                root_alert_key=root.key,
                severity=max_severity(root.severity, *(k.severity for k in kids)),
                district=root.district,
                status=AlertStatus.FIRING,
                started_at=root.started_at,
                child_alert_keys=tuple(k.key for k in kids),
                impact=topology.impact(scope),
                summary=root.annotations.get("summary", root.expression),
            )
        )
        firing[root.key] = replace(root, incident_key=key)
        for kid in kids:
            firing[kid.key] = replace(kid, incident_key=key)
    return tuple(firing[k] for k in sorted(firing)), tuple(incidents)


# --- explain --------------------------------------------------------------------------------


def _values_text(values: Mapping[str, float | str]) -> str:
    return ", ".join(
        f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in sorted(values.items())
    )


def explain(
    alert_key: str,
    correlation: Correlation,
    topology: Topology,
    *,
    maintenance: Iterable[MaintenanceWindow] = (),
    now: datetime | None = None,
    config: CorrelationConfig = DEFAULT_CORRELATION,
) -> Explanation:
    """Which rule fired with which values, and why the alert is or is not suppressed.

    Raises ``KeyError`` when ``alert_key`` is not among the correlated alerts.
    """
    alerts = {a.key: a for a in correlation.alerts}
    alert = alerts[alert_key]
    upstream = topology.ancestors(alert.entity)
    fired = f"rule {alert.rule} fired at {alert.started_at.isoformat()}: {alert.expression}"
    if alert.values:
        fired += f" with {_values_text(alert.values)}"
    by = alerts.get(alert.suppressed_by) if alert.suppressed_by else None
    by_text = (
        f"{alert.suppressed_by} ({by.entity}, firing since {by.started_at.isoformat()})"
        if by is not None
        else f"{alert.suppressed_by} (not firing yet)"
    )
    why = alert.suppression
    if why is None:
        reason = (
            "not suppressed: no upstream entity is down or pending, its collector reports, "
            "and it is not flapping or part of a DSLAM-wide event"
            if upstream
            else "not suppressed: nothing upstream of it in the topology"
        )
        if alert.incident_key is not None:
            reason += f"; it is the root of {alert.incident_key}"
    elif why is Suppression.COLLECTOR_SILENT:
        reason = f"suppressed by {by_text}: its collector is silent, so states there are unknown"
    elif why is Suppression.PARENT_DOWN:
        reason = f"suppressed by {by_text}: the topmost upstream outage explains it"
    elif why is Suppression.AWAITING_PARENT:
        reason = (
            f"held for {by_text}: the upstream verdict of this cycle is not in yet "
            f"(at most {config.parent_verdict_timeout})"
        )
    elif why is Suppression.FLAPPING:
        reason = f"suppressed by {by_text}: the entity is flapping"
    elif why is Suppression.WIDE_AREA_EVENT:
        reason = f"suppressed by {by_text}: a DSLAM-wide event explains the line"
    else:
        reason = f"suppressed by {by_text}: one of many line alerts on one DSLAM in one window"
    muted = tuple(w.id for w in maintenance if now is not None and w.mutes(alert, now, upstream))
    if muted:
        reason += f"; notifications muted by maintenance {', '.join(muted)}"
    incident = next((i for i in correlation.incidents if i.key == alert.incident_key), None)
    return Explanation(
        alert_key=alert.key,
        rule=alert.rule,
        entity=alert.entity,
        status=alert.status,
        severity=alert.severity,
        expression=alert.expression,
        values=alert.values,
        fired_at=alert.started_at,
        suppressed=alert.suppressed,
        suppressed_by=alert.suppressed_by,
        suppression=alert.suppression,
        incident_key=alert.incident_key,
        root_alert_key=incident.root_alert_key if incident else None,
        reason=f"{fired}; {reason}",
        upstream=upstream,
        maintenance=muted,
    )
