"""``nocd db``: database schema commands."""

from __future__ import annotations

import typer

from nocd.cli.common import ConfigOption, exit_codes, out, settings_from
from nocd.storage.db import head_revision, safe_url, upgrade

app = typer.Typer(name="db", help="Database schema: apply migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(config: ConfigOption = None) -> None:
    """Apply every pending migration to the configured database (safe to repeat)."""
    settings = settings_from(config)
    with exit_codes():
        revision = upgrade(settings.storage.url)
    out.print(
        f"database {safe_url(settings.storage.url)} is at revision {revision} "
        f"(nocd needs {head_revision()})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
