"""The SLA report on SQLite and PostgreSQL: golden JSON of a synthetic month, CSV/HTML carry the
same numbers, storage + API, idempotent re-runs, catch-up after downtime, and the CLI.

The month is ``tests/integration/report_data.py`` (its docstring works the numbers by hand).
Regenerate the golden file only when a rule changes on purpose, and review the diff:
``REPORT_WRITE_GOLDEN=1 uv run pytest tests/integration/test_report.py -k golden``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from nocd.app import create_app
from nocd.cli import app as cli
from nocd.config import Settings
from nocd.report.gather import gather
from nocd.report.model import TABLES, build_report
from nocd.report.render import render_csv, render_html, render_json
from nocd.report.service import ReportService, due_report_dates
from nocd.storage.db import make_engine, session_factory
from nocd.storage.models import ReportRow
from nocd.storage.tokens import TokenRole, create_token
from tests.integration import report_data as rd

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).parent / "golden" / "report_2024-06-30_month.json"


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def sessions(connection: Connection) -> Callable[[], Session]:
    def factory() -> Session:
        return Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )

    return factory


@pytest.fixture
def june(sessions: Callable[[], Session]) -> Callable[[], Session]:
    with sessions() as session:
        rd.build(session)
        session.commit()
    return sessions


def _settings(**report: object) -> Settings:
    return Settings(report={"languages": ["en"], "periods": ["month"], **report})


def _month_report(sessions: Callable[[], Session]):
    with sessions() as session:
        inputs = gather(
            session, Settings(), day=date(2024, 6, 30), kind="month", now=int(rd.NOW.timestamp())
        )
    return build_report(inputs)


# --- correctness ------------------------------------------------------------------------------


def test_month_report_json_should_equal_the_reviewed_golden_file(june):
    report = _month_report(june)
    produced = render_json(report).decode()
    if os.environ.get("REPORT_WRITE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(produced, encoding="utf-8")
    assert json.loads(produced) == json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_month_report_should_show_the_hand_worked_numbers(june):
    """The facts of report_data.py's docstring, independent of the golden file."""
    data = json.loads(render_json(_month_report(june)))
    tables = data["tables"]
    kqi = {(r["district"], r["sla_class"], r["kqi"]): r for r in tables["kqis"]}
    network = kqi[("*", "*", "line_availability_ratio")]
    assert (network["numerator"], network["denominator"]) == (10_364_400 - 10_200, 10_364_400)
    assert network["value"] == pytest.approx(1 - 10_200 / 10_364_400, abs=1e-9)
    assert kqi[("*", "*", "customer_minutes_lost")]["value"] == 170
    outages = {o["device"]: o for o in tables["outages"]}
    assert (outages["dslam-1"]["duration_s"], outages["dslam-1"]["customer_minutes_lost"]) == (
        2400,
        80,
    )
    assert (outages["dslam-3"]["maintenance_s"], outages["dslam-3"]["customer_minutes_lost"]) == (
        3600,
        60,
    )
    assert outages["dslam-2"]["cause"] == "fibre cut"
    assert [d["device"] for d in tables["worst_dslams"]] == ["dslam-1", "dslam-3", "dslam-2"]
    assert tables["stability"][0] == {
        "district": "*", "stable": 3, "errored": 0, "marginal": 0, "unstable": 1, "unscored": 0,
    }  # fmt: skip
    assert tables["worst_ports"][0]["congestion_share"] == pytest.approx(1 / 12, abs=1e-9)
    assert [(c["port"], c["days_to_exhaustion"]) for c in tables["capacity"]] == [
        ("uplink-1", 0.0),
        ("uplink-3", 84.0),
    ]
    net_tickets = tables["tickets"][0]
    assert net_tickets["district"] == "*"
    assert (net_tickets["on_site_within_30_min"], net_tickets["on_site_due"]) == (0.5, 4)
    assert net_tickets["callback_done"] == pytest.approx(2 / 3, abs=1e-9)
    assert net_tickets["mttr_median_s"] == 7200
    assert (net_tickets["network_side"], net_tickets["customer_side"]) == (1, 1)
    enterprise = next(
        s for s in tables["sla"] if (s["district"], s["target"]) == ("*", "enterprise-availability")
    )
    assert enterprise["status"] == "breached"
    assert enterprise["error_budget_total"] == pytest.approx(0.001 * (2 * 2_592_000 - 3600))
    new = [c for c in tables["changes"] if c["kind"] == "new_outage"]
    assert [(c["item"], c["after"]) for c in new] == [("dslam-2", "2024-06-30T10:00:00+08:00")]


