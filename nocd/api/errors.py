"""Exception handlers: how nocd errors become HTTP responses (shapes documented in docs/api.md).

- ConfigError (bad inventory) → 422 ``{"detail": str, "problems": [{file, line, field,
  message, text}]}``
- request validation (FastAPI's default, kept) → 422 ``{"detail": [{"loc", "msg", "type"}]}``
- IntegrityError (duplicate, still referenced) → 409 ``{"detail": str}``
- StorageUnavailable, OperationalError (database down) → 503 ``{"detail": str}``
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from nocd.errors import ConfigError, StorageUnavailable

__all__ = ["document_error_shapes", "install_error_handlers", "problems_body"]

_logger = logging.getLogger(__name__)


def problems_body(exc: ConfigError) -> dict[str, object]:
    """The 422 body for a ConfigError: a summary plus every located problem."""
    return {
        "detail": f"{len(exc.problems)} problem(s); nothing was written",
        "problems": [
            {
                "file": problem.file,
                "line": problem.line,
                "field": problem.field,
                "message": problem.message,
                "text": str(problem),
            }
            for problem in exc.problems
        ],
    }


async def _config_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConfigError)
    return JSONResponse(problems_body(exc), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # The constraint text may quote row values; keep it out of the response and the log.
    _logger.debug("integrity error on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "the change conflicts with existing data (duplicate or still referenced)"},
        status_code=status.HTTP_409_CONFLICT,
    )


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # One ERROR per outage comes from the scheduled readiness check, not one per request.
    _logger.debug("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "database unavailable"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "10"},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers above on ``app``."""
    app.add_exception_handler(ConfigError, _config_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(StorageUnavailable, _database_unavailable)
    # The driver lost or never got its connection (server down, database dropped, file gone).
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(InterfaceError, _database_unavailable)


def document_error_shapes(app: FastAPI) -> None:
    """Make ``/openapi.json`` describe both 422 bodies nocd sends.

    FastAPI documents only request validation (``detail`` as a list); domain validation
    (inventory problems, ticket fields, path/body mismatches) answers ``detail`` as a string,
    optionally with ``problems``. Clients generated from the schema must accept both.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        error = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
        if error is not None:
            listed = error["properties"]["detail"]
            error["properties"]["detail"] = {
                "anyOf": [listed, {"type": "string"}],
                "title": "Detail",
            }
            error["properties"]["problems"] = {
                "type": "array",
                "items": {"type": "object"},
                "title": "Problems",
            }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
