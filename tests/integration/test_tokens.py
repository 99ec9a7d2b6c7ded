"""API token repository on SQLite and PostgreSQL: only hashes stored, revoked refused."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from click.testing import Result
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from nocd.cli import app as cli_app
from nocd.storage.db import make_engine, session_factory
from nocd.storage.models import ApiToken
from nocd.storage.tokens import (
    TokenNameTakenError,
    TokenRole,
    authenticate,
    create_token,
    list_tokens,
    revoke_token,
)

pytestmark = pytest.mark.integration


def test_roles_match_the_database_constraint() -> None:
    from nocd.storage.models import ROLES

    assert {role.value for role in TokenRole} == set(ROLES)


def test_create_token_stores_only_the_sha256_of_a_fresh_random_token(session: Session) -> None:
    first = create_token(session, "hotline", TokenRole.INTEGRATION)
    second = create_token(session, "noc-desk", "operator")
    assert first != second
    assert first.startswith("nocd_") and len(first) >= 40
    rows = {row.name: row for row in session.scalars(select(ApiToken))}
    assert rows["hotline"].token_hash == hashlib.sha256(first.encode()).hexdigest()
    assert rows["noc-desk"].role == "operator"
    assert all(first not in (row.token_hash, row.name) for row in rows.values())


def test_authenticate_returns_the_record_of_a_valid_token(session: Session) -> None:
    token = create_token(session, "grafana", TokenRole.VIEWER)
    record = authenticate(session, token)
    assert record is not None
    assert (record.name, record.role, record.revoked_at) == ("grafana", TokenRole.VIEWER, None)


@pytest.mark.parametrize(
    ("description", "presented"),
    [
        ("empty token", ""),
        ("unknown token", "nocd_" + "x" * 43),
        ("the stored hash itself", None),  # filled in below: knowing the hash is not enough
        ("token with a trailing character", "APPEND"),
    ],
)
def test_authenticate_refuses_anything_but_the_exact_token(
    session: Session, description: str, presented: str | None
) -> None:
    token = create_token(session, "ticketing", TokenRole.INTEGRATION)
    if presented is None:
        presented = hashlib.sha256(token.encode()).hexdigest()
    elif presented == "APPEND":
        presented = token + "x"
    assert authenticate(session, presented) is None, description


def test_revoked_token_is_refused_and_keeps_its_name(session: Session) -> None:
    token = create_token(session, "old-hotline", TokenRole.INTEGRATION)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert revoke_token(session, "old-hotline", now=when)
    assert authenticate(session, token) is None
    (record,) = [r for r in list_tokens(session) if r.name == "old-hotline"]
    assert record.revoked_at is not None
    assert record.revoked_at.replace(tzinfo=UTC) == when
    with pytest.raises(TokenNameTakenError):
        create_token(session, "old-hotline", TokenRole.INTEGRATION)


def test_revoking_an_unknown_name_reports_false(session: Session) -> None:
    assert revoke_token(session, "nobody") is False


@pytest.mark.parametrize(
    ("name", "role", "error"),
    [
        ("ok-name", "admin", ValueError),
        ("  ", "viewer", ValueError),
    ],
    ids=["unknown-role", "blank-name"],
)
def test_create_token_rejects_bad_input(
    session: Session, name: str, role: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        create_token(session, name, role)
    assert list_tokens(session) == []


# --- nocd token create|list|revoke ------------------------------------------------------------


def _cli(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli_app, list(args), env={"NOCD_STORAGE__URL": url})


def test_cli_token_create_prints_the_token_once_and_it_authenticates(fresh_db_url: str) -> None:
    result = _cli(fresh_db_url, "token", "create", "--role", "viewer", "--name", "grafana")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("nocd_")
    assert "shown only this once" in result.stderr
    engine = make_engine(fresh_db_url)
    try:
        with session_factory(engine)() as session:
            record = authenticate(session, token)
    finally:
        engine.dispose()
    assert record is not None and record.role == TokenRole.VIEWER

    listed = _cli(fresh_db_url, "token", "list", "--json")
    assert listed.exit_code == 0
    assert token not in listed.stdout
    assert '"role": "viewer"' in listed.stdout

    assert _cli(fresh_db_url, "token", "revoke", "--name", "grafana").exit_code == 0
    engine = make_engine(fresh_db_url)
    try:
        with session_factory(engine)() as session:
            assert authenticate(session, token) is None
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--role", "admin", "--name", "x"), "admin"),
        (("--role", "viewer", "--name", "taken"), "already exists"),
        (("--role", "viewer", "--name", " "), "--name"),
    ],
    ids=["unknown-role", "duplicate-name", "blank-name"],
)
def test_cli_token_create_rejects_bad_input_with_exit_2(
    fresh_db_url: str, args: tuple[str, ...], message: str
) -> None:
    assert (
        _cli(fresh_db_url, "token", "create", "--role", "viewer", "--name", "taken").exit_code == 0
    )
    result = _cli(fresh_db_url, "token", "create", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_cli_token_create_on_an_unmigrated_database_says_to_upgrade(blank_db_url: str) -> None:
    result = _cli(blank_db_url, "token", "create", "--role", "viewer", "--name", "x")
    assert result.exit_code == 1
    assert "nocd db upgrade" in result.stderr
