"""The KPI-fed built-in rules against storage: port error ratio, line stability, SLA status,
and a table that proves every built-in rule has a feed.

Rows are written the way their owners write them (``poll_repo.store_poll`` for samples,
``kpi_repo.save_line_kpis`` / ``save_period`` for the KPI service's results,
``rollup_repo.run_rollups`` for the 5-minute rollups, ``outbox_repo.enqueue`` for the district
outbox); the alerting service is the real one on SQLite and PostgreSQL, with a driven clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from alerting.model import Severity
from alerting.rules import DEFAULT_RULES
from nocd.config import DaemonSettings, Role
from nocd.storage import db, kpi_repo, outbox_repo, rollup_repo
from nocd.storage.models import Device, Line
from nocd.storage.outbox_repo import OutboxLimits
from tests.fixtures.alerting import LINE_BASE, T0, StoredNetwork

pytestmark = pytest.mark.integration

Values = list[tuple[str, str, float]]

# Every built-in rule and the stored rows that feed it (docs/alerting.md, "Observation
# sources"). A new entry in DEFAULT_RULES fails test_every_builtin_rule_fires_from_storage
# until it has a feed in nocd/alerting_service.py and a row here.
FEEDS: dict[str, str] = {
    "device_down": "device_status verdicts (poll_repo.record_state)",
    "uplink_port_down": "samples oper_up of an is_uplink port",
    "uplink_utilisation": "samples in/out_utilisation_ratio of an is_uplink port",
    "snr_margin_low": "samples snr_margin_down_db of a line",
    "line_unstable": "line_kpis.stability (KPI service)",
    "dslam_retrain_storm": "samples inits_total (VDSL2: curr15_inits) of a DSLAM's lines, "
    "between two polls",
    "dslam_wide_area_event": "5-minute rollups of inits_total/es_total, kpi.dsl_line bins",
    "port_error_ratio": "samples in_errors / in_discards / in_ucast_pps of a port",
    "sla_status": "sla_results of the newest period (KPI service)",
    "district_silent": "no poll stored from the district for district_silent_after_s",
    "outbox_backlog": "the district's outbox (oldest unsent item)",
}


def port_traffic(ifindex: int, *, pps: float, errors: float, discards: float = 0.0) -> Values:
    """One interface's rate samples as ``collectors.measurements`` stores them."""
    entity = f"if:{ifindex}"
    return [
        (entity, "in_ucast_pps", pps),
        (entity, "out_ucast_pps", pps),
        (entity, "in_errors", errors),
        (entity, "out_errors", 0.0),
        (entity, "in_discards", discards),
        (entity, "out_discards", 0.0),
    ]


def _line_ids(net: StoredNetwork) -> dict[tuple[str, int], int]:
    with db.session_factory(net.engine)() as session:
        rows = session.execute(
            select(Device.name, Line.ifindex, Line.id).join(Device, Device.id == Line.device_id)
        )
        return {(name, ifindex): line_id for name, ifindex, line_id in rows}


def store_stability(net: StoredNetwork, t: float, classes: dict[tuple[str, int], str]) -> None:
    """What the KPI service stores after a computation: every line's class (default stable)."""
    ids = _line_ids(net)
    frame = pd.DataFrame(
        {
            "line_id": list(ids.values()),
            "stability": [classes.get(key, "stable") for key in ids],
            "excluded_bins": 0,
        }
    )
    with db.session_factory(net.engine)() as session:
        kpi_repo.save_line_kpis(session, frame, computed_at=net.at(t))
        session.commit()


def _sla_row(target: str, district: str, status: str, *, end: int, until: int) -> dict[str, Any]:
    return {
        "target": target,
        "district": district,
        "kqi": "line_availability_ratio",
        "sla_class": "business",
        "scope": "external",
        "objective": 0.999,
        "period_end": end,
        "evaluated_until": until,
        "entities": 10,
        "sli": {"met": 0.9995, "at_risk": 0.9991, "breached": 0.99}[status],
        "up_s": 1,
        "down_s": 0,
        "unknown_s": 0,
        "maintenance_s": 0,
        "excluded_s": 0,
        "scheduled_s": 1,
        "error_budget_total": 1.0,
        "error_budget_used": 0.5,
        "error_budget_remaining": 0.5,
        "error_budget_remaining_ratio": 0.5,
        "burn_rate": 1.0,
        "status": status,
    }


