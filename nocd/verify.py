"""Two-tier consistency proof: a district's record against central's, after faults and kills.

    checks = verify(district_sessions, central_sessions, district="d01", settings=settings)
    ok = all(check.ok for check in checks)

The district's database is the reference for what it produced (every poll it stored, every
verdict it reached); central must hold each of those exactly once, with nothing of its own
invented except its documented ``unknown`` intervals while the district was silent and the
restorations that follow them. Central's derived data (rollups, KQI/SLA) must equal a clean
recomputation from its raw data. Every check reads only; the recomputation runs inside a
transaction that is rolled back.
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kpi.intervals import TimeWindow
from nocd.config import Settings
from nocd.kpi_service import compute_period
from nocd.storage import kpi_repo, rollup_repo
from nocd.storage.models import (
    AlertHistoryRow,
    AlertRow,
    Device,
    DeviceStateEvent,
    DistrictStatus,
    IncidentRow,
    KpiPeriod,
    OutboxItem,
    OutboxState,
    Rollup,
    RollupState,
    Sample,
    TicketEventRow,
    TicketRow,
)
from nocd.ticket_service import INCIDENT_ACTOR

__all__ = ["Check", "verify"]

SampleKey = tuple[str, str, int, float]  # entity, metric, ts, value
StateKey = tuple[str, int, str]  # device, ts, state
EXAMPLES = 3  # offending keys quoted per failed check
REL_TOL = 1e-9  # floats recomputed from the same rows may differ in the last bits only


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One verified property: what was compared, how many items, and the verdict."""

    name: str
    ok: bool
    checked: int
    detail: str

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"name": self.name, "ok": self.ok, "checked": self.checked, "detail": self.detail}


def _examples(items: Iterable[object]) -> str:
    shown = [repr(item) for _, item in zip(range(EXAMPLES), items, strict=False)]
    return ", ".join(shown)


def _counter_check(
    name: str,
    produced: collections.Counter[Any],
    received: collections.Counter[Any],
    what: str,
) -> Check:
    missing = produced - received
    doubled = received - produced
    problems = []
    if missing:
        problems.append(f"{sum(missing.values())} lost, e.g. {_examples(missing)}")
    if doubled:
        problems.append(f"{sum(doubled.values())} extra, e.g. {_examples(doubled)}")
    total = sum(produced.values())
    detail = "; ".join(problems) or f"{total} {what} at central exactly once"
    return Check(name=name, ok=not problems, checked=total, detail=detail)


# -- outbox ---------------------------------------------------------------------------------


def check_outbox(district: Session, central: Session, name: str) -> Check:
    """The outbox is empty, nothing was dropped, and central's high-water mark is its last seq."""
    state = district.get(OutboxState, name)
    if state is None:
        return Check(name="outbox drained", ok=False, checked=0, detail="district has no outbox")
    left = district.scalar(select(func.count()).select_from(OutboxItem)) or 0
    status = central.get(DistrictStatus, name)
    produced = state.next_seq - 1
    problems = []
    if left:
        problems.append(f"{left} items still unsent")
    if state.dropped:
        problems.append(f"{state.dropped} items dropped by quota/retention")
    if status is None:
        problems.append("central never heard from the district")
    elif status.epoch != state.epoch or status.last_seq != produced:
        problems.append(
            f"central applied up to seq {status.last_seq} (epoch {status.epoch!r}), the district "
            f"produced {produced} (epoch {state.epoch!r})"
        )
    detail = "; ".join(problems) or f"{produced} items produced, all acknowledged and applied"
    return Check(name="outbox drained", ok=not problems, checked=produced, detail=detail)


# -- samples --------------------------------------------------------------------------------


def _device_ids(session: Session, district: str) -> dict[str, int]:
    rows = session.execute(select(Device.name, Device.id).where(Device.district_id == district))
    return {name: device_id for name, device_id in rows}


def _samples_of(session: Session, device_id: int) -> collections.Counter[SampleKey]:
    rows = session.execute(
        select(Sample.entity, Sample.metric, Sample.ts, Sample.value).where(
            Sample.device_id == device_id
        )
    )
    return collections.Counter((e, m, int(t), float(v)) for e, m, t, v in rows)


