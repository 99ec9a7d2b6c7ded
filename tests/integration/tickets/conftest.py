"""Fixtures of the ticket API tests: an app on the shared database inside an outer transaction
(rolled back after each test), a driven clock, one token per role, and a stocked inventory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from nocd.app import create_app
from nocd.config import Settings
from nocd.storage.tokens import TokenRole, create_token
from nocd.ticket_service import TicketService
from tests.integration.test_api import INVENTORY
from tests.integration.tickets.helpers import Clock, auth


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
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(engine: Engine, sessions: Callable[[], Session], clock: Clock) -> FastAPI:
    app = create_app(Settings(), engine=engine, session_factory=sessions)
    app.state.tickets.clock = clock
    return app


@pytest.fixture
def service(app: FastAPI) -> TicketService:
    return app.state.tickets


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://nocd.test") as client:
        yield client


@pytest.fixture
def tokens(sessions: Callable[[], Session]) -> dict[str, str]:
    with sessions() as session:
        made = {role.value: create_token(session, f"t-{role.value}", role) for role in TokenRole}
        session.commit()
    return made


@pytest.fixture
async def stocked(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    response = await client.post(
        "/api/v1/inventory/import",
        content=INVENTORY,
        headers={**auth(tokens["operator"]), "Content-Type": "application/yaml"},
    )
    assert response.status_code == 200, response.text
    technician = {
        "name": "Wang Wei",
        "district": "xihu",
        "skills": ["dsl_line", "cpe", "installation"],
        "shifts": [
            {"name": "all", "days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "00:00"}
        ],
    }
    response = await client.put(
        "/api/v1/technicians/t-wang", json=technician, headers=auth(tokens["operator"])
    )
    assert response.status_code == 201, response.text
