"""Attaching lines, tickets and an incident to a ticket: grows only, audited, one incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerting.tickets import EventKind, InvalidFields, Priority, TicketError, attach, open_ticket
from alerting.workflow import load_builtin

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
FAULT = load_builtin()["broadband_fault"]


def _ticket():
    ticket, _ = open_ticket(
        id="t-1", template=FAULT, district="xihu", priority=Priority.P3, actor="hotline", now=T0
    )
    return ticket


def test_attach_should_add_only_new_items_and_record_them_in_the_event():
    ticket, event = attach(
        _ticket(),
        actor="op",
        now=T0 + timedelta(minutes=1),
        lines=("dslam-1/3", "dslam-1/3", "dslam-1/4"),
        incident_key="incident:device_down:device:dslam-1",
    )
    assert ticket.lines == ("dslam-1/3", "dslam-1/4")
    assert ticket.incident_key == "incident:device_down:device:dslam-1"
    assert ticket.version == 2
    assert event.kind is EventKind.UPDATED
    assert event.details == {
        "attached_lines": "dslam-1/3,dslam-1/4",
        "attached_incident": "incident:device_down:device:dslam-1",
    }
    again, event = attach(
        ticket, actor="op", now=T0 + timedelta(minutes=2), lines=("dslam-1/4", "dslam-1/5")
    )
    assert again.lines == ("dslam-1/3", "dslam-1/4", "dslam-1/5")
    assert event.details == {"attached_lines": "dslam-1/5"}


@pytest.mark.parametrize(
    ("kwargs", "description"),
    [
        ({}, "nothing to attach"),
        ({"linked_tickets": ("t-1",)}, "a ticket linked to itself"),
    ],
)
def test_attach_should_refuse(kwargs, description):
    with pytest.raises(InvalidFields):
        attach(_ticket(), actor="op", now=T0, **kwargs)


def test_attach_should_refuse_a_second_incident_and_a_version_conflict():
    ticket, _ = attach(_ticket(), actor="op", now=T0, incident_key="incident:a")
    with pytest.raises(InvalidFields, match="already attached to incident incident:a"):
        attach(ticket, actor="op", now=T0, incident_key="incident:b")
    with pytest.raises(TicketError, match="expected version 1"):
        attach(ticket, actor="op", now=T0, lines=("x/1",), expected_version=1)
