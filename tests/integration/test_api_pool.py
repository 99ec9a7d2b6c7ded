"""The API under more concurrent requests than threads and pooled connections.

The soak found central's API stalling for the pool timeout (docs/reliability.md): the token
lookup checked out a connection and kept its transaction open while the request waited for
a worker thread to run the endpoint, and the threads were all taken by requests waiting for a
connection. Here the pool has one connection and the thread limiter two tokens, so without
the fix the second wave of requests cannot make progress until ``pool_timeout``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import anyio.to_thread
import httpx
import pytest
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.orm import Session

from nocd.app import create_app
from nocd.config import Settings
from nocd.storage.tokens import TokenRole, create_token

pytestmark = pytest.mark.integration

POOL_TIMEOUT_S = 5.0


@pytest.fixture
def tiny_pool(fresh_db_url: str) -> Iterator[Engine]:
    url = make_url(fresh_db_url)
    extra = {"connect_args": {"check_same_thread": False}} if url.drivername == "sqlite" else {}
    engine = create_engine(
        url, pool_size=1, max_overflow=0, pool_timeout=POOL_TIMEOUT_S, **extra
    )
    yield engine
    engine.dispose()


async def test_requests_beyond_threads_and_connections_all_complete(tiny_pool: Engine) -> None:
    with Session(tiny_pool) as session:
        token = create_token(session, "pool-viewer", TokenRole.VIEWER)
        session.commit()
    app = create_app(Settings(), engine=tiny_pool)
    limiter = anyio.to_thread.current_default_thread_limiter()
    saved = limiter.total_tokens
    limiter.total_tokens = 2
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://nocd.test") as client:
            loop = asyncio.get_running_loop()
            started = loop.time()
            responses = await asyncio.gather(
                *(client.get("/api/v1/tickets", headers=headers) for _ in range(12))
            )
            elapsed = loop.time() - started
    finally:
        limiter.total_tokens = saved
    assert [r.status_code for r in responses] == [200] * 12, [r.text for r in responses]
    # No request waited out the pool timeout for a connection another request sat on.
    assert elapsed < POOL_TIMEOUT_S, elapsed
