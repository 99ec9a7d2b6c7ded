"""The API's authorization matrix: declared in code once, checked against a hand-written table.

Routes declare who may call them with ``nocd.api.deps.require_role(*roles)`` (``ReadAccess``,
``WriteAccess`` and the routers' own aliases). ``declared_roles`` reads that declaration back
from the running app — the very ``allowed`` set the dependency enforces — so the expected
matrix is derived, not copied. ``WRITE_ROUTES`` below is the hand-written statement of policy
for every route that changes something; the two must agree, so a write route that silently
loses (or widens) its role check fails here. test_api_schemathesis.py then sends generated
requests with every role's token and holds every response to this matrix.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from httpx import ASGITransport, AsyncClient

from nocd.api.deps import READ_ROLES
from nocd.app import create_app
from nocd.config import DaemonSettings, Role, Settings, StorageSettings
from nocd.storage import inventory_repo
from nocd.storage.db import make_engine, session_factory, upgrade
from nocd.storage.tokens import TokenRole, create_token

pytestmark = pytest.mark.integration

Route = tuple[str, str]  # (method, path template)
OPERATOR = frozenset({TokenRole.OPERATOR})
TICKETING = frozenset({TokenRole.OPERATOR, TokenRole.INTEGRATION})
READERS = frozenset(READ_ROLES)
EVERY_ROLE = frozenset(TokenRole)

# The policy, by hand: every route that changes state, and the reads narrower than READERS.
WRITE_ROUTES: dict[Route, frozenset[TokenRole]] = {
    ("POST", "/api/v1/districts"): OPERATOR,
    ("PUT", "/api/v1/districts/{district_id}"): OPERATOR,
    ("DELETE", "/api/v1/districts/{district_id}"): OPERATOR,
    ("POST", "/api/v1/devices"): OPERATOR,
    ("PUT", "/api/v1/devices/{name}"): OPERATOR,
    ("DELETE", "/api/v1/devices/{name}"): OPERATOR,
    ("POST", "/api/v1/customers"): OPERATOR,
    ("PUT", "/api/v1/customers/{customer_id}"): OPERATOR,
    ("DELETE", "/api/v1/customers/{customer_id}"): OPERATOR,
    ("POST", "/api/v1/lines"): OPERATOR,
    ("PUT", "/api/v1/lines/{device}/{ifindex}"): OPERATOR,
    ("DELETE", "/api/v1/lines/{device}/{ifindex}"): OPERATOR,
    ("POST", "/api/v1/inventory/import"): OPERATOR,
    ("POST", "/api/v1/maintenance"): OPERATOR,
    ("PUT", "/api/v1/maintenance/{window_id}"): OPERATOR,
    ("DELETE", "/api/v1/maintenance/{window_id}"): OPERATOR,
    ("POST", "/api/v1/alertmanager/webhook"): frozenset({TokenRole.INTEGRATION}),
    ("POST", "/api/v1/ingest"): frozenset({TokenRole.DISTRICT}),
    ("POST", "/api/v1/tickets"): TICKETING,
    ("POST", "/api/v1/tickets/hotline"): TICKETING,
    ("PATCH", "/api/v1/tickets/{ticket_id}"): TICKETING,
    ("POST", "/api/v1/tickets/{ticket_id}/transitions"): TICKETING,
    ("POST", "/api/v1/tickets/{ticket_id}/hold"): TICKETING,
    ("POST", "/api/v1/tickets/{ticket_id}/release"): TICKETING,
    ("POST", "/api/v1/tickets/{ticket_id}/comments"): TICKETING,
    ("POST", "/api/v1/tickets/{ticket_id}/assign"): TICKETING,
    ("POST", "/api/v1/tickets/{ticket_id}/dispatch"): TICKETING,
    ("POST", "/api/v1/tickets/{ticket_id}/arrival"): TICKETING,
    ("POST", "/api/v1/tickets/{ticket_id}/attachments"): TICKETING,
    ("PUT", "/api/v1/technicians/{technician_id}"): TICKETING,
    ("DELETE", "/api/v1/technicians/{technician_id}"): TICKETING,
    ("POST", "/api/v1/webhooks"): TICKETING,
    ("PATCH", "/api/v1/webhooks/{subscription_id}"): TICKETING,
    ("DELETE", "/api/v1/webhooks/{subscription_id}"): TICKETING,
}
NARROW_READS: dict[Route, frozenset[TokenRole]] = {
    # subscriptions carry receiver URLs; their secrets are never returned
    ("GET", "/api/v1/webhooks"): TICKETING,
    ("GET", "/api/v1/webhooks/{subscription_id}"): TICKETING,
    ("GET", "/api/v1/webhooks/{subscription_id}/deliveries"): TICKETING,
}
UNAUTHENTICATED = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}


def _roles_of(dependant: object) -> list[frozenset[TokenRole]]:
    """Every ``require_role`` declaration in a route's dependency tree."""
    found: list[frozenset[TokenRole]] = []
    for sub in getattr(dependant, "dependencies", []):
        if inspect.isfunction(sub.call) and sub.call.__qualname__.startswith("require_role."):
            allowed = inspect.getclosurevars(sub.call).nonlocals["allowed"]
            found.append(frozenset(allowed) if allowed else EVERY_ROLE)
        found.extend(_roles_of(sub))
    return found


