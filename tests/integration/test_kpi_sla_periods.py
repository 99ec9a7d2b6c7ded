"""SLA targets with their own reporting period / time zone, through storage, service and API.

Global periods: calendar months in Asia/Shanghai (the defaults). Extra targets on line
availability of the enterprise class, each with its own period:

* ``ent-utc`` — month in UTC, objective 0.998;
* ``ent-week`` — week (Monday) in Asia/Shanghai, objective 0.99;
* ``ent-day`` — day in Asia/Shanghai, objective 0.9.

dslam-1 (xihu; its enterprise line L1 is the only enterprise line of xihu) is down
2026-10-31 23:00 → 2026-11-01 01:00 UTC (7 200 s) = 07:00 → 09:00 on 1 November in
Shanghai. In UTC the outage straddles the month boundary; in Shanghai it does not.
Hand-worked values in the test docstring. SQLite and PostgreSQL (``fresh_db_url``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from kpi.sla import PeriodKind, ReportingPeriod
from nocd.app import create_app
from nocd.config import Settings
from nocd.kpi_config import SlaTargetConfig
from nocd.kpi_service import KpiService
from nocd.storage import db, kpi_repo, poll_repo, sla_period_repo
from nocd.storage.ingest import ingest_samples
from nocd.storage.tokens import TokenRole, create_token
from tests.integration.test_kpi_storage import samples, stock

pytestmark = pytest.mark.integration


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


DOWN, UP = utc(2026, 10, 31, 23), utc(2026, 11, 1, 1)
UTC_OCT, UTC_NOV = utc(2026, 10, 1), utc(2026, 11, 1)
SH_NOV = utc(2026, 10, 31, 16)  # 2026-11-01 00:00 +08: the global month and ent-day's day
SH_WEEK = utc(2026, 10, 25, 16)  # Monday 2026-10-26 00:00 +08
NOW1 = utc(2026, 10, 31, 20)  # 2026-11-01 04:00 +08, before the outage
NOW2 = utc(2026, 11, 2)  # 2026-11-02 08:00 +08

MONTH_UTC = ReportingPeriod(kind=PeriodKind.MONTH, time_zone="UTC")
WEEK_SH = ReportingPeriod(kind=PeriodKind.WEEK, time_zone="Asia/Shanghai")
DAY_SH = ReportingPeriod(kind=PeriodKind.DAY, time_zone="Asia/Shanghai")


def settings_with_own_periods(url: str) -> Settings:
    base = Settings.model_validate({"storage": {"url": url}})
    own = [
        SlaTargetConfig.model_validate(
            {
                "name": name,
                "kqi": "line_availability_ratio",
                "sla_class": "enterprise",
                "scope": "external",
                "objective": objective,
                **extra,
            }
        )
        for name, objective, extra in (
            ("ent-utc", 0.998, {"period": "month", "timezone": "UTC"}),
            ("ent-week", 0.99, {"period": "week"}),
            ("ent-day", 0.9, {"period": "day", "timezone": "Asia/Shanghai"}),
        )
    ]
    sla = base.sla.model_copy(update={"targets": [*base.sla.targets, *own]})
    return base.model_copy(update={"sla": sla})


async def test_targets_with_own_periods_are_stored_dirtied_and_served_apart(
    fresh_db_url: str,
) -> None:
    """xihu, enterprise (L1 alone), after the late sample and the second computation:

    ========================  =========  ==============  ==========  ======  =========
    period                    evaluated  scheduled s     down s      budget  status
    ========================  =========  ==============  ==========  ======  =========
    ent-utc Oct (UTC)         closed     31 d 2 678 400  3 600       5356.8  met
    ent-utc Nov (UTC)         to NOW2    1 d     86 400  3 600       5184    at_risk
    ent-week Oct 26 (+08)     closed     7 d    604 800  7 200       6048    breached
    ent-day Nov 1 (+08)       closed     1 d     86 400  7 200       8640    met
    enterprise-availability   to NOW2    115 200 s       7 200       2592    breached
      (global, Shanghai Nov)
    ========================  =========  ==============  ==========  ======  =========

    ent-utc November: burn (3 600 / 86 400) / 0.002 = 20.8 > 1 → at_risk (not breached:
    the whole month's budget is 0.002 × 2 592 000 = 5 184 s). The late sample at
    2026-10-31 18:00 UTC lies in UTC October but in Shanghai's November: it dirties the
    UTC October period, the Shanghai week, the Shanghai day of 1 November and the global
    Shanghai November — never a UTC November.
    """
    engine = db.make_engine(fresh_db_url)
    sessions = db.session_factory(engine)
    settings = settings_with_own_periods(fresh_db_url)
    service = KpiService(settings=settings, sessions=sessions)
    try:
        with sessions() as session:
            ids = stock(session)
            poll_repo.record_state(session, device="dslam-1", state="up", at=utc(2026, 9, 30))
            poll_repo.record_state(session, device="dslam-1", state="down", at=DOWN)
            poll_repo.record_state(session, device="dslam-1", state="up", at=UP)
            ingest_samples(
                session,
                samples(ids["dslam-1"], "line:1", "snr_margin_down_db", [NOW1 - 3600], [9.0]),
            )
            session.commit()
        service.rollup_sync(NOW1)
        service.compute_sync(NOW1)
        with sessions() as session:
            # the global month and ent-day's day start at the same instant: stored apart
            assert kpi_repo.period_of(session, SH_NOV) is not None
            day = sla_period_repo.period_of(session, DAY_SH, SH_NOV)
            assert day is not None and day.end == SH_NOV + 86_400
            assert sla_period_repo.period_of(session, MONTH_UTC, UTC_OCT) is not None
            ingest_samples(  # late: before the rollup watermark
                session,
                samples(ids["dslam-1"], "line:1", "snr_margin_down_db", [NOW1 - 7200], [8.0]),
            )
            session.commit()
        service.rollup_sync(NOW1 + 600)
        with sessions() as session:
            assert [p.start for p in kpi_repo.dirty_periods(session)] == [SH_NOV]
            dirty = {
                r.kind: [p.start for p in sla_period_repo.dirty_periods(session, r)]
                for r in (MONTH_UTC, WEEK_SH, DAY_SH)
            }
            assert dirty == {"month": [UTC_OCT], "week": [SH_WEEK], "day": [SH_NOV]}

        service.compute_sync(NOW2)
        latest = {(r.target, r.district): r for r in service.latest.slas}

        with sessions() as session:
            got = {
                (name, start): sla_period_repo.query_sla(
                    session, reporting, period_start=start, district="xihu", target=name
                )
                for name, reporting, start in (
                    ("ent-utc", MONTH_UTC, UTC_OCT),
                    ("ent-utc", MONTH_UTC, UTC_NOV),
                    ("ent-week", WEEK_SH, SH_WEEK),
                    ("ent-day", DAY_SH, SH_NOV),
                )
            }
            glob = kpi_repo.query_sla(
                session, period_start=SH_NOV, district="xihu", target="enterprise-availability"
            )
            assert not [p for p in sla_period_repo.dirty_periods(session, MONTH_UTC)]
        table = {
            key: (r.period_end - r.period_start, r.scheduled_s, r.down_s, r.status)
            for key, (r,) in got.items()
        }
        assert table == {
            ("ent-utc", UTC_OCT): (2_678_400, 2_678_400, 3_600, "met"),
            ("ent-utc", UTC_NOV): (2_592_000, 86_400, 3_600, "at_risk"),
            ("ent-week", SH_WEEK): (604_800, 604_800, 7_200, "breached"),
            ("ent-day", SH_NOV): (86_400, 86_400, 7_200, "met"),
        }
        assert got[("ent-utc", UTC_OCT)][0].error_budget_total == pytest.approx(5_356.8)
        assert got[("ent-utc", UTC_NOV)][0].error_budget_total == pytest.approx(5_184)
        assert got[("ent-utc", UTC_NOV)][0].burn_rate == pytest.approx(3_600 / 86_400 / 0.002)
        assert got[("ent-day", SH_NOV)][0].error_budget_total == pytest.approx(8_640)
        (g,) = glob
        assert (g.scheduled_s, g.down_s, g.status) == (115_200, 7_200, "breached")
        assert (g.period_kind, g.timezone) == (None, None), "the global period's own table"

        # the metrics' newest results: the current period of each target, global or own
        assert latest[("ent-utc", "xihu")].period_start == UTC_NOV
        assert latest[("ent-week", "xihu")].period_start == SH_WEEK + 7 * 86_400
        assert latest[("enterprise-availability", "xihu")].period_start == SH_NOV

        # what alerting reads: the newest run's periods; a calendar no longer configured
        # drops out (its stored periods stay for the record)
        with sessions() as session:
            newest = {
                (r.target, r.period_start) for r in kpi_repo.query_sla(session, period_start=None)
            }
        assert {("ent-utc", UTC_NOV), ("ent-day", SH_NOV + 86_400)} <= newest
        assert ("enterprise-availability", SH_NOV) in newest
        plain = Settings.model_validate({"storage": {"url": fresh_db_url}})
        KpiService(settings=plain, sessions=sessions).compute_sync(NOW2 + 900)
        with sessions() as session:
            targets = {r.target for r in kpi_repo.query_sla(session, period_start=None)}
            assert "enterprise-availability" in targets
            assert not targets & {"ent-utc", "ent-week", "ent-day"}
            assert sla_period_repo.period_of(session, MONTH_UTC, UTC_NOV) is not None

        # API: the same rows, with their period kind and time zone
        with sessions() as session:
            token = create_token(session, "sla-periods", TokenRole.VIEWER)
            session.commit()
        app = create_app(settings, engine=engine)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://nocd.test",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            r = await client.get("/api/v1/sla", params={"period": "2026-10", "district": "xihu"})
            assert r.status_code == 200, r.text
            october = {(s["target"], s["period_start"]): s for s in r.json()}
            # "2026-10": the month in each target's zone, the day/week containing 1 October
            assert october[("ent-utc", UTC_OCT)]["period_kind"] == "month"
            assert october[("ent-utc", UTC_OCT)]["timezone"] == "UTC"
            assert october[("ent-utc", UTC_OCT)]["down_s"] == 3_600
            assert not [k for k in october if k[0] in ("ent-week", "ent-day")], "none stored"
            r = await client.get(
                "/api/v1/sla",
                params={"since": SH_NOV, "until": SH_NOV + 86_400, "target": "ent-day"},
            )
            assert r.status_code == 200, r.text
            (day_row,) = [s for s in r.json() if s["district"] == "xihu"]
            assert (day_row["period_kind"], day_row["timezone"]) == ("day", "Asia/Shanghai")
            assert (day_row["period_start"], day_row["down_s"]) == (SH_NOV, 7_200)
            r = await client.get(
                "/api/v1/sla",
                params={
                    "period": "2026-11",
                    "district": "xihu",
                    "target": "enterprise-availability",
                },
            )
            (month_row,) = r.json()
            assert (month_row["period_kind"], month_row["timezone"]) == ("month", "Asia/Shanghai")
    finally:
        engine.dispose()


def test_a_period_that_closes_between_runs_is_finished_by_the_next_run(
    fresh_db_url: str,
) -> None:
    """No late data at all: the first run after a boundary finishes the period just closed.

    Runs at NOW1 (UTC 31 Oct 20:00 = 1 Nov 04:00 +08, before the outage) and NOW2 (2 Nov).
    Without the finishing step, UTC October and Shanghai's 1 November would stay evaluated
    only to NOW1 and never see the outage (UTC Oct: 23:00-24:00 = 3 600 s; the Shanghai
    day: 07:00-09:00 = 7 200 s).
    """
    engine = db.make_engine(fresh_db_url)
    sessions = db.session_factory(engine)
    service = KpiService(settings=settings_with_own_periods(fresh_db_url), sessions=sessions)
    try:
        with sessions() as session:
            stock(session)
            poll_repo.record_state(session, device="dslam-1", state="up", at=utc(2026, 9, 30))
            poll_repo.record_state(session, device="dslam-1", state="down", at=DOWN)
            poll_repo.record_state(session, device="dslam-1", state="up", at=UP)
            session.commit()
        service.rollup_sync(NOW1)
        service.compute_sync(NOW1)
        with sessions() as session:
            october = sla_period_repo.period_of(session, MONTH_UTC, UTC_OCT)
            assert october is not None and october.evaluated_until == NOW1
        service.compute_sync(NOW2)
        with sessions() as session:
            rows = {
                name: sla_period_repo.query_sla(
                    session, reporting, period_start=start, district="xihu", target=name
                )
                for name, reporting, start in (
                    ("ent-utc", MONTH_UTC, UTC_OCT),
                    ("ent-day", DAY_SH, SH_NOV),
                )
            }
            finished = [
                sla_period_repo.period_of(session, MONTH_UTC, UTC_OCT),
                sla_period_repo.period_of(session, DAY_SH, SH_NOV),
            ]
        assert [(p.evaluated_until == p.end) for p in finished if p] == [True, True]
        assert {k: (r.scheduled_s, r.down_s) for k, (r,) in rows.items()} == {
            "ent-utc": (2_678_400, 3_600),
            "ent-day": (86_400, 7_200),
        }
    finally:
        engine.dispose()