def store_sla(net: StoredNetwork, t: float, rows: list[tuple[str, str, str]]) -> None:
    """A period computed by the KPI service: ``(target, district, status)`` rows."""
    start = net.at(-86_400)
    end = start + 30 * 86_400
    frame = pd.DataFrame(
        [_sla_row(target, d, status, end=end, until=net.at(t)) for target, d, status in rows]
    )
    with db.session_factory(net.engine)() as session:
        kpi_repo.save_period(
            session,
            start=start,
            end=end,
            evaluated_until=net.at(t),
            computed_at=net.at(t),
            kqis=pd.DataFrame(),
            slas=frame,
        )
        session.commit()


@pytest.fixture
async def net(fresh_db_url: str) -> AsyncIterator[StoredNetwork]:
    network = await StoredNetwork.create(fresh_db_url, dslams=1, lines=12)
    yield network
    await network.close()


async def test_port_error_ratio_fires_after_its_for_duration_and_clears_below_clear(
    net: StoredNetwork,
) -> None:
    """if:5 carries 1000 pkt/s with 120 errors per 60 s poll: 120 / (60 000 + 120) = 0.0020,
    above the warning 0.001 and below the major 0.01. if:6 has the same errors on 10 pkt/s
    (600 packets a poll): too few packets to judge, never observed."""
    key = "port_error_ratio:port:agg-1/if:5"
    busy = port_traffic(5, pps=1000, errors=120) + port_traffic(6, pps=10, errors=120)
    for t in range(0, 901, 60):
        net.poll(t, up=["agg-1"], values={"agg-1": busy})
        await net.cycle(t + 5)
    # First ratio at 60 s (0 s has no previous sample): 65 + 840 s < 15 min, still pending.
    assert key not in net.service.open_alerts
    net.poll(960, up=["agg-1"], values={"agg-1": busy})
    await net.cycle(965)
    alert = net.service.open_alerts[key]
    assert alert.severity is Severity.WARNING
    assert alert.values["port_in_error_ratio"] == pytest.approx(120 / 60_120)
    assert "port_error_ratio:port:agg-1/if:6" not in net.service.open_alerts
    # 40 errors: 0.00067 is below the threshold but above clear (0.0005): hysteresis holds.
    net.poll(1020, up=["agg-1"], values={"agg-1": port_traffic(5, pps=1000, errors=40)})
    await net.cycle(1025)
    assert key in net.service.open_alerts
    net.poll(1080, up=["agg-1"], values={"agg-1": port_traffic(5, pps=1000, errors=20)})
    await net.cycle(1085)
    assert key not in net.service.open_alerts
    stored = await net.get("/api/v1/alerts?rule=port_error_ratio")
    assert [(a["key"], a["status"]) for a in stored["items"]] == [(key, "resolved")]


async def test_unstable_line_fires_from_line_kpis_and_keeps_its_sample_values(
    net: StoredNetwork,
) -> None:
    """Line 1003 is classed unstable by the KPI service and also has a low SNR margin: the
    stability class joins that line's sample observation, so the SNR rule's 15 min still run."""
    unstable = "line_unstable:line:dslam-1/line:1003"
    snr = "snr_margin_low:line:dslam-1/line:1003"
    low_snr = {"dslam-1": [(f"line:{LINE_BASE + 3}", "snr_margin_down_db", 2.0)]}
    store_stability(net, 0, {("dslam-1", LINE_BASE + 3): "unstable"})
    net.poll(0, up=["agg-1", "dslam-1"], values=low_snr)
    await net.cycle(5)
    alert = net.service.open_alerts[unstable]
    assert alert.severity is Severity.MINOR
    assert alert.values == {"dsl_stability_class": "unstable"}
    assert [k for k in net.service.open_alerts if k.startswith("line_unstable:")] == [unstable]
    for t in range(60, 961, 60):
        net.poll(t, up=["agg-1", "dslam-1"], values=low_snr)
        await net.cycle(t + 5)
    assert snr in net.service.open_alerts
    assert unstable in net.service.open_alerts  # no new computation: the class holds
    # The next computation finds it stable again.
    store_stability(net, 1000, {})
    await net.cycle(1005)
    assert unstable not in net.service.open_alerts
    assert snr in net.service.open_alerts


