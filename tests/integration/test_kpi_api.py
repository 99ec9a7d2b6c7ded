"""``/api/v1/kpis``, ``/kqis``, ``/sla`` and ``/maintenance`` in-process, on SQLite and PostgreSQL.

The KQI/SLA figures are the hand-worked dataset of ``test_kpi_storage`` (its docstring has
the arithmetic), computed by the KPI service and read back through the API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from kpi.intervals import TimeWindow
from nocd.app import create_app
from nocd.config import Settings
from nocd.kpi_service import KpiService
from nocd.storage import kpi_repo
from nocd.storage.tokens import TokenRole, create_token
from tests.integration.test_kpi_storage import JUNE, P, hand_worked, stock, uplinks_worked

pytestmark = pytest.mark.integration

NOW = P + 10 * 86_400


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
def app(engine: Engine, sessions: Callable[[], Session]) -> FastAPI:
    return create_app(Settings(), engine=engine, session_factory=sessions)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://nocd.test") as client:
        yield client


@pytest.fixture
def tokens(sessions: Callable[[], Session]) -> dict[str, str]:
    with sessions() as session:
        made = {
            role.value: create_token(session, f"kpi-{role.value}", role)
            for role in (TokenRole.VIEWER, TokenRole.OPERATOR)
        }
        session.commit()
    return made


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def computed(sessions: Callable[[], Session]) -> None:
    with sessions() as session:
        hand_worked(session)
        session.commit()
    KpiService(settings=Settings(), sessions=sessions).compute_sync(NOW)


async def test_sla_endpoint_should_return_the_hand_worked_evaluation(
    client: httpx.AsyncClient, tokens: dict[str, str], computed: None
) -> None:
    response = await client.get(
        "/api/v1/sla",
        params={"period": "2024-06", "district": "xihu", "class": "enterprise"},
        headers=bearer(tokens["viewer"]),
    )
    assert response.status_code == 200, response.text
    (ent,) = response.json()
    assert ent["target"] == "enterprise-availability"
    assert (ent["period_start"], ent["period_end"]) == (JUNE.start, JUNE.end)
    assert ent["evaluated_until"] == NOW
    assert (ent["up_s"], ent["down_s"], ent["unknown_s"], ent["maintenance_s"]) == (
        862_200,
        1800,
        0,
        0,
    )
    assert ent["sli"] == pytest.approx(1 - 1800 / 864_000)
    assert ent["error_budget_total"] == pytest.approx(2592)
    assert ent["error_budget_used"] == pytest.approx(1800)
    assert ent["error_budget_remaining"] == pytest.approx(792)
    assert ent["burn_rate"] == pytest.approx(2.0833, abs=1e-4)
    assert ent["status"] == "at_risk"
    network = await client.get(
        "/api/v1/sla",
        params={"period": "2024-06-15", "district": "*", "target": "enterprise-availability"},
        headers=bearer(tokens["viewer"]),
    )
    (row,) = network.json()
    # L1 + L4: 1 728 000 s scheduled so far (L4 all unknown), 1800 down
    assert (row["scheduled_s"], row["down_s"], row["unknown_s"]) == (1_728_000, 1800, 864_000)


async def test_kqis_endpoint_should_filter_by_district_class_and_kqi(
    client: httpx.AsyncClient, tokens: dict[str, str], computed: None
) -> None:
    response = await client.get(
        "/api/v1/kqis",
        params={
            "period": "2024-06",
            "district": "xihu",
            "sla_class": "*",
            "kqi": "line_availability_ratio",
        },
        headers=bearer(tokens["viewer"]),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["computed_at"] == NOW and body["dirty"] is False
    (row,) = body["items"]
    assert (row["numerator"], row["denominator"]) == (2_582_500, 2_588_400)
    assert row["value"] == pytest.approx(2_582_500 / 2_588_400)


async def test_kpis_endpoint_should_page_raw_samples_and_rollups(
    client: httpx.AsyncClient, tokens: dict[str, str], computed: None
) -> None:
    raw = await client.get(
        "/api/v1/kpis",
        params={"device": "dslam-1", "metric": "oper_up", "resolution": "raw", "limit": 2},
        headers=bearer(tokens["viewer"]),
    )
    assert raw.status_code == 200, raw.text
    page = raw.json()
    assert page["total"] == 5
    assert [(i["ts"], i["value"]) for i in page["items"]] == [(P + 20_100, 0.0), (P + 20_160, 0.0)]
    five = await client.get(
        "/api/v1/kpis",
        params={"district": "xihu", "entity": "if:2", "resolution": "5m"},
        headers=bearer(tokens["viewer"]),
    )
    items = five.json()["items"]
    assert [(i["ts"], i["count"], i["avg"]) for i in items] == [
        (P + 20_100, 3, 0.0),
        (P + 20_400, 2, 1.0),
    ]
    assert items[0]["device"] == "dslam-1" and items[0]["district"] == "xihu"
    none = await client.get(
        "/api/v1/kpis", params={"district": "nowhere"}, headers=bearer(tokens["viewer"])
    )
    assert none.json()["total"] == 0


async def test_kpi_reads_should_need_a_token(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/kpis", "/api/v1/kqis", "/api/v1/sla", "/api/v1/maintenance"):
        assert (await client.get(path)).status_code == 401, path


async def test_maintenance_crud_should_need_operator_for_writes(
    client: httpx.AsyncClient, tokens: dict[str, str], sessions: Callable[[], Session]
) -> None:
    with sessions() as session:
        stock(session)
        session.commit()
    body = {"device": "dslam-2", "starts_at": P + 5000, "ends_at": P + 8600, "reason": "swap"}
    assert (await client.post("/api/v1/maintenance", json=body)).status_code == 401
    forbidden = await client.post(
        "/api/v1/maintenance", json=body, headers=bearer(tokens["viewer"])
    )
    assert forbidden.status_code == 403
    created = await client.post(
        "/api/v1/maintenance", json=body, headers=bearer(tokens["operator"])
    )
    assert created.status_code == 201, created.text
    window = created.json()
    assert window["district"] == "xihu"  # taken from the device
    wid = window["id"]
    listed = await client.get(
        "/api/v1/maintenance", params={"active_at": P + 6000}, headers=bearer(tokens["viewer"])
    )
    assert [w["id"] for w in listed.json()["items"]] == [wid]
    outside = await client.get(
        "/api/v1/maintenance", params={"active_at": P + 8600}, headers=bearer(tokens["viewer"])
    )
    assert outside.json()["total"] == 0  # half-open: the end is outside
    changed = await client.put(
        f"/api/v1/maintenance/{wid}",
        json={**body, "ends_at": P + 9000},
        headers=bearer(tokens["operator"]),
    )
    assert changed.json()["ends_at"] == P + 9000
    bad = await client.post(
        "/api/v1/maintenance",
        json={**body, "ends_at": P + 10},
        headers=bearer(tokens["operator"]),
    )
    assert bad.status_code == 422
    unknown = await client.post(
        "/api/v1/maintenance",
        json={**body, "device": "no-such-dslam"},
        headers=bearer(tokens["operator"]),
    )
    assert unknown.status_code == 422
    assert (
        await client.delete(f"/api/v1/maintenance/{wid}", headers=bearer(tokens["viewer"]))
    ).status_code == 403
    assert (
        await client.delete(f"/api/v1/maintenance/{wid}", headers=bearer(tokens["operator"]))
    ).status_code == 204
    gone = await client.get(f"/api/v1/maintenance/{wid}", headers=bearer(tokens["viewer"]))
    assert gone.status_code == 404


async def test_metrics_should_export_the_computed_kqis_and_sla(
    app: FastAPI, client: httpx.AsyncClient, sessions: Callable[[], Session]
) -> None:
    with sessions() as session:
        hand_worked(session)
        session.commit()
    service: KpiService = app.state.kpi_service
    service.compute_sync(NOW)
    registry = app.state.registry
    labels = {
        "district": "xihu",
        "sla_class": "enterprise",
        "target": "enterprise-availability",
        "scope": "external",
    }
    assert registry.get_sample_value("nocd_sla_sli_ratio", labels) == pytest.approx(
        1 - 1800 / 864_000
    )
    assert registry.get_sample_value("nocd_sla_status", {**labels, "status": "at_risk"}) == 1.0
    assert registry.get_sample_value("nocd_sla_status", {**labels, "status": "met"}) == 0.0
    assert registry.get_sample_value(
        "nocd_sla_error_budget_remaining_ratio", labels
    ) == pytest.approx(792 / 2592)
    assert registry.get_sample_value(
        "nocd_kqi_value", {"district": "xihu", "kqi": "customer_minutes_lost", "sla_class": "*"}
    ) == pytest.approx(5900 / 60)
    text = (await client.get("/metrics")).text
    assert "line:" not in text  # no per-line labels


async def test_uplink_kqis_endpoint_and_metrics_keep_per_uplink_values_out_of_labels(
    app: FastAPI, client: httpx.AsyncClient, tokens: dict[str, str], sessions
) -> None:
    """The hand-worked uplinks of ``test_kpi_storage.uplinks_worked``: xihu's busy-hour p95
    is 1.145 from P+3600; bj's uplink has no complete hour."""
    with sessions() as session:
        uplinks_worked(session, hand_worked(session))
        session.commit()
    service: KpiService = app.state.kpi_service
    service.compute_sync(NOW)
    headers = bearer(tokens["viewer"])
    response = await client.get(
        "/api/v1/kqis/uplinks", params={"period": "2024-06"}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 2
    xihu, bj = body["items"]
    assert (xihu["device"], xihu["district"], xihu["entity"]) == ("dslam-1", "xihu", "if:49")
    assert (xihu["intervals"], xihu["congested_intervals"]) == (24, 4)
    assert xihu["congestion_share"] == pytest.approx(4 / 24)
    assert xihu["busy_hour_start"] == P + 3600
    assert xihu["busy_hour_p95"] == pytest.approx(1.145)
    assert (bj["busy_hour_start"], bj["busy_hour_p95"], bj["intervals"]) == (None, None, 6)
    filtered = await client.get(
        "/api/v1/kqis/uplinks",
        params={"period": "2024-06", "device": "dslam-3", "entity": "if:49"},
        headers=headers,
    )
    assert [i["district"] for i in filtered.json()["items"]] == ["bj"]
    nothing = await client.get(
        "/api/v1/kqis/uplinks", params={"period": "2024-05"}, headers=headers
    )
    assert nothing.json()["total"] == 0, "another period"
    bad = await client.get("/api/v1/kqis/uplinks", params={"entity": "line:1"}, headers=headers)
    assert bad.status_code == 422
    kqis = await client.get(
        "/api/v1/kqis",
        params={"period": "2024-06", "kqi": "uplink_busy_hour_p95_utilisation_ratio"},
        headers=headers,
    )
    rows = {r["district"]: r for r in kqis.json()["items"]}
    assert set(rows) == {"xihu", "*"}
    assert rows["xihu"]["value"] == pytest.approx(1.145)
    assert rows["*"]["numerator"] is None and rows["*"]["denominator"] == 1
    registry = app.state.registry
    assert registry.get_sample_value(
        "nocd_kqi_value",
        {"district": "xihu", "kqi": "uplink_busy_hour_p95_utilisation_ratio", "sla_class": "*"},
    ) == pytest.approx(1.145)
    text = (await client.get("/metrics")).text
    assert "if:49" not in text and "dslam-1" not in text.split("nocd_kqi_value")[-1][:2000]


async def test_kqis_and_sla_should_answer_a_time_range_with_every_stored_period_in_it(
    client: httpx.AsyncClient, tokens: dict[str, str], computed: None, sessions
) -> None:
    """June is computed (the hand-worked data); May is stored with one KQI row of its own.
    [mid-May, mid-June) returns both periods' rows, each with its period; a range before
    May returns none; a range together with ``period``, or an empty one, is refused."""
    may = TimeWindow(start=JUNE.start - 31 * 86_400, end=JUNE.start)
    with sessions() as session:
        kpi_repo.save_period(
            session,
            start=may.start,
            end=may.end,
            evaluated_until=may.end,
            computed_at=may.end,
            kqis=pd.DataFrame(
                [("customer_minutes_lost", "xihu", "*", 600.0, 60.0, 10.0)],
                columns=["kqi", "district", "sla_class", "numerator", "denominator", "value"],
            ),
            slas=pd.DataFrame(),
        )
        session.commit()
    headers = bearer(tokens["viewer"])
    params = {"since": may.start + 15 * 86_400, "until": JUNE.start + 15 * 86_400}
    kqis = await client.get(
        "/api/v1/kqis",
        params={**params, "district": "xihu", "kqi": "customer_minutes_lost", "sla_class": "*"},
        headers=headers,
    )
    assert kqis.status_code == 200, kqis.text
    body = kqis.json()
    assert (body["period_start"], body["period_end"]) == (may.start, JUNE.end)
    assert body["computed_at"] == NOW, "the newest period's"
    rows = [(r["period_start"], r["numerator"]) for r in body["items"]]
    assert rows == [(may.start, 600.0), (JUNE.start, 5900.0)], "summable per period"
    sla = await client.get("/api/v1/sla", params={**params, "district": "xihu"}, headers=headers)
    assert sla.status_code == 200
    assert {r["period_start"] for r in sla.json()} == {JUNE.start}, "May has no SLA rows"
    before = await client.get(
        "/api/v1/kqis", params={"since": 0, "until": may.start}, headers=headers
    )
    assert before.json()["items"] == []
    for bad in ({**params, "period": "2024-06"}, {"since": 10, "until": 10}, {"since": 10}):
        for route in ("/api/v1/kqis", "/api/v1/sla"):
            answer = await client.get(route, params=bad, headers=headers)
            assert answer.status_code == 422, (route, bad, answer.text)