def check_samples(district: Session, central: Session, name: str) -> list[Check]:
    """Every sample the district stored is at central once (compared device by device)."""
    here, there = _device_ids(district, name), _device_ids(central, name)
    produced_total = 0
    lost: collections.Counter[tuple[str, SampleKey]] = collections.Counter()
    extra: collections.Counter[tuple[str, SampleKey]] = collections.Counter()
    duplicate_keys = 0
    district_duplicates = 0
    for device, local_id in sorted(here.items()):
        produced = _samples_of(district, local_id)
        remote_id = there.get(device)
        received = (
            _samples_of(central, remote_id) if remote_id is not None else collections.Counter()
        )
        produced_total += sum(produced.values())
        lost.update({(device, k): n for k, n in (produced - received).items()})
        extra.update({(device, k): n for k, n in (received - produced).items()})
        keys = collections.Counter(k[:3] for k in received.elements())
        own = collections.Counter(k[:3] for k in produced.elements())
        # The district may store one key twice itself (two polls of a device in one second);
        # only duplicates beyond its own come from the transport.
        duplicate_keys += sum(max(0, n - max(own[k], 1)) for k, n in keys.items())
        district_duplicates += sum(n - 1 for n in own.values() if n > 1)
    problems = []
    if lost:
        problems.append(f"{sum(lost.values())} lost, e.g. {_examples(lost)}")
    if extra:
        problems.append(
            f"{sum(extra.values())} extra (doubled or invented), e.g. {_examples(extra)}"
        )
    detail = "; ".join(problems) or (
        f"{produced_total} samples of {len(here)} devices at central exactly once"
    )
    unique = Check(
        name="sample keys unique at central",
        ok=duplicate_keys == 0,
        checked=produced_total,
        detail=f"{duplicate_keys} (device, entity, metric, ts) keys more often than the district "
        f"stored them ({district_duplicates} the district itself stored twice)",
    )
    samples = Check(name="samples", ok=not problems, checked=produced_total, detail=detail)
    return [samples, unique]


# -- device state intervals -----------------------------------------------------------------


def _state_events(session: Session, name: str) -> list[StateKey]:
    rows = session.execute(
        select(Device.name, DeviceStateEvent.ts, DeviceStateEvent.state)
        .join(Device, Device.id == DeviceStateEvent.device_id)
        .where(Device.district_id == name)
        .order_by(Device.name, DeviceStateEvent.ts, DeviceStateEvent.id)
    )
    return [(d, int(t), s) for d, t, s in rows]


def own_events_explained(
    central_events: list[StateKey], own: collections.Counter[StateKey]
) -> list[StateKey]:
    """Central's events the district did not produce, other than silence and its restoration.

    Central may add ``unknown`` (the district was silent) and, after one, a return to the
    district's verdict (the resync snapshot). Anything else (a ``down`` above all) is
    invented. Returns the unexplained events.
    """
    unexplained: list[StateKey] = []
    left = collections.Counter(own)
    previous: dict[str, str] = {}
    for event in central_events:
        device, _ts, state = event
        if left[event] > 0:
            left[event] -= 1
            if state != "unknown" and previous.get(device) != "unknown":
                unexplained.append(event)
        previous[device] = state
    return unexplained


def check_states(district: Session, central: Session, name: str) -> Check:
    """Every verdict of the district is at central once; central's own are silence only."""
    produced = collections.Counter(_state_events(district, name))
    central_events = _state_events(central, name)
    received = collections.Counter(central_events)
    missing = produced - received
    own = received - produced
    unexplained = own_events_explained(central_events, own)
    problems = []
    if missing:
        problems.append(f"{sum(missing.values())} lost, e.g. {_examples(missing)}")
    if unexplained:
        problems.append(
            f"{len(unexplained)} at central neither from the district nor silence/resync, "
            f"e.g. {_examples(unexplained)}"
        )
    total = sum(produced.values())
    detail = "; ".join(problems) or (
        f"{total} state events at central exactly once; {sum(own.values())} of central's own "
        "(unknown while silent, and the resync after)"
    )
    return Check(name="state intervals", ok=not problems, checked=total, detail=detail)


# -- alerts, incidents, tickets -------------------------------------------------------------


