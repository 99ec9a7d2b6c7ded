"""The REST API in-process (httpx ASGITransport) on SQLite and PostgreSQL.

Each test runs inside an outer transaction that is rolled back afterwards; the app's
sessions join it with savepoints, so the endpoints' commits are real to the app.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from nocd.app import create_app
from nocd.config import Settings
from nocd.storage import inventory_repo as repo
from nocd.storage.db import make_engine
from nocd.storage.tokens import TokenRole, create_token, revoke_token

pytestmark = pytest.mark.integration

SECRET = "s3cret-community"
USM_KEY = "usm-auth-key-1"

INVENTORY = f"""\
districts:
  - {{id: xihu, name: Xihu}}
  - {{id: binjiang, name: Binjiang}}
  - {{id: shangcheng, name: Shangcheng}}
devices:
  - {{name: xihu-agg-01, district: xihu, kind: aggregation, address: 127.0.1.1, port: 161,
     snmp: {{version: 2c, community: {SECRET}}}}}
  - {{name: xihu-dslam-01, district: xihu, kind: dslam, address: 127.0.1.2, parent: xihu-agg-01,
     snmp: {{version: 3, user: noc, auth_protocol: sha, auth_key: {USM_KEY},
             priv_protocol: aes, priv_key: usm-priv-key-1}}}}
  - {{name: xihu-dslam-02, district: xihu, kind: dslam, address: 127.0.1.3, parent: xihu-agg-01,
     snmp: {{version: 2c, community: {SECRET}}}}}
  - {{name: bj-dslam-01, district: binjiang, kind: dslam, address: 127.0.2.1,
     snmp: {{version: 2c, community: {SECRET}}}}}
customers:
  - {{id: C1001, name: Customer 1001, sla_class: residential}}
  - {{id: C1002, name: Customer 1002, sla_class: enterprise}}
  - {{id: C1003, name: Customer 1003, sla_class: business, contact: "+86 571 0000"}}
lines:
  - {{device: xihu-dslam-01, ifindex: 1001, customer: C1001, plan_down_kbps: 8192,
     plan_up_kbps: 1024}}
  - {{device: xihu-dslam-01, ifindex: 1002, customer: C1002, plan_down_kbps: 51200,
     plan_up_kbps: 10240}}
