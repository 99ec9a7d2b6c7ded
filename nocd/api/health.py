"""Liveness (``/healthz``) and readiness (``/readyz``: database reachable, schema current)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from nocd.errors import StorageUnavailable

__all__ = ["CHECK_TIMEOUT_S", "DatabaseHealth", "router"]

_logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 5.0  # a database that answers slower than this counts as unavailable


class DatabaseHealth:
    """Whether the database is reachable and at the current schema, logged on change only.

    ``check()`` is called by ``/readyz`` and by the scheduler. The first failure after a
    good state logs one ERROR; the first success after a failure logs one INFO (HA
    ``update_coordinator``). Everything in between is silent, however often it is asked.
    """

    def __init__(self, engine: Engine, check_schema: Callable[[Engine], object]) -> None:
        self._engine = engine
        self._check_schema = check_schema
        self.ready: bool | None = None  # None until the first check
        self.reason = "not checked yet"

    async def check(self) -> bool:
        """Run the schema check off the event loop; update and return the readiness."""
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                await asyncio.to_thread(self._check_schema, self._engine)
        except StorageUnavailable as exc:
            self._unavailable(str(exc))
        except SQLAlchemyError as exc:
            self._unavailable(_first_line(exc))
        except TimeoutError:
            self._unavailable(f"no answer within {CHECK_TIMEOUT_S:g} s")
        else:
            self._available()
        return bool(self.ready)

    def _unavailable(self, reason: str) -> None:
        if self.ready is not False:
            _logger.error("database unavailable: %s (readiness fails until it is back)", reason)
        self.ready = False
        self.reason = reason

    def _available(self) -> None:
        if self.ready is False:
            _logger.info("database available again after: %s", self.reason)
        self.ready = True
        self.reason = "ok"


def _first_line(exc: BaseException) -> str:
    # SQLAlchemy appends the statement and a help link; the driver's first line is the cause.
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: 200 while the process runs")
async def healthz() -> dict[str, str]:
    """Always 200 while the process can answer HTTP."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: 200 when the database is reachable and its schema current",
    responses={503: {"description": "database unreachable or schema out of date"}},
)
async def readyz(request: Request) -> JSONResponse:
    """200 ``{"status": "ready"}``, else 503 ``{"status": "unavailable", "reason": ...}``."""
    health: DatabaseHealth = request.app.state.db_health
    if await health.check():
        return JSONResponse({"status": "ready"})
    return JSONResponse(
        {"status": "unavailable", "reason": health.reason},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )
