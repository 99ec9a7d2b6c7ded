"""Property-based API test: schemathesis generates requests for every ``/api/v1`` operation
from ``/openapi.json``, sends each with every identity — a token of each role, no token, a
token never issued — and checks: no 5xx, responses matching the schema, and the authorization
matrix on every response (test_api_authz.py derives it from the routes' ``require_role`` and
checks it against the hand-written policy). An identity the route admits never gets 401/403;
any other gets 403, or 401 without a valid token.

The app is a central nocd (every router, ingest included) on a migrated SQLite file of its
own (real commits), with the test district and a seed ticket. Derandomized: the same requests
on every run; examples per operation are few to keep CI time modest (~1 min).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from nocd.storage.db import session_factory
from nocd.storage.tokens import TokenRole
from nocd.ticket_service import TicketService
from tests.integration.test_api_authz import central_app, declared_roles

pytestmark = pytest.mark.integration

OPERATIONS = r"^/api/v1/"
# examples per operation and identity: the full run for the two ticketing roles, a few
# for the rest (enough to see every route answer each identity)
EXAMPLES = {"operator": 8, "integration": 3, "viewer": 2, "district": 2, "none": 1, "bad": 1}


@pytest.fixture(scope="module")
def module_app(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    app, tokens, _ = central_app(tmp)
    service: TicketService = app.state.tickets
    with session_factory(app.state.engine)() as session:
        service.create(
            session,
            template="broadband_fault",
            district="xihu",
            actor="seed",
            now=service.clock(),
            title="seed ticket",
        )
    yield app, tokens
    app.state.engine.dispose()


def _authorized(identity: str, roles: frozenset[TokenRole] | None, status: int) -> str | None:
    """None when ``status`` fits the matrix, else what is wrong."""
    if roles is None:
        return "route has no role check"
    if identity in ("none", "bad"):
        return None if status == 401 else f"expected 401 without a valid token, got {status}"
    if TokenRole(identity) in roles:
        return None if status not in (401, 403) else f"admitted role got {status}"
    return None if status == 403 else f"expected 403 for role {identity}, got {status}"


def _runner(
    operation: Any,
    examples: int,
    headers: dict[str, str],
    identity: str,
    roles: frozenset[TokenRole] | None,
    statuses: Counter[int],
) -> Callable[[], None]:
    """The hypothesis test of one operation for one identity."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        derandomize=True,  # the same requests on every run: CI must not flake on luck
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        if operation.path == "/api/v1/ingest" and isinstance(case.body, dict):
            case.body["district"] = "xihu"  # the district token's own district
        response = case.call_and_validate(
            headers=headers, checks=[not_a_server_error, response_schema_conformance]
        )
        statuses[response.status_code] += 1
        wrong = _authorized(identity, roles, response.status_code)
        assert wrong is None, f"{wrong}: {response.text[:200]}"

    return run


@pytest.mark.parametrize("identity", list(EXAMPLES))
def test_every_api_operation_never_5xx_matches_its_schema_and_the_role_matrix(
    module_app, identity: str
):
    """Every operation, ``EXAMPLES[identity]`` generated requests each (schemathesis strategies
    driven by hypothesis directly: its pytest plugin does not run under this pytest)."""
    app, tokens = module_app
    matrix = declared_roles(app)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=OPERATIONS)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 70, [op.label for op in operations]
    headers = {} if identity == "none" else {"Authorization": f"Bearer {tokens[identity]}"}
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for operation in operations:
        roles = matrix[(operation.method.upper(), operation.path)]
        try:
            _runner(operation, EXAMPLES[identity], headers, identity, roles, statuses)()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    if identity == "operator":
        # the generated requests reached the endpoints (not only validation errors)
        assert statuses[200] + statuses[201] + statuses[204] > len(operations), statuses