"""


# --- fixtures --------------------------------------------------------------------------------


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
    """One valid token per role, plus a revoked operator token."""
    with sessions() as session:
        made = {role.value: create_token(session, f"test-{role.value}", role) for role in TokenRole}
        made["revoked"] = create_token(session, "test-revoked", TokenRole.OPERATOR)
        revoke_token(session, "test-revoked")
        session.commit()
    return made


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def stocked(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    """The INVENTORY above, imported through the API."""
    response = await client.post(
        "/api/v1/inventory/import",
        content=INVENTORY,
        headers={**bearer(tokens["operator"]), "Content-Type": "application/yaml"},
    )
    assert response.status_code == 200, response.text


# --- documentation, health -------------------------------------------------------------------


async def test_openapi_declares_bearer_security_and_the_inventory_paths(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    for path in ("/api/v1/districts", "/api/v1/devices/{name}", "/api/v1/lines/{device}/{ifindex}"):
        assert path in spec["paths"]
    assert spec["paths"]["/api/v1/devices"]["post"]["security"] == [{"bearer": []}]
    assert (
        "application/yaml"
        in (spec["paths"]["/api/v1/inventory/import"]["post"]["requestBody"]["content"])
    )


async def test_health_and_readiness_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


# --- authentication and roles ----------------------------------------------------------------

READS = [
    "/api/v1/districts",
    "/api/v1/districts/xihu",
    "/api/v1/devices",
    "/api/v1/devices/xihu-agg-01",
    "/api/v1/customers",
    "/api/v1/customers/C1001",
    "/api/v1/lines",
    "/api/v1/lines/xihu-dslam-01/1001",
    "/api/v1/inventory/export",
]

DEVICE = {
    "name": "xihu-dslam-09",
    "district": "xihu",
    "kind": "dslam",
    "address": "127.0.1.9",
    "snmp": {"version": "2c", "community": SECRET},
}
# (method, path, JSON body) for every write route.
WRITES = [
    ("POST", "/api/v1/districts", {"id": "gongshu", "name": "Gongshu"}),
    ("PUT", "/api/v1/districts/gongshu", {"name": "Gongshu"}),
    ("DELETE", "/api/v1/districts/shangcheng", None),
    ("POST", "/api/v1/devices", DEVICE),
    ("PUT", "/api/v1/devices/xihu-dslam-09", {k: v for k, v in DEVICE.items() if k != "name"}),
    ("DELETE", "/api/v1/devices/xihu-dslam-02", None),
    ("POST", "/api/v1/customers", {"id": "C2001", "name": "Customer 2001"}),
    ("PUT", "/api/v1/customers/C2001", {"name": "Customer 2001", "sla_class": "business"}),
    ("DELETE", "/api/v1/customers/C1003", None),
    (
        "POST",
        "/api/v1/lines",
        {
            "device": "xihu-dslam-02",
            "ifindex": 7,
            "customer": "C1001",
            "plan_down_kbps": 8192,
            "plan_up_kbps": 1024,
        },
    ),
    (
        "PUT",
        "/api/v1/lines/xihu-dslam-02/7",
        {"customer": "C1001", "plan_down_kbps": 8192, "plan_up_kbps": 1024},
    ),
    ("DELETE", "/api/v1/lines/xihu-dslam-01/1002", None),
    ("POST", "/api/v1/inventory/import", {"format": "yaml", "content": INVENTORY}),
]
WRITE_IDS = [f"{method} {path}" for method, path, _ in WRITES]


@pytest.mark.parametrize("path", READS)
async def test_reads_without_a_token_get_401_with_a_bearer_challenge(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "missing bearer token"}


@pytest.mark.parametrize(
    ("description", "header"),
    [
        ("unknown token", "Bearer nocd_not-a-token-at-all"),
        ("revoked token", "REVOKED"),
        ("wrong scheme", "Basic dXNlcjpwYXNz"),
    ],
)
async def test_reads_with_an_invalid_token_get_401(
    client: httpx.AsyncClient, tokens: dict[str, str], description: str, header: str
) -> None:
    if header == "REVOKED":
        header = f"Bearer {tokens['revoked']}"
    response = await client.get("/api/v1/devices", headers={"Authorization": header})
    assert response.status_code == 401, description
    assert response.headers["www-authenticate"].startswith("Bearer"), description


@pytest.mark.parametrize("role", [role.value for role in TokenRole])
async def test_every_role_but_district_may_read(
    client: httpx.AsyncClient, tokens: dict[str, str], stocked: None, role: str
) -> None:
    # a district token may only send its district's data to /api/v1/ingest (least privilege)
    expected = 403 if role == TokenRole.DISTRICT else 200
    for path in READS:
        response = await client.get(path, headers=bearer(tokens[role]))
        assert response.status_code == expected, f"{role} GET {path}: {response.text}"


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=WRITE_IDS)
async def test_writes_without_a_valid_token_get_401(
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    stocked: None,
    method: str,
    path: str,
    body: object,
) -> None:
    for headers in ({}, bearer("nocd_bogus"), bearer(tokens["revoked"])):
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, f"{headers}: {response.text}"
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=WRITE_IDS)
async def test_writes_need_the_operator_role(
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    stocked: None,
    method: str,
    path: str,
    body: object,
) -> None:
    before = (await client.get("/api/v1/inventory/export", headers=bearer(tokens["viewer"]))).text
    for role in ("viewer", "integration", "district"):
        response = await client.request(method, path, json=body, headers=bearer(tokens[role]))
        assert response.status_code == 403, f"{role}: {response.text}"
        assert "operator" in response.json()["detail"]
    after = (await client.get("/api/v1/inventory/export", headers=bearer(tokens["viewer"]))).text
    assert after == before  # a refused write changed nothing

    response = await client.request(method, path, json=body, headers=bearer(tokens["operator"]))
    assert response.status_code in (200, 201, 204), response.text


# --- malformed input -------------------------------------------------------------------------


async def test_malformed_json_gets_422_naming_the_position(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/districts",
        content=b'{"id": "gongshu", "name": ',
        headers={**bearer(tokens["operator"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "json_invalid"
    assert error["loc"][0] == "body"


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({**DEVICE, "port": "one-six-one"}, ["body", "port"], "int_parsing"),
        ({k: v for k, v in DEVICE.items() if k != "kind"}, ["body", "kind"], "missing"),
        ({**DEVICE, "colour": "red"}, ["body", "colour"], "extra_forbidden"),
        (
            {**DEVICE, "snmp": {"version": "2c", "communty": "x"}},
            ["body", "snmp", "communty"],
            "extra_forbidden",
        ),
    ],
    ids=["wrong-type", "missing", "unknown-field", "nested-unknown-field"],
)
async def test_ill_typed_json_gets_422_naming_the_field(
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    body: dict[str, object],
    loc: list[str],
    kind: str,
) -> None:
    response = await client.post("/api/v1/devices", json=body, headers=bearer(tokens["operator"]))
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [error["loc"] for error in errors] == [loc]
    assert errors[0]["type"] == kind


async def test_malformed_json_import_gets_422_naming_the_position(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/inventory/import",
        content=b'{"format": "yaml", "content": }',
        headers={**bearer(tokens["operator"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["type"], error["loc"]) == ("json_invalid", ["body", 30])


async def test_import_json_with_a_wrong_field_type_names_the_field(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/inventory/import",
        json={"format": "yaml", "content": INVENTORY, "prune": "maybe"},
        headers=bearer(tokens["operator"]),
    )
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", "prune"]]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"address": "999.1.1.1"}, {"address": "'999.1.1.1' is not an IP address"}),
        (
            {"district": "nowhere", "parent": "xihu-dslam-09"},
            {
                "district": "unknown district 'nowhere'",
                "parent": "a device cannot be its own parent",
            },
        ),
        ({"snmp": {"version": "2c"}}, {"snmp.community": "required for SNMPv2c"}),
    ],
    ids=["bad-address", "unknown-district-and-own-parent", "v2c-without-community"],
)
async def test_a_device_with_bad_values_gets_422_problems_and_is_not_stored(
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    stocked: None,
    changes: dict[str, object],
    expected: dict[str, str],
) -> None:
    body = {**DEVICE, **changes}
    response = await client.post("/api/v1/devices", json=body, headers=bearer(tokens["operator"]))
    assert response.status_code == 422
    assert response.json()["detail"].endswith("nothing was written")
    problems = {problem["field"]: problem["message"] for problem in response.json()["problems"]}
    assert problems == expected
    missing = await client.get("/api/v1/devices/xihu-dslam-09", headers=bearer(tokens["viewer"]))
    assert missing.status_code == 404


# --- import, export --------------------------------------------------------------------------

BAD_INVENTORY = """\
districts:
  - {id: xihu, name: Xihu}
