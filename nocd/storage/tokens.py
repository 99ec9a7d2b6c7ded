"""API bearer tokens: create (printed once, stored as sha256 only), authenticate, revoke."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from nocd.storage.models import ApiToken

__all__ = [
    "TOKEN_PREFIX",
    "TokenNameTakenError",
    "TokenRecord",
    "TokenRole",
    "authenticate",
    "create_token",
    "hash_token",
    "list_tokens",
    "revoke_token",
]

TOKEN_PREFIX = "nocd_"  # lets secret scanners and operators recognise a leaked token
_TOKEN_BYTES = 32  # 256 bits of entropy from the OS CSPRNG


class TokenRole(StrEnum):
    """What a token may do: read everything, write inventory, integrate, or act as a district."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    INTEGRATION = "integration"
    DISTRICT = "district"


class TokenNameTakenError(ValueError):
    """Raised by ``create_token`` when a token with that name already exists."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRecord:
    """A stored token as the API sees it: never the token or its hash."""

    id: int
    name: str
    role: TokenRole
    created_at: datetime
    revoked_at: datetime | None
    district: str | None = None  # role ``district``: the district it may send data for


def hash_token(token: str) -> str:
    """sha256 hex digest of a token, the only form in which it is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _record(row: ApiToken) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        name=row.name,
        role=TokenRole(row.role),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        district=row.district,
    )


def create_token(
    session: Session,
    name: str,
    role: TokenRole | str,
    *,
    now: datetime | None = None,
    district: str | None = None,
) -> str:
    """Store a new token for ``name`` with ``role`` and return it; this is the only time it is seen.

    ``district`` binds a ``district`` token to the one district whose data it may send
    (central's ingest refuses a district token without one). The caller commits. Raises
    ``ValueError`` for an unknown role or a district on another role, and
    ``TokenNameTakenError`` when ``name`` is in use (revoked tokens keep their name, so a
    name is never reused).
    """
    role = TokenRole(role)
    if not name.strip():
        raise ValueError("token name must not be empty")
    if district is not None and role is not TokenRole.DISTRICT:
        raise ValueError("only a district token is bound to a district")
    if district is not None and not district.strip():
        raise ValueError("district must not be empty")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise TokenNameTakenError(f"a token named {name!r} already exists")
    token = TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
    session.add(
        ApiToken(
            name=name,
            role=role.value,
            token_hash=hash_token(token),
            created_at=now or datetime.now(UTC),
            revoked_at=None,
            district=district,
        )
    )
    session.flush()
    return token


def authenticate(session: Session, token: str) -> TokenRecord | None:
    """The token's record if ``token`` is known and not revoked, else ``None``."""
    if not token:
        return None
    digest = hash_token(token)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    # The lookup is by hash, so timing reveals nothing about the token itself; the
    # constant-time compare guards against a database collation that matches loosely.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if row.revoked_at is not None:
        return None
    return _record(row)


def revoke_token(session: Session, name: str, *, now: datetime | None = None) -> bool:
    """Revoke the token called ``name``; ``False`` if there is none. The caller commits."""
    row = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = now or datetime.now(UTC)
        session.flush()
    return True


def list_tokens(session: Session) -> list[TokenRecord]:
    """Every token record, revoked ones included, ordered by name."""
    return [_record(row) for row in session.scalars(select(ApiToken).order_by(ApiToken.name))]