async def test_snr_margin_of_a_line_out_of_showtime_is_not_judged(net: StoredNetwork) -> None:
    """Line 1004's modem is off: the DSLAM reports it down with a margin of 0 dB. That is no
    data, not an SNR collapse; line 1003, in showtime at 2 dB, is a real low margin."""
    off, low = LINE_BASE + 4, LINE_BASE + 3
    values = {
        "dslam-1": [
            (f"if:{off}", "oper_up", 0.0),
            (f"line:{off}", "snr_margin_down_db", 0.0),
            (f"if:{low}", "oper_up", 1.0),
            (f"line:{low}", "snr_margin_down_db", 2.0),
        ]
    }
    for t in range(0, 1021, 60):
        net.poll(t, up=["agg-1", "dslam-1"], values=values)
        await net.cycle(t + 5)
    assert f"snr_margin_low:line:dslam-1/line:{low}" in net.service.open_alerts
    assert f"snr_margin_low:line:dslam-1/line:{off}" not in net.service.open_alerts
    # The modem comes back in showtime with a low margin: now it is judged.
    values["dslam-1"][:2] = [
        (f"if:{off}", "oper_up", 1.0),
        (f"line:{off}", "snr_margin_down_db", 1.5),
    ]
    for t in range(1080, 2101, 60):
        net.poll(t, up=["agg-1", "dslam-1"], values=values)
        await net.cycle(t + 5)
    assert f"snr_margin_low:line:dslam-1/line:{off}" in net.service.open_alerts


async def test_a_failed_cycle_does_not_consume_the_samples_it_read(net: StoredNetwork) -> None:
    """A cycle that fails at its commit (e.g. SQLite "database is locked") rolls back; the
    samples it read are observed again by the next cycle, not skipped."""
    line = LINE_BASE + 3
    key = f"line_down:line:dslam-1/line:{line}"
    for t in range(0, 301, 60):
        net.poll(t, up=["agg-1", "dslam-1"], values={"dslam-1": [(f"if:{line}", "oper_up", 1.0)]})
        await net.cycle(t + 5)
    # The only sample that says the line is down; no poll comes after it.
    net.poll(360, up=["agg-1", "dslam-1"], values={"dslam-1": [(f"if:{line}", "oper_up", 0.0)]})
    writes = net.service.write_sessions or net.service.sessions

    def failing() -> Session:
        session = writes()

        def commit() -> None:
            raise OperationalError("COMMIT", {}, Exception("database is locked"))

        session.commit = commit  # type: ignore[method-assign]
        return session

    net.service.write_sessions = failing
    net.now = T0 + timedelta(seconds=365)
    assert await net.service.run_cycle() is None  # failed, logged, retried next cycle
    net.service.write_sessions = writes
    await net.cycle(375)  # observes the down sample again: the rule's 1 minute starts
    await net.cycle(435)
    assert key in net.service.open_alerts


async def test_sla_targets_at_risk_and_breached_fire_with_their_severities(
    net: StoredNetwork,
) -> None:
    store_sla(
        net,
        0,
        [
            ("business-availability", "*", "breached"),
            ("residential-availability-internal", "d1", "at_risk"),
            ("enterprise-availability", "*", "met"),
        ],
    )
    await net.cycle(5)
    sla = {k: a for k, a in net.service.open_alerts.items() if a.rule == "sla_status"}
    assert {k: a.severity for k, a in sla.items()} == {
        "sla_status:sla:business-availability": Severity.CRITICAL,
        "sla_status:sla:residential-availability-internal/d1": Severity.WARNING,
    }
    breached = sla["sla_status:sla:business-availability"]
    assert breached.labels["target"] == "business-availability"
    assert breached.annotations["summary"] == "SLA business-availability is breached"
    assert sla["sla_status:sla:residential-availability-internal/d1"].district == "d1"
    # Recomputed: both met now.
    store_sla(
        net,
        900,
        [
            ("business-availability", "*", "met"),
            ("residential-availability-internal", "d1", "met"),
        ],
    )
    await net.cycle(905)
    assert not [a for a in net.service.open_alerts.values() if a.rule == "sla_status"]


