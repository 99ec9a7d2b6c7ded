"""``nocd verify``: prove a district and central agree (nothing lost or doubled, SLA recomputes)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from nocd.cli.common import ConfigOption, exit_codes, fail, out, settings_from
from nocd.errors import NocdError
from nocd.storage.db import check_schema, make_engine, safe_url, session_factory, storage_errors
from nocd.verify import verify

__all__ = ["register"]


def verify_command(
    district_db: Annotated[
        str, typer.Option("--district-db", help="The district's database URL (its own record).")
    ],
    district: Annotated[str, typer.Option("--district", help="District id, e.g. xihu.")],
    central_db: Annotated[
        str | None,
        typer.Option("--central-db", help="Central's database URL (default: storage.url)."),
    ] = None,
    recompute: Annotated[
        bool,
        typer.Option(
            "--recompute/--no-recompute",
            help="Also recompute rollups and KQI/SLA from scratch (rolled back) and compare.",
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Compare a district's database with central's after an outage, kills or a soak.

    Checks: outbox drained; every sample and state event exactly once at central; alerts,
    incidents and ticket events neither lost nor doubled; rollups and the newest period's
    KQI/SLA equal a clean recomputation. Stop both daemons first (the check reads a still
    picture). Exit 0 when every check passes, 1 on an inconsistency or a database failure,
    2 on bad config.
    """
    settings = settings_from(config)
    central_url = central_db or settings.storage.url
    engines = [make_engine(district_db), make_engine(central_url)]
    try:
        with exit_codes():
            for engine in engines:
                with storage_errors(engine.url):
                    check_schema(engine)
            with storage_errors(central_url):
                checks = verify(
                    session_factory(engines[0]),
                    session_factory(engines[1]),
                    district=district,
                    settings=settings,
                    recompute=recompute,
                )
    except NocdError as exc:  # pragma: no cover - exit_codes maps these already
        fail(f"error: {exc}")
    finally:
        for engine in engines:
            engine.dispose()
    ok = all(check.ok for check in checks)
    if as_json:
        document = {"ok": ok, "checks": [c.as_dict() for c in checks]}
        typer.echo(json.dumps(document, indent=2))
    else:
        out.print(
            f"district {district} ({safe_url(district_db)}) against central "
            f"({safe_url(central_url)}):",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        for check in checks:
            verdict = "ok  " if check.ok else "FAIL"
            out.print(
                f"  {verdict} {check.name}: {check.detail}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        out.print("consistent" if ok else "INCONSISTENT", markup=False, highlight=False)
    if not ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``nocd verify`` to the CLI."""
    app.command("verify")(verify_command)