def check_alerts(central: Session) -> list[Check]:
    """One firing episode per key at a time; no history line twice; incidents likewise."""
    checks = []
    for label, table in (("alerts", AlertRow), ("incidents", IncidentRow)):
        rows = central.execute(
            select(table.key, table.status, table.started_at, table.resolved_at).order_by(
                table.key, table.started_at, table.id
            )
        ).all()
        problems: list[str] = []
        firing = collections.Counter(key for key, status, _s, _r in rows if status == "firing")
        twice = [key for key, n in firing.items() if n > 1]
        if twice:
            problems.append(f"{len(twice)} keys firing more than once, e.g. {_examples(twice)}")
        overlaps = []
        for (key, _st, _start, end), (next_key, _nst, next_start, _nend) in itertools.pairwise(
            rows
        ):
            if key == next_key and (end is None or next_start < end):
                overlaps.append(key)
        if overlaps:
            problems.append(f"{len(overlaps)} overlapping episodes, e.g. {_examples(overlaps)}")
        detail = "; ".join(problems) or f"{len(rows)} {label}, episodes of each key disjoint"
        checks.append(
            Check(name=f"{label} unique", ok=not problems, checked=len(rows), detail=detail)
        )
    history = central.execute(
        select(
            AlertHistoryRow.alert_id,
            AlertHistoryRow.incident_id,
            AlertHistoryRow.key,
            AlertHistoryRow.event,
            AlertHistoryRow.at,
            AlertHistoryRow.status,
            AlertHistoryRow.severity,
        )
    ).all()
    counts = collections.Counter(tuple(row) for row in history)
    doubled = [row for row, n in counts.items() if n > 1]
    checks.append(
        Check(
            name="alert history unique",
            ok=not doubled,
            checked=len(history),
            detail=f"{len(doubled)} history lines recorded twice"
            + (f", e.g. {_examples(doubled)}" if doubled else ""),
        )
    )
    return checks


def check_tickets(central: Session) -> list[Check]:
    """Each ticket's audit trail is versions 1..version, and an incident has one open ticket."""
    versions: dict[str, list[int]] = collections.defaultdict(list)
    for ticket_id, version in central.execute(
        select(TicketEventRow.ticket_id, TicketEventRow.version).order_by(
            TicketEventRow.ticket_id, TicketEventRow.version
        )
    ):
        versions[ticket_id].append(int(version))
    tickets = central.execute(select(TicketRow.id, TicketRow.version)).all()
    broken = [
        ticket_id
        for ticket_id, version in tickets
        if versions.get(ticket_id, []) != list(range(1, int(version) + 1))
    ]
    events = sum(len(v) for v in versions.values())
    trail = Check(
        name="ticket events",
        ok=not broken,
        checked=events,
        detail=(
            f"{len(broken)} tickets whose events are not exactly versions 1..N, "
            f"e.g. {_examples(broken)}"
            if broken
            else f"{events} events of {len(tickets)} tickets: versions 1..N, none lost or doubled"
        ),
    )
    opened: collections.Counter[str] = collections.Counter(
        key
        for key, actor in central.execute(
            select(TicketRow.incident_key, TicketEventRow.actor)
            .join(TicketEventRow, TicketEventRow.ticket_id == TicketRow.id)
            .where(TicketRow.incident_key.is_not(None), TicketEventRow.version == 1)
        )
        if actor == INCIDENT_ACTOR and key is not None
    )
    episodes = collections.Counter(central.scalars(select(IncidentRow.key)))
    twice = [key for key, n in opened.items() if n > episodes.get(key, 0)]
    per_incident = Check(
        name="one ticket per incident",
        ok=not twice,
        checked=sum(opened.values()),
        detail=(
            f"{len(twice)} incidents with more tickets than episodes, e.g. {_examples(twice)}"
            if twice
            else f"{sum(opened.values())} incident tickets, at most one per incident episode"
        ),
    )
    return [trail, per_incident]


# -- rollups and SLA: a clean recomputation -------------------------------------------------

_ROLLUP_COLUMNS = ("device_id", "entity", "metric", "resolution", "bucket")
_ROLLUP_VALUES = ("count", "min", "avg", "max", "p95")


def _rollups(session: Session) -> pd.DataFrame:
    columns = [getattr(Rollup, c) for c in (*_ROLLUP_COLUMNS, *_ROLLUP_VALUES)]
    frame = pd.DataFrame(
        session.execute(select(*columns)).all(), columns=[*_ROLLUP_COLUMNS, *_ROLLUP_VALUES]
    )
    return frame.set_index(list(_ROLLUP_COLUMNS)).sort_index()


def _frames_equal(stored: pd.DataFrame, clean: pd.DataFrame) -> tuple[int, int, list[object]]:
    """(rows only on one side, rows with different values, examples)."""
    both = stored.join(clean, how="outer", lsuffix="_stored", rsuffix="_clean")
    one_side = (
        both[[f"{_ROLLUP_VALUES[0]}_stored", f"{_ROLLUP_VALUES[0]}_clean"]].isna().any(axis=1)
    )
    differ = pd.Series(False, index=both.index)
    for column in _ROLLUP_VALUES:
        a, b = both[f"{column}_stored"], both[f"{column}_clean"]
        close = (a - b).abs() <= REL_TOL * b.abs().clip(lower=1.0)
        differ |= ~close & ~one_side
    examples = list(both.index[one_side | differ][:EXAMPLES])
    return int(one_side.sum()), int(differ.sum()), examples


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
    return a == b


