"""Workflow templates: the shipped YAML, FILE:LINE validation, and SLA timers on a driven clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

from alerting.tickets import (
    EventKind,
    Priority,
    Ticket,
    TicketKind,
    TicketState,
    hold,
    mark_breached,
    open_ticket,
    record,
    release,
    set_priority,
    transition,
)
from alerting.workflow import (
    BUILTIN_TEMPLATES,
    WorkflowError,
    WorkflowTemplate,
    load_builtin,
    next_deadline,
    parse_duration,
    parse_template,
    timer_statuses,
    timers_due,
)

S = TicketState
T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)  # the repair request
TEMPLATES = load_builtin()
FAULT = TEMPLATES["broadband_fault"]
MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)


def test_shipped_templates_parse_and_cover_every_kind():
    assert set(TEMPLATES) == set(BUILTIN_TEMPLATES)
    assert {t.kind for t in TEMPLATES.values()} == set(TicketKind)
    folder = resources.files("alerting") / "workflows"
    shipped = sorted(p.name for p in folder.iterdir() if p.name.endswith(".yaml"))
    assert shipped == sorted(f"{name}.yaml" for name in BUILTIN_TEMPLATES)


def test_fault_template_carries_the_operator_promises():
    timers = {t.name: t for t in FAULT.timers}
    assert timers["on_site"].target == timedelta(minutes=30)
    assert timers["on_site"].appointment_field == "appointment_at"
    assert "waiting_for_customer" in timers["on_site"].pause.holds
    assert timers["restore"].target_by_priority[Priority.P1] == timedelta(hours=4)
    assert S.TAKEN_BACK in timers["restore"].pause.states
    assert FAULT.fields["cause"].choices == ("network", "customer_side", "unknown")
    installation = {t.name: t for t in TEMPLATES["installation"].timers}
    assert installation["completion"].target == timedelta(days=3)
    assert installation["callback"].target == timedelta(days=7)
    assert installation["callback"].start is S.RESOLVED
    assert TEMPLATES["complaint"].links_required


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("8h", timedelta(hours=8)),
        ("3d", timedelta(days=3)),
        ("90s", timedelta(seconds=90)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["0m", "30", "1.5h", "m30", "3w"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


MINIMAL = """\
name: mini
kind: fault
title: Minimal
holds: [waiting_for_customer]
fields:
  technician: {type: text}
  ok: {type: bool}
transitions:
  new: [acknowledged]
  acknowledged: [resolved]
  resolved: [signed_off]
  signed_off: [callback_done]
  callback_done: [closed]
steps:
  resolved:
    checklist: [ok]
timers:
  response:
    description: answer
    start: new
    stop: [acknowledged]
    target: 10m
