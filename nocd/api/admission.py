"""Admission control: no more requests in the handlers at once than pooled connections.

FastAPI runs the sync endpoints, their dependencies and the response validation on anyio's
worker threads (40). A request holds its session's connection from the token lookup until the
response is validated, and between those steps it waits for a thread. When more requests are
inside than the pool has connections, the threads fill with requests waiting for a connection
while the requests holding the connections wait for a thread, until ``pool_timeout`` (30 s)
fails them all (the soak saw this at ~50 req/s; docs/reliability.md, finding 1). Admitting at
most as many requests as the pool has connections, and fewer than there are threads, makes
that cycle impossible; the others wait in an asyncio queue, which costs nothing.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["AdmissionLimit", "admission_limit"]

THREADS = 40  # anyio's default thread limiter
DEFAULT_LIMIT = 8  # pools without a fixed size (SQLite in memory, NullPool)


def admission_limit(engine: Engine) -> int:
    """How many requests may be inside at once for ``engine``'s pool (below the threads)."""
    pool = engine.pool
    if isinstance(pool, QueuePool):
        capacity = pool.size() + max(pool._max_overflow, 0)  # no public getter
        return max(1, min(capacity, THREADS // 2))
    return DEFAULT_LIMIT


class AdmissionLimit:
    """ASGI middleware: at most ``limit`` HTTP requests are past it at once."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._slots: asyncio.Semaphore | None = None  # made on the serving loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        async with self._slots:
            await self.app(scope, receive, send)
