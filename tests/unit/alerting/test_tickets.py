"""Ticket state machine: lifecycle per template, every illegal edge, step guards, audit trail."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerting.tickets import (
    LIFECYCLE,
    EventKind,
    FaultSide,
    IllegalTransition,
    InvalidFields,
    Priority,
    Ticket,
    TicketError,
    TicketKind,
    TicketState,
    VersionConflict,
    hold,
    open_ticket,
    record,
    release,
    transition,
)
from alerting.triage import override_priority
from alerting.workflow import WorkflowTemplate, load_builtin

S = TicketState
T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
TEMPLATES = load_builtin()

# Fields that satisfy each step, per template (a superset is fine: a field is only checked
# against the template's declarations).
FAULT_FIELDS = {
    S.DISPATCHED: {"technician": "t-wang"},
    S.ON_SITE: {"symptom": "no internet, modem DSL light blinking"},
    S.TAKEN_BACK: {"repair_cycle_days": 3, "items_taken": "PC tower"},
    S.RESOLVED: {"cause": "customer_side", "resolution": "modem replaced", "service_tested": True},
    S.SIGNED_OFF: {"signed_by": "Mrs Li"},
    S.CALLBACK_DONE: {"callback_outcome": "satisfied"},
}
INSTALLATION_FIELDS = {
    S.DISPATCHED: {"technician": "t-wang"},
    S.RESOLVED: {
        "speed_test_mbps": 96.5,
        "modem_installed": True,
        "line_in_sync": True,
        "customer_trained": True,
    },
    S.SIGNED_OFF: {"signed_by": "Mr Zhao"},
    S.CALLBACK_DONE: {"callback_outcome": "satisfied"},
}
COMPLAINT_FIELDS = {
    S.DISPATCHED: {"technician": "t-wang"},
    S.ON_SITE: {"symptom": "slow in the evening"},
    S.RESOLVED: {"cause": "network", "resolution": "uplink upgraded"},
    S.SIGNED_OFF: {"signed_by": "phone"},
    S.CALLBACK_DONE: {"callback_outcome": "satisfied"},
}
STEP_FIELDS = {
    "broadband_fault": FAULT_FIELDS,
    "installation": INSTALLATION_FIELDS,
    "complaint": COMPLAINT_FIELDS,
}


def new_ticket(template: WorkflowTemplate, **kwargs) -> Ticket:
    kwargs.setdefault("lines", ("line-1001",))
    ticket, event = open_ticket(
        id="T-1",
        template=template,
        district="xihu",
        priority=Priority.P3,
        actor="hotline:agent-7",
        now=T0,
        **kwargs,
    )
    assert event.kind is EventKind.CREATED
    return ticket


def walk(template: WorkflowTemplate, path: list[TicketState]) -> Ticket:
    ticket = new_ticket(template)
    fields = STEP_FIELDS[template.name]
    for minute, state in enumerate(path, start=1):
        ticket, _ = transition(
            ticket,
            state,
            actor="op",
            now=T0 + timedelta(minutes=minute),
            template=template,
            fields=fields.get(state, {}),
        )
    return ticket


LIFECYCLES = [
    # description, template, path
    (
        "fault repaired on site",
        "broadband_fault",
        [
            S.ACKNOWLEDGED,
            S.DISPATCHED,
            S.ON_SITE,
            S.RESOLVED,
            S.SIGNED_OFF,
            S.CALLBACK_DONE,
            S.CLOSED,
        ],
    ),
    (
        "fault taken back, returned and resolved on site",
        "broadband_fault",
        [
            S.ACKNOWLEDGED,
            S.DISPATCHED,
            S.ON_SITE,
            S.TAKEN_BACK,
            S.ON_SITE,
            S.RESOLVED,
            S.SIGNED_OFF,
            S.CALLBACK_DONE,
            S.CLOSED,
        ],
    ),
    (
        "fault fixed remotely from the NOC",
        "broadband_fault",
        [S.ACKNOWLEDGED, S.RESOLVED, S.SIGNED_OFF, S.CALLBACK_DONE, S.CLOSED],
    ),
    (
        "fault reopened after the callback, then closed",
        "broadband_fault",
        [
            S.ACKNOWLEDGED,
            S.RESOLVED,
            S.SIGNED_OFF,
            S.CALLBACK_DONE,
            S.ACKNOWLEDGED,
            S.DISPATCHED,
            S.ON_SITE,
            S.RESOLVED,
            S.SIGNED_OFF,
            S.CALLBACK_DONE,
            S.CLOSED,
        ],
    ),
    ("fault cancelled (duplicate)", "broadband_fault", [S.ACKNOWLEDGED, S.CANCELLED]),
    (
        "installation completed",
        "installation",
        [
            S.ACKNOWLEDGED,
            S.DISPATCHED,
            S.ON_SITE,
            S.RESOLVED,
            S.SIGNED_OFF,
            S.CALLBACK_DONE,
            S.CLOSED,
        ],
    ),
    (
        "complaint handled by phone",
        "complaint",
        [S.ACKNOWLEDGED, S.RESOLVED, S.SIGNED_OFF, S.CALLBACK_DONE, S.CLOSED],
    ),
    (
        "complaint with a visit",
        "complaint",
        [
            S.ACKNOWLEDGED,
            S.DISPATCHED,
            S.ON_SITE,
            S.RESOLVED,
            S.SIGNED_OFF,
            S.CALLBACK_DONE,
            S.CLOSED,
        ],
    ),
]


@pytest.mark.parametrize(
    ("description", "name", "path"), LIFECYCLES, ids=[c[0] for c in LIFECYCLES]
)
def test_whole_lifecycle_records_one_event_per_change(description, name, path):
    template = TEMPLATES[name]
    ticket = walk(template, path)
    assert ticket.state is path[-1], description
    assert ticket.version == len(path) + 1, description
    assert [e.kind for e in ticket.history] == [EventKind.CREATED] + [EventKind.TRANSITIONED] * len(
        path
    )
    assert [e.state for e in ticket.history[1:]] == path
    assert [e.version for e in ticket.history] == list(range(1, len(path) + 2))
    assert all(e.actor for e in ticket.history)
    assert ticket.updated_at == T0 + timedelta(minutes=len(path))


def all_pairs():
    for name, template in sorted(TEMPLATES.items()):
        for source, target in itertools.product(TicketState, TicketState):
            legal = target in template.allowed(source)
            yield pytest.param(name, source, target, legal, id=f"{name}:{source}->{target}")


@pytest.mark.parametrize(("name", "source", "target", "legal"), list(all_pairs()))
def test_every_state_pair_is_allowed_exactly_when_the_template_says(name, source, target, legal):
    template = TEMPLATES[name]
    ticket = replace(new_ticket(template), state=source)
    fields = STEP_FIELDS[name]
    merged = {k: v for step in fields.values() for k, v in step.items()}
    # closing needs a satisfied callback on record; give every pair everything it could need
    ticket = replace(ticket, fields=merged)
    if legal:
        new, event = transition(ticket, target, actor="op", now=T0, template=template)
        assert new.state is target
        assert event.from_state is source
        assert target in LIFECYCLE[source], "templates only narrow the lifecycle"
    else:
        with pytest.raises(IllegalTransition) as info:
            transition(ticket, target, actor="op", now=T0, template=template)
        allowed = template.allowed(source)
        assert set(info.value.allowed) == set(allowed)
        message = str(info.value)
        assert f"from {source} to {target}" in message
        for state in allowed:
            assert state in message
        if not allowed:
            assert "none (terminal state)" in message


def test_unknown_target_is_an_illegal_transition_listing_the_allowed():
    template = TEMPLATES["broadband_fault"]
    with pytest.raises(IllegalTransition, match="allowed: acknowledged, cancelled"):
        transition(new_ticket(template), "fixed", actor="op", now=T0, template=template)


def at_state(name: str, state: TicketState, **fields) -> Ticket:
    template = TEMPLATES[name]
    return replace(new_ticket(template), state=state, fields=fields)


def test_closing_without_callback_is_refused_in_every_template():
    for name, template in TEMPLATES.items():
        ticket = at_state(name, S.SIGNED_OFF, signed_by="x")
        with pytest.raises(IllegalTransition, match="allowed: callback_done"):
            transition(ticket, S.CLOSED, actor="op", now=T0, template=template)


def test_closing_after_a_not_fixed_callback_is_refused():
    template = TEMPLATES["broadband_fault"]
    ticket = at_state("broadband_fault", S.CALLBACK_DONE, callback_outcome="not_fixed")
    with pytest.raises(InvalidFields, match="reopen"):
        transition(ticket, S.CLOSED, actor="op", now=T0, template=template)
    reopened, _ = transition(ticket, S.ACKNOWLEDGED, actor="op", now=T0, template=template)
    assert reopened.state is S.ACKNOWLEDGED


RESOLVE_GUARDS = [
    # description, fields at resolution, refused (substring) or None
    ("free repair with cause and test", {}, None),
    ("paid work without quote or consent", {"paid_work": True}, "quote_amount, customer_consent"),
    (
        "paid work with a quote but no consent",
        {"paid_work": True, "quote_amount": 80},
        "missing: customer_consent",
    ),
    (
        "paid work with a quote the customer refused",
        {"paid_work": True, "quote_amount": 80, "customer_consent": False},
        "missing: customer_consent",
    ),
    (
        "paid work quoted and agreed",
        {"paid_work": True, "quote_amount": 80, "customer_consent": True},
        None,
    ),
    ("reinstall without backup", {"os_reinstall": True}, "data backup"),
    (
        "reinstall with backup unconfirmed",
        {"os_reinstall": True, "data_backup_confirmed": False},
        "missing: data_backup_confirmed",
    ),
    (
        "reinstall with backup confirmed",
        {"os_reinstall": True, "data_backup_confirmed": True},
        None,
    ),
    ("not tested", {"service_tested": False}, "service_tested: checklist"),
    ("no cause", {"cause": None}, "cause"),
    ("cause outside the vocabulary", {"cause": "weather"}, "cause: must be one of"),
]


@pytest.mark.parametrize(
    ("description", "extra", "refused"), RESOLVE_GUARDS, ids=[c[0] for c in RESOLVE_GUARDS]
)
def test_resolution_guards(description, extra, refused):
    template = TEMPLATES["broadband_fault"]
    fields = {**FAULT_FIELDS[S.RESOLVED], **extra}
    fields = {k: v for k, v in fields.items() if v is not None}
    ticket = at_state("broadband_fault", S.ON_SITE, symptom="x")
    if refused is None:
        new, event = transition(
            ticket, S.RESOLVED, actor="t", now=T0, template=template, fields=fields
        )
        assert new.state is S.RESOLVED, description
        assert dict(event.fields) == fields
    else:
        with pytest.raises(InvalidFields, match=refused):
            transition(ticket, S.RESOLVED, actor="t", now=T0, template=template, fields=fields)


def test_consent_recorded_earlier_counts_at_resolution():
    template = TEMPLATES["broadband_fault"]
    ticket = at_state("broadband_fault", S.ON_SITE, symptom="x")
    ticket, event = record(
        ticket,
        actor="t-wang",
        now=T0,
        template=template,
        fields={"paid_work": True, "quote_amount": 120.0, "customer_consent": True},
        note="quoted 120 for a new power supply; customer agreed",
    )
    assert event.kind is EventKind.UPDATED and event.state is S.ON_SITE
    resolved, _ = transition(
        ticket,
        S.RESOLVED,
        actor="t-wang",
        now=T0,
        template=template,
        fields=FAULT_FIELDS[S.RESOLVED],
    )
    assert resolved.fields["quote_amount"] == 120.0


def test_taking_back_needs_the_promised_repair_cycle():
    template = TEMPLATES["broadband_fault"]
    ticket = at_state("broadband_fault", S.ON_SITE, symptom="x")
    with pytest.raises(InvalidFields, match="repair_cycle_days: required"):
        transition(
            ticket,
            S.TAKEN_BACK,
            actor="t",
            now=T0,
            template=template,
            fields={"items_taken": "laptop"},
        )
    with pytest.raises(InvalidFields, match="at least 1"):
        transition(
            ticket,
            S.TAKEN_BACK,
            actor="t",
            now=T0,
            template=template,
            fields={"items_taken": "laptop", "repair_cycle_days": 0},
        )
    taken, _ = transition(
        ticket,
        S.TAKEN_BACK,
        actor="t",
        now=T0,
        template=template,
        fields={"items_taken": "laptop", "repair_cycle_days": 3},
    )
    assert taken.fields["repair_cycle_days"] == 3
    assert template.allowed(S.TAKEN_BACK) == {S.ON_SITE, S.RESOLVED}


def test_unknown_and_ill_typed_fields_are_refused():
    template = TEMPLATES["broadband_fault"]
    ticket = new_ticket(template)
    with pytest.raises(InvalidFields) as info:
        record(
            ticket,
            actor="op",
            now=T0,
            template=template,
            fields={"colour": "red", "quote_amount": "cheap", "appointment_at": "tomorrow"},
        )
    assert len(info.value.problems) == 3
    with pytest.raises(InvalidFields, match="nothing to record"):
        record(ticket, actor="op", now=T0, template=template, fields={})


def test_complaint_must_be_linked():
    template = TEMPLATES["complaint"]
    with pytest.raises(InvalidFields, match="linked"):
        new_ticket(template, lines=())
    linked = new_ticket(template, lines=(), linked_tickets=("T-0",))
    assert linked.kind is TicketKind.COMPLAINT


def test_version_conflict_and_time_going_backwards_are_refused():
    template = TEMPLATES["broadband_fault"]
    ticket = new_ticket(template)
    acknowledged, _ = transition(
        ticket, S.ACKNOWLEDGED, actor="a", now=T0, template=template, expected_version=1
    )
    assert acknowledged.version == 2
    with pytest.raises(VersionConflict) as info:
        transition(
            acknowledged, S.CANCELLED, actor="b", now=T0, template=template, expected_version=1
        )
    assert (info.value.expected, info.value.actual) == (1, 2)
    with pytest.raises(TicketError, match="before its last change"):
        transition(
            acknowledged, S.CANCELLED, actor="b", now=T0 - timedelta(seconds=1), template=template
        )
    with pytest.raises(TicketError, match="timezone-aware"):
        transition(
            acknowledged, S.CANCELLED, actor="b", now=datetime(2024, 5, 6, 10), template=template
        )


def test_template_of_another_ticket_is_refused():
    ticket = new_ticket(TEMPLATES["broadband_fault"])
    with pytest.raises(TicketError, match="follows template broadband_fault"):
        transition(ticket, S.ACKNOWLEDGED, actor="a", now=T0, template=TEMPLATES["complaint"])


def test_holds_are_events_and_a_state_change_ends_them():
    template = TEMPLATES["broadband_fault"]
    ticket = walk(template, [S.ACKNOWLEDGED, S.DISPATCHED])
    now = ticket.updated_at
    with pytest.raises(InvalidFields, match="not declared"):
        hold(ticket, "lunch", actor="t", now=now, template=template)
    held, event = hold(
        ticket, "waiting_for_customer", actor="t", now=now, template=template, note="nobody at home"
    )
    assert (event.kind, event.hold, held.hold) == (
        EventKind.HELD,
        "waiting_for_customer",
        "waiting_for_customer",
    )
    with pytest.raises(TicketError, match="already held"):
        hold(held, "waiting_for_customer", actor="t", now=now, template=template)
    released, event = release(held, actor="t", now=now)
    assert released.hold is None and event.kind is EventKind.RELEASED
    with pytest.raises(TicketError, match="not held"):
        release(released, actor="t", now=now)
    held_again, _ = hold(released, "waiting_for_customer", actor="t", now=now, template=template)
    arrived, event = transition(
        held_again, S.ON_SITE, actor="t", now=now, template=template, fields=FAULT_FIELDS[S.ON_SITE]
    )
    assert arrived.hold is None and event.hold is None


def test_priority_override_needs_a_reason_and_is_audited():
    template = TEMPLATES["broadband_fault"]
    ticket = new_ticket(template, side=FaultSide.NETWORK)
    with pytest.raises(InvalidFields, match="reason"):
        override_priority(ticket, Priority.P1, actor="noc:zhang", now=T0, reason="  ")
    raised, event = override_priority(
        ticket, Priority.P1, actor="noc:zhang", now=T0, reason="hospital on this line"
    )
    assert raised.priority is Priority.P1 and raised.version == 2
    assert event.kind is EventKind.PRIORITY_SET
    assert event.note == "hospital on this line"
    assert event.details["previous_priority"] == "P3"
    assert "previous_priority" not in raised.fields


def test_nothing_changes_a_closed_ticket():
    template = TEMPLATES["broadband_fault"]
    closed = walk(template, LIFECYCLES[0][2])
    with pytest.raises(TicketError):
        record(
            closed, actor="op", now=closed.updated_at, template=template, fields={"symptom": "x"}
        )
    with pytest.raises(TicketError):
        override_priority(closed, Priority.P1, actor="op", now=closed.updated_at, reason="x")
    with pytest.raises(TicketError):
        hold(closed, "waiting_for_customer", actor="op", now=closed.updated_at, template=template)