"""


def test_minimal_template_parses():
    template = parse_template(MINIMAL, "mini.yaml")
    assert template.allowed(S.NEW) == {S.ACKNOWLEDGED}
    assert template.steps[S.RESOLVED].checklist == ("ok",)


def broken(line_no: int, replacement: str) -> str:
    """MINIMAL with line ``line_no`` (1-based) replaced by ``replacement``."""
    lines = MINIMAL.splitlines()
    lines[line_no - 1] = replacement
    return "\n".join(lines) + "\n"


INVALID = [
    # description, text, expected "file:line: field: …" fragment
    ("unknown top-level key", broken(3, "tittle: Minimal"), "bad.yaml:3: tittle: unknown key"),
    ("kind outside the vocabulary", broken(2, "kind: repair"), "bad.yaml:2: kind: must be one of"),
    (
        "field type unknown",
        broken(6, "  technician: {type: person}"),
        "bad.yaml:6: fields.technician.type: must be one of",
    ),
    (
        "edge not in the lifecycle (bypasses the callback)",
        broken(12, "  signed_off: [closed]"),
        "bad.yaml:12: transitions.signed_off: signed_off → closed is not in the ticket lifecycle",
    ),
    (
        "state name misspelt",
        broken(10, "  acknowledged: [resolvd]"),
        "bad.yaml:10: transitions.acknowledged[0]: 'resolvd' is not a state",
    ),
    (
        "checklist item not a bool field",
        broken(16, "    checklist: [technician]"),
        "bad.yaml:16: steps.resolved.checklist[0]: checklist item 'technician' must be a bool",
    ),
    (
        "required field undeclared",
        broken(16, "    required: [cause]"),
        "bad.yaml:16: steps.resolved.required[0]: 'cause' is not a declared field",
    ),
    (
        "timer target malformed",
        broken(22, "    target: soon"),
        "bad.yaml:22: timers.response.target: 'soon' is not a duration",
    ),
    (
        "timer start unknown state",
        broken(20, "    start: created"),
        "bad.yaml:20: timers.response.start: 'created' is not a state",
    ),
    (
        "service hours other than 7x24",
        broken(4, "service_hours: 5x8"),
        "bad.yaml:4: service_hours: only 7x24 is supported",
    ),
    ("YAML syntax error", broken(7, "  ok: {type: bool"), "bad.yaml:8: yaml:"),
    ("duplicate key", broken(4, "name: again"), "bad.yaml:4: name: appears twice"),
    (
        "closed unreachable",
        broken(13, "  callback_done: []"),
        "bad.yaml:8: transitions: closed is not reachable from new",
    ),
]


@pytest.mark.parametrize(("description", "text", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_templates_name_file_line_and_field(description, text, expected):
    with pytest.raises(WorkflowError) as info:
        parse_template(text, "bad.yaml")
    assert expected in str(info.value), f"{description}: {info.value}"


def test_every_problem_is_reported_at_once():
    text = broken(22, "    target: soon")
    text = text.replace("kind: fault", "kind: repair")
    with pytest.raises(WorkflowError) as info:
        parse_template(text, "bad.yaml")
    assert [p.line for p in info.value.problems] == [2, 22]


def test_rule_and_timer_consistency_checks():
    text = MINIMAL + (
        "  restore:\n"
        "    description: x\n"
        "    start: new\n"
        "    stop: [resolved]\n"
        "    target: 1h\n"
        "    target_days_field: technician\n"
        "    pause: {holds: [lunch]}\n"
    )
    with pytest.raises(WorkflowError) as info:
        parse_template(text, "bad.yaml")
    messages = [str(p) for p in info.value.problems]
    assert any("exactly one of target" in m for m in messages)
    assert any("target_days_field: must name an integer field" in m for m in messages)
    assert any("hold 'lunch' is not declared" in m for m in messages)


# --------------------------------------------------------------------------- timers


def opened(template: WorkflowTemplate = FAULT, priority: Priority = Priority.P3) -> Ticket:
    ticket, _ = open_ticket(
        id="T-7",
        template=template,
        district="xihu",
        priority=priority,
        actor="hotline",
        now=T0,
        lines=("line-1",),
    )
    return ticket


def go(
    ticket: Ticket, state: TicketState, at: datetime, template: WorkflowTemplate = FAULT, **fields
) -> Ticket:
    new, _ = transition(ticket, state, actor="op", now=at, template=template, fields=fields)
    return new


def dispatched(at_minutes: int = 2) -> Ticket:
    ticket = go(opened(), S.ACKNOWLEDGED, T0 + MIN)
    return go(ticket, S.DISPATCHED, T0 + at_minutes * MIN, technician="t-wang")


def due(ticket: Ticket, now: datetime, template: WorkflowTemplate = FAULT) -> dict[str, object]:
    return {b.timer: b for b in timers_due(ticket, template, now)}


def test_on_site_timer_breaches_strictly_after_30_minutes_from_dispatch():
    ticket = dispatched()
    t_dispatch = T0 + 2 * MIN
    deadline = t_dispatch + timedelta(minutes=30)
    assert next_deadline(ticket, FAULT, t_dispatch) == deadline
    assert "on_site" not in due(ticket, deadline - SEC)
    assert "on_site" not in due(ticket, deadline), "arriving at 30:00 is on time"
    breach = due(ticket, deadline + SEC)["on_site"]
    assert breach.deadline == deadline
    assert breach.overdue == SEC
    assert breach.key == f"T-7:on_site:{t_dispatch.isoformat()}"
    assert (breach.priority, breach.district) == (Priority.P3, "xihu")


def test_breach_is_reported_once_after_it_is_recorded():
    ticket = dispatched()
    now = T0 + 40 * MIN
    breach = due(ticket, now)["on_site"]
    marked, event = mark_breached(
        ticket, timer=breach.timer, started_at=breach.started_at, actor="nocd", now=now
    )
    assert event.kind is EventKind.BREACHED and marked.state is S.DISPATCHED
    assert "on_site" not in due(marked, now + MIN)
    assert marked.version == ticket.version + 1


def test_arrival_exactly_at_the_deadline_is_on_time_and_late_arrival_still_reports():
    on_time = go(dispatched(), S.ON_SITE, T0 + 32 * MIN, symptom="x")
    assert "on_site" not in due(on_time, T0 + 5 * timedelta(hours=1))
    late = go(dispatched(), S.ON_SITE, T0 + 47 * MIN, symptom="x")
    breach = due(late, T0 + 60 * MIN)["on_site"]
    assert breach.overdue == 15 * MIN, "overdue is measured at the arrival, not at now"


def test_waiting_for_customer_pauses_the_on_site_timer():
    ticket = dispatched()  # at 09:02; deadline 09:32 unpaused
    ticket, _ = hold(
        ticket,
        "waiting_for_customer",
        actor="t",
        now=T0 + 12 * MIN,
        template=FAULT,
        note="customer asked to come after 09:27",
    )
    paused = {s.timer: s for s in timer_statuses(ticket, FAULT, T0 + 20 * MIN)}["on_site"]
    assert paused.paused and paused.active == 10 * MIN
    assert "on_site" not in due(ticket, T0 + 3 * timedelta(hours=1)), "no breach while paused"
    assert next_deadline(ticket, FAULT, T0 + 20 * MIN) is None, "restore is paused as well"
    ticket, _ = release(ticket, actor="t", now=T0 + 27 * MIN)  # 15 minutes paused
    deadline = T0 + (32 + 15) * MIN
    assert next_deadline(ticket, FAULT, T0 + 27 * MIN) == deadline
    assert "on_site" not in due(ticket, deadline)
    assert due(ticket, deadline + SEC)["on_site"].deadline == deadline


def test_pause_rules_are_per_timer():
    """The response timer of the fault template has no pause rule: a hold does not stop it."""
    ticket = opened(priority=Priority.P3)  # response target P3: 15 min
    ticket, _ = hold(ticket, "waiting_for_customer", actor="op", now=T0 + MIN, template=FAULT)
    assert due(ticket, T0 + 15 * MIN + SEC)["response"].deadline == T0 + 15 * MIN


def test_agreed_appointment_replaces_the_30_minutes():
    ticket = dispatched()
    appointment = T0 + timedelta(hours=3)
    ticket, _ = record(
        ticket,
        actor="t",
        now=T0 + 5 * MIN,
        template=FAULT,
        fields={"appointment_at": appointment.isoformat()},
        note="three repairs queued; customer agreed 12:00",
    )
    status = {s.timer: s for s in timer_statuses(ticket, FAULT, T0 + 40 * MIN)}["on_site"]
    assert status.appointment and status.deadline == appointment
    assert "on_site" not in due(ticket, appointment)
    assert due(ticket, appointment + SEC)["on_site"].deadline == appointment


def test_appointment_agreed_after_the_promise_was_broken_does_not_hide_the_breach():
    ticket = dispatched()
    ticket, _ = record(
        ticket,
        actor="t",
        now=T0 + 40 * MIN,
        template=FAULT,
        fields={"appointment_at": T0 + timedelta(hours=3)},
    )
    assert due(ticket, T0 + 41 * MIN)["on_site"].deadline == T0 + 32 * MIN


def test_redispatch_starts_a_new_on_site_cycle():
    ticket = dispatched()
    ticket = go(ticket, S.ACKNOWLEDGED, T0 + 10 * MIN)  # withdrawn
    ticket = go(ticket, S.DISPATCHED, T0 + 50 * MIN, technician="t-li")
    assert "on_site" not in due(ticket, T0 + 80 * MIN)
    assert due(ticket, T0 + 80 * MIN + SEC)["on_site"].started_at == T0 + 50 * MIN


def test_restore_target_follows_priority_and_pauses_while_taken_back():
    ticket = opened(priority=Priority.P1)  # restore 4 h, response 5 min
    ticket = go(ticket, S.ACKNOWLEDGED, T0 + 4 * MIN)
    ticket = go(ticket, S.DISPATCHED, T0 + 5 * MIN, technician="t")
    ticket = go(ticket, S.ON_SITE, T0 + 30 * MIN, symptom="PC does not boot")
    ticket = go(ticket, S.TAKEN_BACK, T0 + 60 * MIN, repair_cycle_days=2, items_taken="PC")
    # one day later: restore paused since 10:00 (1 h used), repair cycle 2 days running
    now = T0 + timedelta(days=1)
    statuses = {s.timer: s for s in timer_statuses(ticket, FAULT, now)}
    assert statuses["restore"].paused and statuses["restore"].active == 60 * MIN
    assert statuses["repair_cycle"].deadline == T0 + 60 * MIN + timedelta(days=2)
    assert due(ticket, now) == {}
    assert set(due(ticket, T0 + 60 * MIN + timedelta(days=2) + SEC)) == {"repair_cycle"}
    back = go(ticket, S.ON_SITE, T0 + timedelta(days=1, hours=2), symptom="returned")
    # restore runs again from the return: 3 h left
    assert due(back, T0 + timedelta(days=1, hours=5)) == {}
    assert set(due(back, T0 + timedelta(days=1, hours=5) + SEC)) == {"restore"}


def test_priority_override_changes_the_target():
    ticket = opened(priority=Priority.P4)  # response 30 min
    assert "response" not in due(ticket, T0 + 20 * MIN)
    raised, _ = set_priority(ticket, Priority.P2, actor="noc", now=T0 + MIN, reason="school")
    assert due(raised, T0 + 20 * MIN)["response"].deadline == T0 + 10 * MIN


def test_cancelled_ticket_stops_its_timers():
    ticket = go(dispatched(), S.CANCELLED, T0 + 10 * MIN)
    assert due(ticket, T0 + timedelta(days=10)) == {}
    assert next_deadline(ticket, FAULT, T0 + 11 * MIN) is None


def test_fault_callback_timer_runs_from_sign_off():
    ticket = go(opened(), S.ACKNOWLEDGED, T0 + MIN)
    ticket = go(
        ticket,
        S.RESOLVED,
        T0 + 10 * MIN,
        cause="network",
        resolution="port reset",
        service_tested=True,
    )
    ticket = go(ticket, S.SIGNED_OFF, T0 + 20 * MIN, signed_by="phone")
    assert set(due(ticket, T0 + 20 * MIN + timedelta(hours=24) + SEC)) == {"callback"}


def test_installation_within_3_days_and_callback_within_a_week():
    template = TEMPLATES["installation"]
    ticket = opened(template)
    ticket = go(ticket, S.ACKNOWLEDGED, T0 + MIN, template)
    assert due(ticket, T0 + timedelta(days=3), template) == {}
    assert set(due(ticket, T0 + timedelta(days=3) + SEC, template)) == {"completion"}
    ticket = go(ticket, S.DISPATCHED, T0 + timedelta(days=2), template, technician="t")
    ticket = go(ticket, S.ON_SITE, T0 + timedelta(days=2, minutes=20), template)
    done_at = T0 + timedelta(days=2, hours=2)
    ticket = go(
        ticket,
        S.RESOLVED,
        done_at,
        template,
        speed_test_mbps=95.0,
        modem_installed=True,
        line_in_sync=True,
        customer_trained=True,
    )
    ticket = go(ticket, S.SIGNED_OFF, done_at + MIN, template, signed_by="Mr Zhao")
    assert due(ticket, done_at + timedelta(days=7), template) == {}
    assert set(due(ticket, done_at + timedelta(days=7) + SEC, template)) == {"callback"}
    ticket = go(
        ticket, S.CALLBACK_DONE, done_at + timedelta(days=5), template, callback_outcome="satisfied"
    )
    assert due(ticket, done_at + timedelta(days=30), template) == {}


def test_timer_status_before_start_is_absent():
    statuses = {s.timer for s in timer_statuses(opened(), FAULT, T0)}
    assert statuses == {"response", "restore"}
    assert replace(opened(), history=()).history == ()