def declared_roles(app: FastAPI) -> dict[Route, frozenset[TokenRole] | None]:
    """(method, path) → the roles the route admits, or None for a route without a token."""
    matrix: dict[Route, frozenset[TokenRole] | None] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        declared = _roles_of(route.dependant)
        assert len(declared) <= 1, f"{route.path}: several role checks {declared}"
        for method in route.methods:
            matrix[(method, route.path)] = declared[0] if declared else None
    return matrix


def central_app(tmp: Path) -> tuple[FastAPI, dict[str, str], str]:
    """A migrated central app (every router, ingest included) and one token per identity."""
    url = f"sqlite:///{tmp / 'nocd.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_factory(engine)() as session:
        inventory_repo.upsert_districts(
            session, [inventory_repo.DistrictRecord(id="xihu", name="Xihu")]
        )
        tokens = {
            role.value: create_token(
                session,
                f"authz-{role.value}",
                role,
                district="xihu" if role is TokenRole.DISTRICT else None,
            )
            for role in TokenRole
        }
        session.commit()
    tokens["bad"] = "nocd_" + "A" * 43  # well-formed, never issued
    settings = Settings(storage=StorageSettings(url=url), daemon=DaemonSettings(role=Role.CENTRAL))
    return create_app(settings, engine=engine), tokens, url


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    app, tokens, _ = central_app(tmp_path_factory.mktemp("authz"))
    yield app, tokens
    app.state.engine.dispose()


def test_declared_roles_match_the_hand_written_policy(central) -> None:
    app, _ = central
    matrix = declared_roles(app)
    api = {route: roles for route, roles in matrix.items() if route[1].startswith("/api/v1/")}
    assert len(api) >= 70, sorted(api)
    unguarded = sorted(route for route, roles in api.items() if roles is None)
    assert not unguarded, f"/api/v1 routes without a role check: {unguarded}"
    writes = {route: roles for route, roles in api.items() if route[0] != "GET"}
    assert writes == WRITE_ROUTES, {
        route: (writes.get(route), WRITE_ROUTES.get(route))
        for route in writes.keys() | WRITE_ROUTES.keys()
        if writes.get(route) != WRITE_ROUTES.get(route)
    }
    reads = {route: roles for route, roles in api.items() if route[0] == "GET"}
    assert {r: roles for r, roles in reads.items() if roles != READERS} == NARROW_READS
    assert {r for r, roles in matrix.items() if roles is None} == UNAUTHENTICATED


def test_a_district_token_may_only_ingest() -> None:
    """Least privilege: the token kept on a district host reads and changes nothing else."""
    assert TokenRole.DISTRICT not in READERS
    for route, roles in {**WRITE_ROUTES, **NARROW_READS}.items():
        if route != ("POST", "/api/v1/ingest"):
            assert TokenRole.DISTRICT not in roles, route


async def test_every_route_answers_each_identity_as_declared(central) -> None:
    """One request per route × identity, bodies empty: 401 without/with a bad token, 403 for a
    role the route does not admit, anything else for one it does (mostly 404/422 here)."""
    app, tokens = central
    matrix = declared_roles(app)
    failures = []
    async with AsyncClient(transport=ASGITransport(app), base_url="http://nocd") as client:
        for (method, path), roles in sorted(matrix.items()):
            if roles is None:
                continue
            url = path.replace("{ifindex}", "1").replace("{", "").replace("}", "")
            for identity in ("none", "bad", *(role.value for role in TokenRole)):
                headers = (
                    {} if identity == "none" else {"Authorization": f"Bearer {tokens[identity]}"}
                )
                body = (
                    {"district": "xihu", "epoch": 1, "items": []}
                    if path.endswith("/ingest")
                    else {}
                )
                response = await client.request(method, url, json=body, headers=headers)
                status = response.status_code
                if identity in ("none", "bad"):
                    ok = status == 401 and "WWW-Authenticate" in response.headers
                elif TokenRole(identity) in roles:
                    ok = status not in (401, 403) and status < 500
                else:
                    ok = status == 403
                if not ok:
                    failures.append(
                        f"{method} {path} as {identity}: {status} {response.text[:120]}"
                    )
    assert not failures, "\n".join(failures)
