"""``nocd run`` (the daemon) and ``nocd token create|list|revoke`` (API bearer tokens)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from nocd.cli.common import EXIT_BAD_INPUT, ConfigOption, err, exit_codes, fail, out, settings_from
from nocd.config import Role
from nocd.storage import db
from nocd.storage.tokens import (
    TokenNameTakenError,
    TokenRole,
    create_token,
    list_tokens,
    revoke_token,
)

__all__ = ["register"]

token_app = typer.Typer(help="API bearer tokens.", no_args_is_help=True)


def run(
    config: ConfigOption = None,
    role: Annotated[
        Role | None,
        typer.Option(help="all | central | district; overrides [daemon] role of the config."),
    ] = None,
) -> None:
    """Run the daemon: HTTP API, /metrics, /healthz, /readyz and the scheduler.

    Stops cleanly on SIGTERM or SIGINT (exit 0). Refuses to start (exit 1) when the
    database is unreachable or its schema is not current: run `nocd db upgrade`; and (exit 2)
    when the role lacks settings, e.g. a district without [central] url and token.
    """
    from nocd.app import configure_logging, run_daemon  # heavy: FastAPI, uvicorn, pysnmp

    settings = settings_from(config, role=role)
    configure_logging(settings.daemon.log_level)
    with exit_codes():
        asyncio.run(run_daemon(settings))


@token_app.command("create")
def token_create(
    role: Annotated[TokenRole, typer.Option(help="What the token may do.")],
    name: Annotated[str, typer.Option(help="Unique name: who or what uses the token.")],
    config: ConfigOption = None,
    district: Annotated[
        str | None,
        typer.Option(help="Role district: the district whose data the token may send."),
    ] = None,
) -> None:
    """Create a token and print it once on stdout; only its sha256 is stored."""
    if role is TokenRole.DISTRICT and not district:
        fail("--district: required with --role district", EXIT_BAD_INPUT)
    settings = settings_from(config)
    engine = db.make_engine(settings.storage.url)
    try:
        with exit_codes():
            db.check_schema(engine)
            with db.session_factory(engine)() as session, session.begin():
                token = create_token(session, name, role, district=district)
    except TokenNameTakenError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except ValueError as exc:
        fail(f"--name: {exc}", EXIT_BAD_INPUT)
    finally:
        engine.dispose()
    out.print(token, markup=False, highlight=False, soft_wrap=True)
    err.print(
        f"token {name!r} (role {role.value}) created; it is shown only this once",
        markup=False,
        highlight=False,
    )


@token_app.command("list")
def token_list(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List token names, roles and dates (never the tokens)."""
    settings = settings_from(config)
    engine = db.make_engine(settings.storage.url)
    try:
        with exit_codes():
            db.check_schema(engine)
            with db.session_factory(engine)() as session:
                records = list_tokens(session)
    finally:
        engine.dispose()
    rows = [
        {
            "name": record.name,
            "role": record.role.value,
            "created_at": record.created_at.isoformat(),
            "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
            "district": record.district,
        }
        for record in records
    ]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        out.print(f"{row['name']}\t{row['role']}\t{row['created_at']}\t{state}", markup=False)


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Option(help="Name of the token to revoke.")],
    config: ConfigOption = None,
) -> None:
    """Revoke a token by name; requests with it get 401 from then on."""
    settings = settings_from(config)
    engine = db.make_engine(settings.storage.url)
    try:
        with exit_codes():
            db.check_schema(engine)
            with db.session_factory(engine)() as session, session.begin():
                found = revoke_token(session, name)
    finally:
        engine.dispose()
    if not found:
        fail(f"--name: no token named {name!r}", EXIT_BAD_INPUT)
    err.print(f"token {name!r} revoked", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``run`` and the ``token`` group to the top-level CLI."""
    app.command("run")(run)
    app.add_typer(token_app, name="token")
