"""Request dependencies shared by the routers: the database session and bearer-token roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from nocd.storage.tokens import TokenRecord, TokenRole, authenticate

__all__ = [
    "MAX_EPOCH_S",
    "READ_ROLES",
    "Offset",
    "ReadAccess",
    "RowId",
    "SessionDep",
    "WriteAccess",
    "bearer_scheme",
    "get_session",
    "require_role",
]

# auto_error=False: a missing header gets our 401 (with WWW-Authenticate), not FastAPI's 403.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="API token printed once by `nocd token create --role ROLE --name NAME`.",
)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def get_session(request: Request) -> Iterator[Session]:
    """One session per request from the app's session factory; the endpoint commits."""
    factory: Callable[[], Session] = request.app.state.session_factory
    with factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def require_role(*roles: TokenRole) -> Callable[..., TokenRecord]:
    """A dependency admitting a valid token of one of ``roles`` (any role when none is given).

    401 with ``WWW-Authenticate: Bearer`` when the token is missing, unknown or revoked;
    403 when it is valid but its role is not allowed.
    """
    allowed = frozenset(roles)

    def dependency(
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    ) -> TokenRecord:
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers=_CHALLENGE
            )
        record = authenticate(session, credentials.credentials)
        if record is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "invalid or revoked token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if allowed and record.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {record.role} may not do this; needs {' or '.join(sorted(allowed))}",
            )
        return record

    return dependency


# A district token lives on a district host and only sends that district's data to
# /api/v1/ingest: it reads nothing (least privilege; docs/security.md).
READ_ROLES = (TokenRole.VIEWER, TokenRole.OPERATOR, TokenRole.INTEGRATION)
ReadAccess = Annotated[TokenRecord, Depends(require_role(*READ_ROLES))]
WriteAccess = Annotated[TokenRecord, Depends(require_role(TokenRole.OPERATOR))]


# Bounds that keep generated or hostile numbers inside what the databases store (SQLite and
# PostgreSQL integers are 64-bit; datetimes end in year 9999).
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="items to skip")]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="row id")]
MAX_EPOCH_S = 253_402_300_799  # 9999-12-31T23:59:59Z