class _Cells(HTMLParser):
    """Collects ``data-table`` → ``data-row`` → ``{data-col: data-v}`` from the report page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[int, dict[str, str]]] = {}
        self.images: list[str] = []
        self._table: str | None = None
        self._row: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("data-table"):
            self._table = a["data-table"]
        elif tag == "tr" and a.get("data-row") is not None:
            self._row = int(a["data-row"] or 0)
        elif tag == "td" and self._table is not None and self._row is not None:
            row = self.tables.setdefault(self._table, {}).setdefault(self._row, {})
            row[a["data-col"] or ""] = a["data-v"] or ""
        elif tag == "img" and a.get("data-chart"):
            self.images.append(a["src"] or "")


def test_csv_and_html_should_carry_the_same_numbers_as_the_json(june):
    report = _month_report(june)
    data = json.loads(render_json(report))
    csvs = {
        name: list(csv.DictReader(io.StringIO(c.decode())))
        for name, c in render_csv(report).items()
    }
    for lang in ("en", "zh-CN"):
        parser = _Cells()
        parser.feed(render_html(report, lang).decode())
        _same_numbers(data, csvs, parser)


def _same_numbers(data, csvs, parser: _Cells) -> None:
    assert set(csvs) == set(TABLES)
    for name, rows in data["tables"].items():
        assert len(csvs[name]) == len(rows), name
        for i, row in enumerate(rows):
            for column, value in row.items():
                as_csv = "" if value is None else str(value)
                assert csvs[name][i][column] == as_csv, (name, i, column)
        shown = parser.tables.get(name, {})
        if rows:
            assert len(shown) == len(rows), f"HTML table {name} lacks rows"
        for i, cells in shown.items():
            for column, raw in cells.items():
                assert raw == csvs[name][i][column], (name, i, column)
    # one trend chart per district and the network, budget, stability, ticket sides
    assert len(parser.images) == 3 + 3
    assert all(src.startswith("data:image/png;base64,iVBORw0KGgo") for src in parser.images)


# --- storage, API, idempotence, catch-up ------------------------------------------------------


def _count(sessions: Callable[[], Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(ReportRow)) or 0)


def test_rerunning_a_date_should_replace_that_report(june):
    service = ReportService(settings=_settings(), sessions=june)
    service.run_sync(date(2024, 6, 30), "month", now=rd.NOW)
    assert _count(june) == 3  # html, json, csv
    later = rd.NOW + timedelta(hours=1)
    service.run_sync(date(2024, 6, 30), "month", now=later)
    with june() as session:
        created = session.scalars(select(ReportRow.created_at)).all()
    assert len(created) == 3, "a re-run must replace the rows, not add to them"
    assert {c.replace(tzinfo=UTC) if c.tzinfo is None else c for c in created} == {later}


@pytest.fixture
async def client(engine: Engine, june) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(_settings(), engine=engine, session_factory=june)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://nocd.test") as c:
        yield c


async def test_reports_api_should_list_and_serve_every_format(client, june):
    with june() as session:
        token = create_token(session, "report-reader", TokenRole.VIEWER)
        session.commit()
    run = ReportService(settings=_settings(), sessions=june).run_sync(
        date(2024, 6, 30), "month", now=rd.NOW
    )
    auth = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/reports")).status_code == 401
    listing = await client.get("/api/v1/reports", params={"format": "html"}, headers=auth)
    assert listing.status_code == 200, listing.text
    (item,) = listing.json()["items"]
    assert (item["date"], item["period"], item["lang"]) == ("2024-06-30", "month", "en")
    page = await client.get(item["url"], headers=auth)
    assert page.headers["content-type"].startswith("text/html")
    assert page.content == run.files["en"][0].content
    as_json = await client.get(item["url"], params={"format": "json"}, headers=auth)
    assert as_json.json() == json.loads(render_json(run.report))
    as_csv = await client.get(item["url"], params={"format": "csv"}, headers=auth)
    assert as_csv.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(as_csv.content)).namelist()
    assert len(names) == len(TABLES)
    assert (await client.get("/api/v1/reports/999999", headers=auth)).status_code == 404


@pytest.mark.parametrize(
    ("now", "expected", "description"),
    [
        (datetime(2024, 7, 1, 3, 0, tzinfo=rd.ZONE), [date(2024, 6, 30)], "after 02:00: yesterday"),
        (datetime(2024, 7, 1, 1, 59, tzinfo=rd.ZONE), [date(2024, 6, 29)], "before 02:00"),
        (datetime(2024, 7, 1, 2, 0, tzinfo=rd.ZONE), [date(2024, 6, 30)], "exactly at 02:00"),
        (datetime(2024, 6, 30, 18, 30, tzinfo=UTC), [date(2024, 6, 30)], "UTC clock, local 02:30"),
    ],
)
def test_due_report_dates_should_follow_the_local_schedule(now, expected, description):
    got = due_report_dates(now, time_zone="Asia/Shanghai", hour=2, minute=0, catch_up_days=1)
    assert got == expected, description


def test_catch_up_should_run_the_report_missed_while_the_daemon_was_down(june):
    """Daemon down over 02:00 on 07-01, started at 03:00: the 06-30 report is made at start."""
    service = ReportService(settings=_settings(catch_up_days=2), sessions=june)
    # the 06-29 run happened before the daemon went down
    service.run_sync(date(2024, 6, 29), "month", now=rd.NOW)
    done = service.catch_up_sync(rd.NOW)
    assert done == [(date(2024, 6, 30), "month")]
    with june() as session:
        dates = sorted(session.scalars(select(ReportRow.date).distinct()).all())
    assert dates == ["2024-06-29", "2024-06-30"]
    assert service.catch_up_sync(rd.NOW) == [], "nothing is missing any more"


# --- CLI ------------------------------------------------------------------------------------


def test_cli_report_sla_should_store_and_write_files_and_reject_a_bad_date(
    fresh_db_url: str, tmp_path: Path
):
    engine = make_engine(fresh_db_url)
    try:
        with session_factory(engine)() as session:
            rd.build(session)
            session.commit()
        config = tmp_path / "nocd.toml"
        config.write_text(
            f'[storage]\nurl = "{fresh_db_url}"\n[report]\nlanguages = ["en"]\n', encoding="utf-8"
        )
        out = tmp_path / "out"
        runner = CliRunner()
        args = ["report", "sla", "--date", "2024-06-30", "--period", "month", "--out", str(out)]
        result = runner.invoke(cli, [*args, "--lang", "zh-CN", "--config", str(config)])
        assert result.exit_code == 0, result.output
        assert "stored" in result.output
        files = sorted(p.name for p in out.iterdir())
        assert "nocd-sla-month-2024-06-30-zh-CN.html" in files
        assert sum(name.endswith(".csv") for name in files) == len(TABLES)
        again = runner.invoke(cli, [*args, "--lang", "zh-CN", "--config", str(config)])
        assert again.exit_code == 0, again.output
        with session_factory(engine)() as session:
            assert session.scalar(select(func.count()).select_from(ReportRow)) == 3
        bad = runner.invoke(cli, ["report", "sla", "--date", "2024-13-40", "--config", str(config)])
        assert bad.exit_code == 2
        assert "--date" in bad.output
    finally:
        engine.dispose()