async def test_every_builtin_rule_fires_from_storage(fresh_db_url: str) -> None:
    """One network where every built-in rule's condition is stored; 20 minutes of cycles.

    d1: agg-1 (uplinks if:1 down, if:2 at 97 %; if:5 with 0.2 % errors), dslam-1 with 12
    customer lines (1001 at 2 dB SNR; 1003 classed unstable; 4 lines retrain at 600 s, a
    third of them: a storm and, in the 15-min bin [0, 900), a wide-area event), sw-3 down,
    an SLA breached, an outbox item an hour old (this process is d1's district process).
    d2: sw-9, never polled after 0 s (silent).
    """
    assert set(FEEDS) == {rule.name for rule in DEFAULT_RULES}, (
        "every built-in rule needs a feed in nocd/alerting_service.py and a row in FEEDS"
    )
    net = await StoredNetwork.create(
        fresh_db_url,
        dslams=1,
        lines=12,
        extra=[
            {"name": "sw-3", "district": "d1", "kind": "access_switch", "parent": "agg-1"},
            {"name": "sw-9", "district": "d2", "kind": "access_switch"},
        ],
        alerting={"district_silent_after_s": 120},
        uplink_ports=[("agg-1", 1), ("agg-1", 2)],
    )
    try:
        daemon = DaemonSettings(role=Role.DISTRICT, district="d1")
        net.service.settings = net.service.settings.model_copy(update={"daemon": daemon})
        with db.session_factory(net.engine)() as session:
            outbox_repo.enqueue(
                session,
                district="d1",
                kind="poll",
                payload="{}",
                at=net.at(-3600),
                limits=OutboxLimits(quota_items=1000, quota_bytes=1 << 20),
            )
            session.commit()
        store_stability(net, 0, {("dslam-1", LINE_BASE + 3): "unstable"})
        store_sla(net, 0, [("business-availability", "*", "breached")])
        retrained = {LINE_BASE + j for j in range(4)}

        agg: Values = [
            ("if:1", "oper_up", 0.0),
            ("if:2", "oper_up", 1.0),
            ("if:2", "in_utilisation_ratio", 0.97),
            *port_traffic(5, pps=1000, errors=120),
        ]

        def dslam(t: int) -> Values:
            values: Values = [(f"line:{LINE_BASE + 1}", "snr_margin_down_db", 2.0)]
            for j in range(12):
                inits = 1.0 if t >= 600 and LINE_BASE + j in retrained else 0.0
                values += [
                    (f"line:{LINE_BASE + j}", "inits_total", inits),
                    (f"line:{LINE_BASE + j}", "es_total", 0.0),
                ]
            return values

        net.poll(0, up=["sw-9"])
        for t in range(0, 1201, 60):
            values = {"agg-1": agg, "dslam-1": dslam(t)}
            net.poll(t, up=["agg-1", "dslam-1"], down=["sw-3"], values=values)
            if t == 1200:
                with db.session_factory(net.engine)() as session:
                    rollup_repo.run_rollups(session, now=net.at(t))
                    session.commit()
            await net.cycle(t + 5)

        stored = await net.get("/api/v1/alerts?limit=1000")
        fired = {a["rule"] for a in stored["items"]}
        missing = [f"{name} (fed by {FEEDS[name]})" for name in FEEDS if name not in fired]
        assert not missing, f"built-in rules that never fired: {missing}"
    finally:
        await net.close()


def test_feeds_table_names_only_builtin_rules() -> None:
    """The table above cannot go stale in the other direction either."""
    names = [rule.name for rule in DEFAULT_RULES]
    assert sorted(FEEDS) == sorted(names)
    assert len(names) == len(set(names))