devices:
  - {name: xihu-agg-01, district: xihu, kind: aggregation, address: 127.0.1.1,
     snmp: {version: 2c, community: public}}
  - {name: xihu-dslam-01, district: nowhere, kind: dslam, address: 127.0.1.2,
     snmp: {version: 2c, community: public}}
  - {name: xihu-dslam-02, district: xihu, kind: toaster, address: 127.0.1.3,
     snmp: {version: 2c, community: public}}
"""


@pytest.mark.parametrize("as_json", [False, True], ids=["yaml-body", "json-body"])
async def test_import_with_bad_rows_lists_every_problem_and_writes_nothing(
    client: httpx.AsyncClient, tokens: dict[str, str], as_json: bool
) -> None:
    headers = bearer(tokens["operator"])
    if as_json:
        response = await client.post(
            "/api/v1/inventory/import",
            json={"format": "yaml", "content": BAD_INVENTORY, "filename": "xihu.yaml"},
            headers=headers,
        )
    else:
        response = await client.post(
            "/api/v1/inventory/import?filename=xihu.yaml",
            content=BAD_INVENTORY,
            headers={**headers, "Content-Type": "application/yaml"},
        )
    assert response.status_code == 422
    texts = [problem["text"] for problem in response.json()["problems"]]
    assert texts == [
        "xihu.yaml:6: district: unknown district 'nowhere'",
        "xihu.yaml:8: kind: unknown kind 'toaster': must be one of dslam, access_switch, "
        "aggregation, bras",
    ]
    listing = await client.get("/api/v1/districts", headers=bearer(tokens["viewer"]))
    assert listing.json()["total"] == 0  # not even the good rows


async def test_import_of_csv_text_and_of_a_json_payload(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    headers = bearer(tokens["operator"])
    first = await client.post(
        "/api/v1/inventory/import",
        json={"inventory": {"districts": [{"id": "xihu", "name": "Xihu"}]}},
        headers=headers,
    )
    assert first.json() == {
        "changed": True,
        "counts": {"districts": {"created": 1, "updated": 0, "unchanged": 0, "deleted": 0}},
    }
    csv_text = (
        "name,district,kind,address,port,snmp_version,community,parent\n"
        "xihu-sw-01,xihu,access_switch,127.0.3.1,161,2c,public,\n"
    )
    second = await client.post(
        "/api/v1/inventory/import",
        content=csv_text,
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert second.status_code == 200, second.text
    assert second.json()["counts"]["devices"]["created"] == 1
    again = await client.post(
        "/api/v1/inventory/import",
        content=csv_text,
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert again.json()["changed"] is False


async def test_import_with_prune_removes_what_is_no_longer_listed(
    client: httpx.AsyncClient, tokens: dict[str, str], stocked: None
) -> None:
    smaller = {
        "customers": [{"id": "C1001", "name": "Customer 1001"}],
        "lines": [
            {
                "device": "xihu-dslam-01",
                "ifindex": 1001,
                "customer": "C1001",
                "plan_down_kbps": 8192,
                "plan_up_kbps": 1024,
            }
        ],
    }
    response = await client.post(
        "/api/v1/inventory/import",
        json={"inventory": smaller, "prune": True},
        headers=bearer(tokens["operator"]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["counts"]["customers"]["deleted"] == 2
    assert response.json()["counts"]["lines"]["deleted"] == 1
    customers = await client.get("/api/v1/customers", headers=bearer(tokens["viewer"]))
    assert [c["id"] for c in customers.json()["items"]] == ["C1001"]


async def test_export_redacts_secrets_and_reimports_without_change(
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    stocked: None,
    sessions: Callable[[], Session],
) -> None:
    exported = await client.get("/api/v1/inventory/export", headers=bearer(tokens["viewer"]))
    assert exported.headers["content-type"].startswith("application/yaml")
    assert SECRET not in exported.text and USM_KEY not in exported.text
    document = yaml.safe_load(exported.text)
    assert {d["snmp"].get("community") for d in document["devices"]} == {"***", None}

    reimport = await client.post(
        "/api/v1/inventory/import",
        content=exported.text,
        headers={**bearer(tokens["operator"]), "Content-Type": "application/yaml"},
    )
    assert reimport.status_code == 200, reimport.text
    assert reimport.json()["changed"] is False  # "***" kept the stored secrets
    with sessions() as session:
        device = repo.get_device(session, "xihu-dslam-01")
    assert device is not None and device.snmp.auth_key is not None
    assert device.snmp.auth_key.get_secret_value() == USM_KEY


async def test_csv_export_one_section_or_all_as_zip(
    client: httpx.AsyncClient, tokens: dict[str, str], stocked: None
) -> None:
    headers = bearer(tokens["viewer"])
    one = await client.get("/api/v1/inventory/export?format=csv&section=devices", headers=headers)
    assert one.headers["content-type"].startswith("text/csv")
    lines = one.text.splitlines()
    assert lines[0].startswith("name,district,kind,address,port,snmp_version,community,parent")
    assert len(lines) == 5 and SECRET not in one.text
    everything = await client.get("/api/v1/inventory/export?format=csv", headers=headers)
    archive = zipfile.ZipFile(io.BytesIO(everything.content))
    assert sorted(archive.namelist()) == [
        "customers.csv",
        "devices.csv",
        "districts.csv",
        "lines.csv",
    ]
    assert archive.read("devices.csv").decode() == one.text


# --- reads: filters, pagination, redaction ---------------------------------------------------


async def test_device_listing_filters_and_paginates_with_a_total(
    client: httpx.AsyncClient, tokens: dict[str, str], stocked: None
) -> None:
    headers = bearer(tokens["viewer"])
    page = await client.get(
        "/api/v1/devices?district=xihu&kind=dslam&limit=1&offset=1", headers=headers
    )
    body = page.json()
    assert (body["total"], body["limit"], body["offset"]) == (2, 1, 1)
    assert [d["name"] for d in body["items"]] == ["xihu-dslam-02"]

    children = await client.get("/api/v1/devices?parent=xihu-agg-01", headers=headers)
    assert [d["name"] for d in children.json()["items"]] == ["xihu-dslam-01", "xihu-dslam-02"]
    prefix = await client.get("/api/v1/devices?name_prefix=bj-", headers=headers)
    assert [d["name"] for d in prefix.json()["items"]] == ["bj-dslam-01"]
    past_the_end = await client.get("/api/v1/devices?offset=10", headers=headers)
    assert past_the_end.json()["items"] == [] and past_the_end.json()["total"] == 4


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("offset=-1", "offset"),
        ("kind=toaster", "kind"),
    ],
)
async def test_bad_query_parameters_get_422_naming_them(
    client: httpx.AsyncClient, tokens: dict[str, str], query: str, loc: str
) -> None:
    response = await client.get(f"/api/v1/devices?{query}", headers=bearer(tokens["viewer"]))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", loc]


async def test_other_listings_filter(
    client: httpx.AsyncClient, tokens: dict[str, str], stocked: None
) -> None:
    headers = bearer(tokens["viewer"])
    enterprise = await client.get("/api/v1/customers?sla_class=enterprise", headers=headers)
    assert [c["id"] for c in enterprise.json()["items"]] == ["C1002"]
    lines = await client.get("/api/v1/lines?customer=C1002", headers=headers)
    assert [(ln["device"], ln["ifindex"]) for ln in lines.json()["items"]] == [
        ("xihu-dslam-01", 1002)
    ]
    by_district = await client.get("/api/v1/lines?district=binjiang", headers=headers)
    assert by_district.json()["total"] == 0
    districts = await client.get("/api/v1/districts?limit=1", headers=headers)
    assert districts.json()["total"] == 3 and len(districts.json()["items"]) == 1


async def test_devices_never_show_snmp_secrets(
    client: httpx.AsyncClient, tokens: dict[str, str], stocked: None
) -> None:
    headers = bearer(tokens["viewer"])
    v3 = (await client.get("/api/v1/devices/xihu-dslam-01", headers=headers)).json()
    assert v3["snmp"] == {
        "version": "3",
        "community": None,
        "user": "noc",
        "auth_protocol": "sha",
        "auth_key": "***",
        "priv_protocol": "aes",
        "priv_key": "***",
    }
    listing = await client.get("/api/v1/devices?limit=1000", headers=headers)
    assert SECRET not in listing.text and USM_KEY not in listing.text


async def test_unknown_keys_get_404(
    client: httpx.AsyncClient, tokens: dict[str, str], stocked: None
) -> None:
    headers = bearer(tokens["viewer"])
    for path in ("/api/v1/devices/nope", "/api/v1/lines/xihu-dslam-01/9", "/api/v1/customers/X"):
        assert (await client.get(path, headers=headers)).status_code == 404, path


# --- single-record writes --------------------------------------------------------------------


async def test_put_device_with_redacted_secret_keeps_the_stored_one(
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    stocked: None,
    sessions: Callable[[], Session],
) -> None:
    headers = bearer(tokens["operator"])
    device = (await client.get("/api/v1/devices/xihu-dslam-02", headers=headers)).json()
    body = {
        "district": device["district"],
        "kind": device["kind"],
        "address": "127.0.1.33",
        "parent": device["parent"],
        "snmp": {"version": "2c", "community": device["snmp"]["community"]},
    }
    response = await client.put("/api/v1/devices/xihu-dslam-02", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["address"] == "127.0.1.33"
    with sessions() as session:
        stored = repo.get_device(session, "xihu-dslam-02")
    assert stored is not None and stored.snmp.community is not None
    assert stored.snmp.community.get_secret_value() == SECRET


async def test_redacted_secret_without_a_stored_one_is_a_problem(
    client: httpx.AsyncClient, tokens: dict[str, str], stocked: None
) -> None:
    body = {**DEVICE, "snmp": {"version": "2c", "community": "***"}}
    response = await client.post("/api/v1/devices", json=body, headers=bearer(tokens["operator"]))
    assert response.status_code == 422
    (problem,) = response.json()["problems"]
    assert problem["field"] == "snmp.community"
    assert "none is stored" in problem["message"]


async def test_create_twice_conflicts_and_deletes_refuse_while_referenced(
    client: httpx.AsyncClient, tokens: dict[str, str], stocked: None
) -> None:
    headers = bearer(tokens["operator"])
    again = await client.post(
        "/api/v1/districts", json={"id": "xihu", "name": "Xihu"}, headers=headers
    )
    assert again.status_code == 409
    for path in (
        "/api/v1/districts/xihu",
        "/api/v1/devices/xihu-dslam-01",
        "/api/v1/devices/xihu-agg-01",
        "/api/v1/customers/C1001",
    ):
        response = await client.delete(path, headers=headers)
        assert response.status_code == 409, f"{path}: {response.text}"
    assert (
        await client.delete("/api/v1/lines/xihu-dslam-01/1001", headers=headers)
    ).status_code == 204
    gone = await client.get("/api/v1/lines/xihu-dslam-01/1001", headers=headers)
    assert gone.status_code == 404
    assert (await client.get("/api/v1/lines", headers=headers)).json()["total"] == 1


async def test_put_with_a_key_that_contradicts_the_path_is_refused(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await client.put(
        "/api/v1/districts/xihu",
        json={"id": "other", "name": "X"},
        headers=bearer(tokens["operator"]),
    )
    assert response.status_code == 422
    assert "differs from the path" in response.json()["detail"]


# --- metrics ---------------------------------------------------------------------------------


async def test_metrics_count_devices_by_district_and_kind(
    client: httpx.AsyncClient, stocked: None
) -> None:
    text = (await client.get("/metrics")).text
    assert 'nocd_inventory_devices{district="xihu",kind="dslam"} 2.0' in text
    assert 'nocd_inventory_devices{district="binjiang",kind="dslam"} 1.0' in text
    assert 'nocd_inventory_devices{district="binjiang",kind="bras"} 0.0' in text
    assert 'nocd_build_info{role="all"' in text


# --- database unavailable --------------------------------------------------------------------


async def test_unreachable_database_gives_503_everywhere_but_healthz(tmp_path) -> None:
    """An SQLite file in a directory that does not exist cannot be opened: a dead database."""
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'nocd.db'}")
    app = create_app(Settings(), engine=engine)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://nocd.test") as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["status"] == "unavailable"
            assert "unable to open database file" in ready.json()["reason"]
            api = await client.get("/api/v1/devices", headers=bearer("nocd_anything"))
            assert api.status_code == 503
            assert api.json() == {"detail": "database unavailable"}
            assert (await client.get("/metrics")).status_code == 200
    finally:
        engine.dispose()