def _records_differ(before: list[Any], after: list[Any]) -> list[str]:
    """Field-level differences between two lists of stored KQI/SLA records."""
    if len(before) != len(after):
        return [f"{len(before)} stored rows, {len(after)} recomputed"]
    differences = []
    for old, new in zip(before, after, strict=True):
        for field in fields(old):
            a, b = getattr(old, field.name), getattr(new, field.name)
            if not _close(a, b):
                label = "/".join(str(getattr(old, k, "")) for k in ("target", "kqi", "district"))
                differences.append(f"{label}: {field.name} stored {a!r}, clean {b!r}")
    return differences


def check_recomputation(central: Session, settings: Settings) -> list[Check]:
    """Rollups and the newest period's KQI/SLA against a from-scratch run (rolled back).

    Rollups are recomputed from the raw samples as of the last rollup run (its ``now``);
    the KQI/SLA figures as of the stored computation's ``evaluated_until``, on the clean
    rollups. Both must equal what central maintained incrementally through the soak.
    """
    states = central.scalars(select(RollupState)).all()
    period = central.scalar(select(KpiPeriod).order_by(KpiPeriod.start.desc()).limit(1))
    if not states or period is None:
        why = "no rollups yet" if not states else "no KQI/SLA period computed yet"
        return [Check(name="rollups = clean recomputation", ok=False, checked=0, detail=why)]
    rollup_now = max(s.updated_at for s in states)
    stored_rollups = _rollups(central)
    stored_kqis = kpi_repo.query_kqis(central, period_start=period.start)
    stored_slas = kpi_repo.query_sla(central, period_start=period.start)
    window = TimeWindow(start=period.start, end=period.end)
    evaluated_until, computed_at, dirty = period.evaluated_until, period.computed_at, period.dirty
    try:
        central.execute(delete(Rollup))
        central.execute(delete(RollupState))
        rollup_repo.run_rollups(central, now=rollup_now)
        central.flush()
        clean_rollups = _rollups(central)
        result = compute_period(central, settings, period=window, now=evaluated_until)
        kpi_repo.save_period(
            central,
            start=period.start,
            end=period.end,
            evaluated_until=result.evaluated_until,
            computed_at=computed_at,
            kqis=result.kqis,
            slas=result.slas,
        )
        clean_kqis = kpi_repo.query_kqis(central, period_start=period.start)
        clean_slas = kpi_repo.query_sla(central, period_start=period.start)
    finally:
        central.rollback()
    one_side, differ, examples = _frames_equal(stored_rollups, clean_rollups)
    rollups_ok = one_side == 0 and differ == 0
    rollups = Check(
        name="rollups = clean recomputation",
        ok=rollups_ok,
        checked=len(clean_rollups),
        detail=(
            f"{len(stored_rollups)} stored rows equal {len(clean_rollups)} recomputed from raw "
            f"samples (as of {rollup_now})"
            + ("; nothing to compare: no bucket has closed yet" if not len(clean_rollups) else "")
            if rollups_ok
            else f"{one_side} rows only on one side, {differ} with other values, "
            f"e.g. {_examples(examples)}"
        ),
    )
    differences = _records_differ(stored_kqis, clean_kqis) + _records_differ(
        stored_slas, clean_slas
    )
    if dirty:
        differences.insert(0, "the stored period is marked dirty (late data not yet recomputed)")
    sla = Check(
        name="KQI/SLA = clean recomputation",
        ok=not differences and bool(stored_slas),
        checked=len(stored_slas) + len(stored_kqis),
        detail=(
            f"{len(stored_slas)} SLA and {len(stored_kqis)} KQI rows of the period from "
            f"{period.start} (evaluated until {evaluated_until}) equal the clean run"
            if not differences and stored_slas
            else "; ".join(differences[:EXAMPLES]) or "no SLA rows stored"
        ),
    )
    return [rollups, sla]


def verify(
    district_sessions: Callable[[], Session],
    central_sessions: Callable[[], Session],
    *,
    district: str,
    settings: Settings,
    recompute: bool = True,
) -> list[Check]:
    """Run every check (see the module docstring); never writes."""
    with district_sessions() as local, central_sessions() as central:
        checks = [check_outbox(local, central, district)]
        checks += check_samples(local, central, district)
        checks.append(check_states(local, central, district))
        checks += check_alerts(central)
        checks += check_tickets(central)
        central.rollback()
        if recompute:
            checks += check_recomputation(central, settings)
    return checks
