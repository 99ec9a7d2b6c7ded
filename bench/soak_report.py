"""The soak's figures and verdicts, from both databases, the load log and the CPU/RSS samples.

Definitions (also in docs/reliability.md):

* **Poll cycle.** Every device's interface poll falls due at the same instant, T0 + k·I (the
  poller's fixed-rate schedule from its start; T0 is estimated per district process as the
  first stored interface poll). Cycle k is *on time* when every device that was not under an
  outage fault stored an interface poll inside [T0 + k·I, T0 + (k+1)·I); its duration is the
  last such poll's time minus the cycle start (1 s resolution: polls are stored in whole
  seconds). The first cycle of each district process (discovery) is reported apart.
* **RSS leak.** Least-squares slope of RSS in the steady state: from the later of half the
  run and one interface interval after the last chaos event's recovery (a cut's backlog is
  work, not a leak) to the end, on the last process of each role (kills restart processes);
  judged only when that window is at least 10 minutes long: no leak when the slope
  extrapolated over one hour is below 10 % of the mean RSS in the window (and below 50 MB/h).
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.soak_plan import ChaosEvent, PlannedFault, Timing
from nocd.storage import db
from nocd.storage.models import (
    AlertRow,
    Device,
    IncidentRow,
    Sample,
    TicketCommentRow,
    TicketEventRow,
    TicketRow,
)
from nocd.ticket_service import INCIDENT_ACTOR

FACTS = "facts.pickle"  # in the work directory: what --reanalyse reads
TIMER_BREACH = "alertmanager:ticket_timer_breached"
LEAK_MIN_WINDOW_S = 600.0
LEAK_MAX_RATIO_PER_H = 0.10
LEAK_MAX_MB_PER_H = 50.0


@dataclass(slots=True, kw_only=True)
class Facts:
    """Everything the analysis needs from a finished run (pickled into its work directory)."""

    started: float
    quick: bool
    seed: int
    load_out: Path
    samples: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    devices: list[str]
    lines: int
    timing: Timing
    faults: list[PlannedFault]
    chaos: list[ChaosEvent]
    district_incarnations: list[tuple[float, int]]
    district_stopped: list[float]
    end: dict[str, Any]
    verify: dict[str, Any]
    district_url: str


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 2)


def _slope(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else None


# ----------------------------------------------------------------------------- poll cycles


def _windows(facts: Facts, polling_stopped: float) -> list[tuple[float, float]]:
    """Wall-clock spans of the district processes that polled (all but the drain-only one)."""
    spans = []
    starts = [at for at, _pid in facts.district_incarnations]
    for start in starts:
        later_stops = [s for s in facts.district_stopped if s > start]
        end = min(later_stops) if later_stops else polling_stopped
        if start < polling_stopped:
            spans.append((start, min(end, polling_stopped)))
    return spans


def poll_cycles(facts: Facts, polling_stopped: float) -> dict[str, Any]:
    timing, faults, devices = facts.timing, facts.faults, facts.devices
    engine = db.make_engine(facts.district_url)
    with db.session_factory(engine)() as session:
        rows = session.execute(
            select(Device.name, Sample.ts)
            .join(Device, Device.id == Sample.device_id)
            .where(Sample.entity.like("if:%"))
            .group_by(Device.name, Sample.ts)
        ).all()
    engine.dispose()
    interval = timing.interfaces_s
    polls: list[tuple[str, int]] = [(d, int(t)) for d, t in rows]
    cycles: list[dict[str, Any]] = []
    first: list[float] = []
    for start, end in _windows(facts, polling_stopped):
        mine = [(d, t) for d, t in polls if start <= t < end]
        if not mine:
            continue
        t0 = min(t for _, t in mine)
        k = 0
        while t0 + (k + 1) * interval <= end:
            ws, we = t0 + k * interval, t0 + (k + 1) * interval
            out = {
                f.device
                for f in faults
                if f.unavailable
                and f.started_at is not None
                and f.started_at < we
                and (f.ended_at is None or f.ended_at + 2 * interval > ws)
            }
            expected = set(devices) - out
            seen: dict[str, int] = {}
            for d, t in mine:
                if ws <= t < we and d in expected:
                    seen[d] = max(seen.get(d, t), t)
            duration = (max(seen.values()) - ws + 1) if seen else None
            missing = len(expected - set(seen))
            if k == 0:
                if duration is not None:
                    first.append(duration)
            else:
                cycles.append(
                    {
                        "start": round(ws - facts.started, 1),
                        "devices": len(expected),
                        "missing": missing,
                        "duration_s": duration,
                        "on_time": missing == 0,
                    }
                )
            k += 1
    durations = [c["duration_s"] for c in cycles if c["duration_s"] is not None]
    on_time = sum(1 for c in cycles if c["on_time"])
    return {
        "interval_s": interval,
        "cycles": len(cycles),
        "on_time": on_time,
        "on_time_pct": round(100.0 * on_time / len(cycles), 1) if cycles else None,
        "duration_p50_s": _pct(durations, 0.50),
        "duration_p99_s": _pct(durations, 0.99),
        "duration_max_s": max(durations) if durations else None,
        "first_cycle_s": first,
        "detail": cycles,
    }


# ----------------------------------------------------------------------------- incidents


def incidents(facts: Facts, central_url: str) -> dict[str, Any]:
    timing, faults, chaos = facts.timing, facts.faults, facts.chaos
    engine = db.make_engine(central_url)
    with db.session_factory(engine)() as session:
        rows = session.execute(
            select(
                IncidentRow.key,
                IncidentRow.root_alert_key,
                IncidentRow.started_at,
                IncidentRow.severity,
            )
        ).all()
        alerts = session.execute(select(AlertRow.key, AlertRow.started_at, AlertRow.device)).all()
        tickets = session.execute(
            select(TicketRow.id, TicketRow.incident_key, TicketEventRow.actor)
            .join(TicketEventRow, TicketEventRow.ticket_id == TicketRow.id)
            .where(TicketEventRow.version == 1)
        ).all()
    engine.dispose()
    grace = timing.detect_s + 20  # an incident opens within two polls of the fault
    incident_rows = [(key, root, started.timestamp(), sev) for key, root, started, sev in rows]
    warm = facts.started + timing.warmup_s
    matched: set[str] = set()
    per_fault = []
    for fault in faults:
        if fault.started_at is None:
            continue
        until = (fault.ended_at or fault.started_at) + grace
        if fault.expect_incident is not None:
            found = [
                key
                for key, root, at, _ in incident_rows
                if root == fault.expect_incident and fault.started_at - 5 <= at <= until
            ]
        else:
            found = [
                key
                for key, root, at, _ in incident_rows
                if fault.device in root and fault.started_at - 5 <= at <= until
            ]
        matched.update(found)
        fault_tickets = [
            tid for tid, ikey, actor in tickets if ikey in found and actor == INCIDENT_ACTOR
        ]
        want = 1 if fault.expect_incident else 0
        # A fault that overlaps a kill or a cut may go unseen by central (blind or dead for
        # all of it): there, at most one incident; never two.
        overlaps = any(
            c.started_at is not None
            and c.started_at <= until
            and (c.recovered_at or c.started_at) + grace >= fault.started_at
            for c in chaos
        )
        count_ok = len(found) <= want if overlaps else len(found) == want
        tickets_ok = len(fault_tickets) == len(found)
        per_fault.append(
            {
                "fault": fault.name,
                "device": fault.device,
                "expected_incidents": want,
                "incidents": len(found),
                "tickets": len(fault_tickets),
                "overlaps_chaos": overlaps,
                "ok": count_ok and tickets_ok,
            }
        )
    silent = [(key, at) for key, root, at, _ in incident_rows if root.startswith("district_silent")]
    matched.update(key for key, _ in silent)
    cuts = sum(1 for c in chaos if c.kind == "cut_link" and c.started_at is not None)
    others = sum(1 for c in chaos if c.kind != "cut_link" and c.started_at is not None)
    # Ticket timers breached on the soak's own incident tickets (nobody acknowledges them)
    # come back through the alerting inbox; they follow from matched incidents.
    # A line whose CPE is off reports an SNR margin of 0 dB and snr_margin_low fires on its
    # first DSL poll (a nocd false alarm, docs/reliability.md); those are the lab's baseline.
    cpe_off = _lines_out_of_showtime(facts)
    baseline_cpe_off = [
        key
        for key, root, _at, _ in incident_rows
        if root.startswith("snr_margin_low:line:") and root.split(":", 2)[2] in cpe_off
    ]
    unexpected = [
        {"key": key, "root": root, "at": round(at - facts.started, 1)}
        for key, root, at, _ in incident_rows
        if at >= warm
        and key not in matched
        and key not in baseline_cpe_off
        and not root.startswith(TIMER_BREACH)
    ]
    baseline = [
        key
        for key, _r, at, _ in incident_rows
        if at < warm and key not in matched and key not in baseline_cpe_off
    ]
    return {
        "faults_injected": len(per_fault),
        "faults_expecting_incident": sum(1 for f in per_fault if f["expected_incidents"]),
        "faults_ok": sum(1 for f in per_fault if f["ok"]),
        "per_fault": per_fault,
        "alerts_raised": sum(1 for _k, at, _d in alerts if at.timestamp() >= warm),
        "incidents_raised": sum(1 for _k, _r, at, _s in incident_rows if at >= warm),
        "tickets_raised_by_nocd": sum(
            1 for _t, ikey, actor in tickets if ikey and actor == INCIDENT_ACTOR
        ),
        "district_silent_incidents": len(silent),
        "district_silent_expected": f"{cuts}..{cuts + others}",
        "district_silent_ok": cuts <= len(silent) <= cuts + others,
        "unexpected_incidents": unexpected,
        "cpe_off_line_incidents": len(baseline_cpe_off),
        "baseline_incidents": baseline,
        "ok": all(f["ok"] for f in per_fault)
        and not unexpected
        and cuts <= len(silent) <= cuts + others,
    }


def _lines_out_of_showtime(facts: Facts) -> set[str]:
    """``<device>/line:<ifindex>`` of every lab line whose CPE is off (from lab.json)."""
    manifest = facts.load_out.parent / "lab" / "lab.json"
    lines = json.loads(manifest.read_text(encoding="utf-8")).get("lines", [])
    return {f"{ln['device']}/line:{ln['ifindex']}" for ln in lines if not ln["in_showtime"]}


# ----------------------------------------------------------------------------- API load


def api_load(facts: Facts, central_url: str) -> dict[str, Any]:
    load_out, chaos = facts.load_out, facts.chaos
    records = []
    tickets: list[str] = []
    for line in load_out.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if "tickets" in item:
            tickets = item["tickets"]
        else:
            records.append(item)
    outages = [
        (c.started_at, (c.recovered_at or c.started_at) + 5)
        for c in chaos
        if c.kind in ("kill_central", "kill_database") and c.started_at is not None
    ]

    def during_outage(t: float) -> bool:
        return any(a <= t <= b for a, b in outages)

    ok = [r for r in records if 200 <= r["status"] < 300]
    reads = [r["ms"] for r in ok if r["op"] in ("read", "search")]
    writes = [r["ms"] for r in ok if r["op"] == "write"]
    steady = [r for r in ok if not during_outage(r["t"])]
    failed = [r for r in records if not 200 <= r["status"] < 300]
    span = (max(r["t"] for r in records) - min(r["t"] for r in records)) if records else 0.0
    acked = collections.Counter(r["text"] for r in ok if r["op"] == "write")
    ambiguous = {r["text"] for r in failed if r["op"] == "write"}
    engine = db.make_engine(central_url)
    with db.session_factory(engine)() as session:
        stored = collections.Counter(
            session.scalars(
                select(TicketCommentRow.text).where(TicketCommentRow.ticket_id.in_(tickets))
            )
        )
    engine.dispose()
    lost = [t for t in acked if stored[t] < 1]
    doubled = [t for t, n in stored.items() if n > 1]
    unacked = [t for t in stored if t not in acked and t not in ambiguous]
    return {
        "requests": len(records),
        "rate_per_s": round(len(records) / span, 1) if span else None,
        "ok": len(ok),
        "failed": len(failed),
        "failed_outside_outages": sum(1 for r in failed if not during_outage(r["t"])),
        "read_p50_ms": _pct(reads, 0.50),
        "read_p99_ms": _pct(reads, 0.99),
        "write_p50_ms": _pct(writes, 0.50),
        "write_p99_ms": _pct(writes, 0.99),
        "read_p99_ms_outside_outages": _pct(
            [r["ms"] for r in steady if r["op"] in ("read", "search")], 0.99
        ),
        "write_p99_ms_outside_outages": _pct([r["ms"] for r in steady if r["op"] == "write"], 0.99),
        "comments_acknowledged": sum(acked.values()),
        "comments_lost": len(lost),
        "comments_doubled": len(doubled),
        "comments_stored_unacknowledged": len(unacked),
        "comments_ok": not lost and not doubled and not unacked,
    }


# ----------------------------------------------------------------------------- resources


def resources(
    samples: list[dict[str, Any]], duration_s: float, steady_from: float = 0.0
) -> dict[str, Any]:
    """CPU and RSS per role over the soak window (the drain and settle after it excluded).

    The RSS slope is taken from ``max(duration_s / 2, steady_from)`` (seconds into the run).
    """
    by_role: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for s in samples:
        if s["t"] <= duration_s:
            by_role[s["role"]].append(s)
    out: dict[str, Any] = {}
    for role, series in sorted(by_role.items()):
        cpu_total = 0.0
        per_pid: dict[int, list[dict[str, Any]]] = collections.defaultdict(list)
        for s in series:
            per_pid[s["pid"]].append(s)
        timeline = []
        for pid_series in per_pid.values():
            cpu_total += pid_series[-1]["cpu_s"] - pid_series[0]["cpu_s"]
            for a, b in itertools.pairwise(pid_series):
                if b["t"] > a["t"]:
                    timeline.append((b["t"], 100.0 * (b["cpu_s"] - a["cpu_s"]) / (b["t"] - a["t"])))
        span = (series[-1]["t"] - series[0]["t"]) or 1.0
        last_pid = series[-1]["pid"]
        steady = max(duration_s / 2, steady_from)
        tail = [(s["t"], s["rss_mb"]) for s in per_pid[last_pid] if s["t"] >= steady]
        window = (tail[-1][0] - tail[0][0]) if len(tail) > 1 else 0.0
        slope = _slope(tail)
        mean_rss = statistics.fmean(r for _, r in tail) if tail else None
        per_hour = slope * 3600 if slope is not None else None
        judged = window >= LEAK_MIN_WINDOW_S and per_hour is not None and mean_rss
        leak_ok = (
            per_hour < min(LEAK_MAX_RATIO_PER_H * mean_rss, LEAK_MAX_MB_PER_H)
            if judged and per_hour is not None and mean_rss
            else None
        )
        rss_by_minute: dict[int, float] = {}
        for s in series:
            rss_by_minute[int(s["t"] // 60)] = round(s["rss_mb"], 1)
        cpu_by_minute: dict[int, list[float]] = collections.defaultdict(list)
        for t, pct in timeline:
            cpu_by_minute[int(t // 60)].append(pct)
        out[role] = {
            "processes": len(per_pid),
            "cpu_mean_pct": round(100.0 * cpu_total / span, 1),
            "cpu_p99_pct": _pct([p for _, p in timeline], 0.99),
            "rss_max_mb": round(max(s["rss_mb"] for s in series), 1),
            "rss_last_mb": round(series[-1]["rss_mb"], 1),
            "rss_slope_mb_per_h_steady": round(per_hour, 1) if per_hour is not None else None,
            "rss_window_s": round(window, 1),
            "rss_steady_from_s": round(steady, 1),
            "no_leak": leak_ok,
            "rss_mb_by_minute": rss_by_minute,
            "cpu_pct_by_minute": {
                m: round(statistics.fmean(v), 1) for m, v in cpu_by_minute.items()
            },
        }
    return out


# ----------------------------------------------------------------------------- all together


def analyse(facts: Facts, central_url: str) -> dict[str, Any]:
    """Every figure and verdict of the run (the JSON document)."""
    timing, chaos, end, verify = facts.timing, facts.chaos, facts.end, facts.verify
    polling_stopped = facts.started + end["polling_stopped_at"]
    cycles = poll_cycles(facts, polling_stopped)
    checks = {c["name"]: c for c in verify.get("checks", [])}
    samples = checks.get("samples", {})
    incident_figures = incidents(facts, central_url)
    load = api_load(facts, central_url)
    recovered = [e.recovered_at - facts.started for e in chaos if e.recovered_at is not None]
    steady_from = max(recovered, default=0.0) + timing.interfaces_s
    usage = resources(facts.samples, timing.duration_s, steady_from)
    leaks = {role: usage[role]["no_leak"] for role in ("district", "central") if role in usage}
    return {
        "ok": bool(verify.get("ok"))
        and incident_figures["ok"]
        and load["comments_ok"]
        and all(v is not False for v in leaks.values()),
        "mode": "quick" if facts.quick else "full",
        "devices": len(facts.devices),
        "lines": facts.lines,
        "duration_s": timing.duration_s,
        "timing": {
            "interfaces_s": timing.interfaces_s,
            "dsl_s": timing.dsl_s,
            "timeout_s": timing.timeout_s,
            "warmup_s": timing.warmup_s,
            "fault_hold_s": timing.hold_s,
            "silent_after_s": timing.silent_after_s,
            "link_cut_s": timing.cut_s,
        },
        "seed": facts.seed,
        "hardware": {
            "nproc": os.cpu_count(),
            "load_avg_at_end": os.getloadavg(),
            "load_avg_1m_during": facts.end.get("load_avg_1m_during"),
        },
        "poll_cycles": cycles,
        "samples": {
            "produced_by_district": samples.get("checked"),
            "stored_at_central_exactly_once": samples.get("ok"),
            "detail": samples.get("detail"),
        },
        "incidents": incident_figures,
        "api": load,
        "resources": usage,
        "chaos": [
            {
                "kind": c.kind,
                "at_s": round((c.started_at or 0) - facts.started, 1),
                "down_s": c.down_s,
                "recovered_after_s": round((c.recovered_at or 0) - (c.started_at or 0), 1),
                **c.detail,
            }
            for c in chaos
        ],
        "end": end,
        "verify": verify,
        "timeline": facts.timeline,
    }


def print_table(result: dict[str, Any]) -> None:
    """The human-readable summary."""
    cycles, api, inc = result["poll_cycles"], result["api"], result["incidents"]
    rows = [
        ("devices / lines", f"{result['devices']} / {result['lines']}"),
        ("duration", f"{result['duration_s']:.0f} s ({result['mode']})"),
        (
            "poll cycles on time",
            f"{cycles['on_time']}/{cycles['cycles']} ({cycles['on_time_pct']} %), "
            f"interval {cycles['interval_s']} s",
        ),
        ("cycle duration p50 / p99", f"{cycles['duration_p50_s']} / {cycles['duration_p99_s']} s"),
        ("first cycle (discovery)", f"{cycles['first_cycle_s']} s"),
        (
            "samples produced = stored",
            f"{result['samples']['produced_by_district']} "
            f"(exactly once: {result['samples']['stored_at_central_exactly_once']})",
        ),
        (
            "faults → one incident each",
            f"{inc['faults_ok']}/{inc['faults_injected']} ok "
            f"({inc['faults_expecting_incident']} expect one, the rest none)",
        ),
        (
            "alerts / incidents / tickets",
            f"{inc['alerts_raised']} / {inc['incidents_raised']} / {inc['tickets_raised_by_nocd']}",
        ),
        (
            "district silent incidents",
            f"{inc['district_silent_incidents']} (expected {inc['district_silent_expected']})",
        ),
        ("unexpected incidents", str(len(inc["unexpected_incidents"]))),
        ("API requests", f"{api['requests']} at {api['rate_per_s']}/s, {api['failed']} failed"),
        ("API read p50 / p99", f"{api['read_p50_ms']} / {api['read_p99_ms']} ms"),
        ("API write p50 / p99", f"{api['write_p50_ms']} / {api['write_p99_ms']} ms"),
        ("comments lost / doubled", f"{api['comments_lost']} / {api['comments_doubled']}"),
    ]
    for role, figures in result["resources"].items():
        rows.append(
            (
                f"{role} CPU mean / RSS max",
                f"{figures['cpu_mean_pct']} % / {figures['rss_max_mb']} MB; slope "
                f"{figures['rss_slope_mb_per_h_steady']} MB/h, no leak: {figures['no_leak']}",
            )
        )
    for chaos in result["chaos"]:
        rows.append(
            (
                f"chaos {chaos['kind']}",
                f"at {chaos['at_s']} s, back after {chaos['recovered_after_s']} s",
            )
        )
    for check in result["verify"].get("checks", []):
        rows.append(
            (f"verify {check['name']}", ("ok: " if check["ok"] else "FAIL: ") + check["detail"])
        )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print("RESULT:", "ok" if result["ok"] else "FAILED")
