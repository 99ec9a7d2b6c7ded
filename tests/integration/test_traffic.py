"""Traffic model wired in: rollups → refit → API/metrics, anomaly alerts, capacity tickets.

Hand-built 5-minute rollups on SQLite and PostgreSQL, for this topology::

    agg-1 (aggregation, xihu, uplink if:1, 10 Gbit/s)
    ├── sw-1 (access switch, xihu, uplink if:49, 1 Gbit/s)   growing 100 %/year
    ├── sw-2 (access switch, xihu, uplink if:49, 1 Gbit/s)   flat
    └── sw-3 (access switch, gongshu, uplink if:49, 1 Gbit/s) flat
    sw-4 (DSLAM, xihu, uplink if:25, 1 Gbit/s) only 14 days of history

Daily pattern: downstream = level × (0.25 + 0.75 × bump(hour)), peaking at 20:00 UTC;
weekends × 0.9; upstream = 0.3 × downstream; multiplicative noise with sd 0.5 %. sw-1's
weekday peak is 700 Mbit/s at the origin and doubles per year, so its busy-hour p95 (the
noise lifts it by about 1.6 sd, to ≈ 706 Mbit/s) reaches 80 % of 1 Gbit/s after
ln(800/706) / (ln 2 / 365) ≈ 66 days; the test accepts 55–80 days.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from nocd.app import create_app
from nocd.config import Settings
from nocd.storage import inventory_repo as inv
from nocd.storage import ticket_repo
from nocd.storage.ingest import copy_rows
from nocd.storage.models import AlertmanagerAlertRow, Port, TrafficAnomalyRow
from nocd.storage.tokens import TokenRole, create_token
from nocd.traffic_service import TrafficService

pytestmark = pytest.mark.integration

STEP = 300
DAY = 288
NOW = int(datetime(2024, 6, 3, 0, 0, tzinfo=UTC).timestamp())  # a Monday, 00:00 UTC
HISTORY_DAYS = 35
GROWTH = np.log(2.0) / 365.0  # per day: +100 %/year
ROLLUP_COLUMNS = ("device_id", "entity", "metric", "resolution", "bucket", "count", "min",
                  "avg", "max", "p95")  # fmt: skip


def _shape(buckets: np.ndarray) -> np.ndarray:
    """Daily pattern in [0.25, 1], peak at 20:00 UTC; weekends × 0.9."""
    hour = (buckets % 86_400) / 3600.0
    bump = np.exp(-0.5 * ((hour - 20.0 + 12.0) % 24.0 - 12.0) ** 2 / 3.0**2)
    weekday = ((buckets // 86_400) + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
    return (0.25 + 0.75 * bump) * np.where(weekday >= 5, 0.9, 1.0)


def _down(level: float, buckets: np.ndarray, growth: float, seed: int) -> np.ndarray:
    days = (buckets - NOW) / 86_400.0
    noise = np.random.default_rng(seed).normal(1.0, 0.005, len(buckets))
    return level * _shape(buckets) * np.exp(growth * days) * noise


def _rows(device_id: int, entity: str, buckets: np.ndarray, down: np.ndarray) -> list[tuple]:
    rows = []
    for metric, values in (("in_bps", down), ("out_bps", 0.3 * down)):
        for b, v in zip(buckets.tolist(), values.tolist(), strict=True):
            rows.append((device_id, entity, metric, "5m", b, 1, v, v, v, v))
    return rows


# level at the peak of the day, growth per day, days of history
LINKS = {
    "agg-1": ("if:1", 10e9, 2.1e9, 0.0, HISTORY_DAYS),
    "sw-1": ("if:49", 1e9, 700e6, GROWTH, HISTORY_DAYS),
    "sw-2": ("if:49", 1e9, 400e6, 0.0, HISTORY_DAYS),
    "sw-3": ("if:49", 1e9, 300e6, 0.0, HISTORY_DAYS),
    "sw-4": ("if:25", 1e9, 200e6, 0.0, 14),
}


def stock(session: Session) -> dict[str, int]:
    inv.upsert_districts(
        session,
        [inv.DistrictRecord(id="xihu", name="Xihu"), inv.DistrictRecord(id="gongshu", name="G")],
    )
    snmp = inv.SnmpParams(version=inv.SnmpVersion.V2C)
    kind = inv.DeviceKind
    inv.upsert_devices(
        session,
        [
            inv.DeviceRecord(name="agg-1", district="xihu", kind=kind.AGGREGATION,
                             address="127.0.8.1", snmp=snmp),
            inv.DeviceRecord(name="sw-1", district="xihu", kind=kind.ACCESS_SWITCH,
                             address="127.0.8.2", snmp=snmp, parent="agg-1"),
            inv.DeviceRecord(name="sw-2", district="xihu", kind=kind.ACCESS_SWITCH,
                             address="127.0.8.3", snmp=snmp, parent="agg-1"),
            inv.DeviceRecord(name="sw-3", district="gongshu", kind=kind.ACCESS_SWITCH,
                             address="127.0.8.4", snmp=snmp, parent="agg-1"),
            inv.DeviceRecord(name="sw-4", district="xihu", kind=kind.DSLAM,
                             address="127.0.8.5", snmp=snmp, parent="agg-1"),
        ],
    )  # fmt: skip
    ids = {d.name: d.id for d in inv.devices_by_name(session, list(LINKS)).values()}
    assert all(ids.values())
    rows: list[tuple] = []
    for seed, (name, (entity, speed, level, growth, days)) in enumerate(LINKS.items()):
        device_id = int(ids[name])  # type: ignore[arg-type]
        session.add(
            Port(device_id=device_id, ifindex=int(entity[3:]), speed_bps=int(speed),
                 is_uplink=True)
        )  # fmt: skip
        buckets = np.arange(NOW - days * 86_400, NOW, STEP, dtype=np.int64)
        rows += _rows(device_id, entity, buckets, _down(level, buckets, growth, seed))
    session.flush()
    copy_rows(session, "rollups", ROLLUP_COLUMNS, rows)
    session.commit()
    return {k: int(v) for k, v in ids.items()}  # type: ignore[arg-type]


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
def ids(sessions: Callable[[], Session]) -> dict[str, int]:
    with sessions() as session:
        return stock(session)


@pytest.fixture
def refitted(app: FastAPI, ids: dict[str, int]) -> TrafficService:
    service: TrafficService = app.state.traffic
    service.refit_sync(NOW)
    return service


@pytest.fixture
async def client(app: FastAPI, sessions: Callable[[], Session]) -> AsyncIterator[httpx.AsyncClient]:
    with sessions() as session:
        token = create_token(session, name="viewer", role=TokenRole.VIEWER)
        session.commit()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://nocd.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


async def test_forecasts_should_follow_the_weekly_pattern_with_intervals(
    client: httpx.AsyncClient, refitted: TrafficService
) -> None:
    r = await client.get("/api/v1/forecasts", params={"link": "sw-2/if:49", "horizon": "7d"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 1
    item = body["items"][0]
    assert item["period_samples"] == 7 * DAY
    points = item["points"]
    assert len(points) == 7 * DAY
    ts = np.array([p["ts"] for p in points])
    assert ts[0] == NOW
    truth = 400e6 * _shape(ts)  # flat link, no noise
    mean = np.array([p["mean_bps"] for p in points])
    assert np.mean(np.abs(mean - truth) / truth) < 0.05
    lower = np.array([p["lower_bps"] for p in points])
    upper = np.array([p["upper_bps"] for p in points])
    assert np.all(lower <= mean) and np.all(mean <= upper)

    day = await client.get("/api/v1/forecasts", params={"scope": "district", "points": "false"})
    districts = {i["key"]: i for i in day.json()["items"]}
    assert set(districts) == {"xihu", "gongshu"}
    assert districts["xihu"]["points"] is None
    # xihu's aggregate is its edge link agg-1 only (no double count of the access links)
    assert districts["xihu"]["peak_bps"] == pytest.approx(2.1e9, rel=0.1)


async def test_capacity_should_date_the_growing_link_and_say_why_others_have_no_date(
    client: httpx.AsyncClient, refitted: TrafficService
) -> None:
    r = await client.get("/api/v1/capacity")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["link"] for i in items] == ["sw-1/if:49"]
    sw1 = items[0]
    assert 55 <= sw1["days"] <= 80, sw1
    assert sw1["date_low"] <= sw1["date"] <= sw1["date_high"]
    assert sw1["growth_per_year"] == pytest.approx(1.0, abs=0.4)
    assert sw1["busy_hour_start"].endswith(("19:00:00Z", "19:05:00Z", "19:10:00Z",
                                            "19:15:00Z", "19:20:00Z", "19:25:00Z",
                                            "19:30:00Z"))  # fmt: skip

    every = (await client.get("/api/v1/capacity", params={"all": "true"})).json()["items"]
    by_link = {i["link"]: i for i in every}
    assert by_link["sw-4/if:25"]["days"] is None
    assert by_link["sw-4/if:25"]["reason"] == "only 14 days of history; need 28"
    assert by_link["sw-2/if:49"]["reason"] == "no significant growth"


async def test_matrix_should_attribute_district_traffic_to_the_aggregation_uplink(
    client: httpx.AsyncClient, refitted: TrafficService
) -> None:
    r = await client.get("/api/v1/traffic/matrix", params={"top": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["uplinks"] == ["agg-1/if:1"]
    assert sorted(body["districts"]) == ["gongshu", "xihu"]
    cells = dict(zip(body["districts"], (row[0] for row in body["matrix"]), strict=True))
    assert cells["xihu"] > cells["gongshu"] > 0
    split = {s["name"]: s for s in body["by_district"]}
    assert split["xihu"]["down_share"] == pytest.approx(1 / 1.3, abs=0.01)
    assert [t["link"] for t in body["top"]] == ["sw-1/if:49", "sw-2/if:49"]


async def test_metrics_should_carry_bounded_forecast_and_capacity_series(
    app: FastAPI, refitted: TrafficService
) -> None:
    registry = app.state.registry
    labels = {"district": "xihu", "device": "sw-1", "link": "if:49"}
    peak = registry.get_sample_value("nocd_forecast_bps", {**labels, "horizon": "24h"})
    assert peak == pytest.approx(700e6, rel=0.1)
    days = registry.get_sample_value("nocd_capacity_exhaustion_days", labels)
    assert 55 <= days <= 80
    forecast_series = [
        s for m in registry.collect() if m.name == "nocd_forecast_bps" for s in m.samples
    ]
    # uplinks only (5 links × 2 horizons): no district or line series
    assert len(forecast_series) == 10
    assert {s.labels["device"] for s in forecast_series} == set(LINKS)


@pytest.mark.parametrize("detector", ["cad", "online"])
def test_level_drop_should_raise_one_anomaly_alert(
    app: FastAPI, ids: dict[str, int], sessions: Callable[[], Session], detector: str
) -> None:
    """CAD OSE (the default, primed on the last week, range 0 .. that week's peak) and the
    forecast-band detector (primed on the last day) both see a 90 % drop at the night trough
    as one drop event, raise one alert and stay quiet while the low level lasts."""
    service: TrafficService = app.state.traffic
    service.settings = Settings(traffic={"anomaly_detector": detector})
    service.refit_sync(NOW)
    assert service.anomaly_sync(NOW) == []  # primes the detectors (no alert while priming)
    buckets = np.arange(NOW, NOW + 4 * 3600, STEP, dtype=np.int64)
    down = 400e6 * _shape(buckets)
    down[24:] *= 0.1  # sw-2 loses 90 % of its traffic two hours in
    with sessions() as session:
        copy_rows(session, "rollups", ROLLUP_COLUMNS, _rows(ids["sw-2"], "if:49", buckets, down))
        session.commit()
    events = []
    for b in buckets[:36]:  # up to one hour after the drop
        events += service.anomaly_sync(int(b) + STEP)
    assert [(e.link, e.kind) for e in events] == [("sw-2/if:49", "drop")]
    assert NOW + 24 * STEP <= events[0].sample_ts <= NOW + 30 * STEP
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(TrafficAnomalyRow)) == 1
        inbox = session.scalars(select(AlertmanagerAlertRow)).all()
        anomalies = [a for a in inbox if a.labels["alertname"] == "traffic_anomaly"]
        assert len(anomalies) == 1
        assert anomalies[0].status == "firing"
        assert anomalies[0].labels["device"] == "sw-2"
        assert anomalies[0].annotations["onset_at"].startswith("2024-06-03T02:")
    # the low level lasts, but one event raises one alert; it resolves after anomaly_hold_s
    for b in buckets[36:]:
        assert service.anomaly_sync(int(b) + STEP) == []
    service.anomaly_sync(events[0].detected_at + 3600)
    with sessions() as session:
        row = session.get(AlertmanagerAlertRow, events[0].fingerprint)
        assert row is not None and row.status == "resolved"


def test_idle_uplink_should_get_a_cad_detector_only_once_it_carries_traffic(
    app: FastAPI, ids: dict[str, int], sessions: Callable[[], Session]
) -> None:
    """CAD's value range is 0 .. the priming week's peak: a link without traffic that week
    has no detector (and is not read back a week on every pass) until a daily retry."""
    with sessions() as session:
        inv.upsert_devices(
            session,
            [inv.DeviceRecord(name="sw-idle", district="xihu", kind=inv.DeviceKind.ACCESS_SWITCH,
                              address="127.0.8.9", snmp=inv.SnmpParams(
                                  version=inv.SnmpVersion.V2C), parent="agg-1")],
        )  # fmt: skip
        device_id = int(inv.devices_by_name(session, ["sw-idle"])["sw-idle"].id)  # type: ignore[arg-type]
        session.add(Port(device_id=device_id, ifindex=49, speed_bps=10**9, is_uplink=True))
        buckets = np.arange(NOW - 7 * 86_400, NOW, STEP, dtype=np.int64)
        copy_rows(session, "rollups", ROLLUP_COLUMNS,
                  _rows(device_id, "if:49", buckets, np.zeros(len(buckets))))  # fmt: skip
        session.commit()
    service: TrafficService = app.state.traffic
    assert service.anomaly_sync(NOW) == []
    idle = service._links["sw-idle/if:49"]
    assert idle.detector is None and idle.cursor == NOW
    assert service._links["sw-2/if:49"].detector is not None
    later = np.arange(NOW, NOW + 3600, STEP, dtype=np.int64)
    with sessions() as session:
        copy_rows(session, "rollups", ROLLUP_COLUMNS,
                  _rows(device_id, "if:49", later, np.full(len(later), 5e6)))  # fmt: skip
        session.commit()
    service.anomaly_sync(NOW + 3600)
    assert service._links["sw-idle/if:49"].detector is None  # no retry within the day
    service.anomaly_sync(NOW + 86_400)
    assert service._links["sw-idle/if:49"].detector is not None  # primed on traffic now seen


def test_capacity_ticket_should_be_opened_once_per_link(
    app: FastAPI, ids: dict[str, int], sessions: Callable[[], Session]
) -> None:
    service: TrafficService = app.state.traffic
    assert service.tickets is not None
    service.refit_sync(NOW)
    service.refit_sync(NOW + 86_400)
    with sessions() as session:
        page = ticket_repo.search_tickets(
            session, ticket_repo.TicketFilter(text="[capacity]"), limit=10
        )
    assert page.total == 1
    ticket = page.items[0].ticket
    assert ticket.title.startswith("[capacity] sw-1/if:49")
    assert ticket.priority.value == "P4"
