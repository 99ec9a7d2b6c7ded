"""The ``nocd`` command line. Each command group lives in its own module and is registered here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nocd import __version__
from nocd.cli import daemon as daemon_cli
from nocd.cli import db as db_cli
from nocd.cli import demo as demo_cli
from nocd.cli import inventory as inventory_cli
from nocd.cli import lab as lab_cli
from nocd.cli import poll as poll_cli
from nocd.cli import report as report_cli
from nocd.cli import verify as verify_cli
from nocd.cli.common import EXIT_BAD_INPUT, err, out
from nocd.config import load_settings
from nocd.errors import ConfigError

app = typer.Typer(
    name="nocd",
    help="Broadband access-network monitoring daemon.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("check-config")
def check_config(
    file: Annotated[Path, typer.Argument(help="TOML config file to validate.")],
) -> None:
    """Validate a config file; print FILE:LINE: section.key: problem for each error (exit 2)."""
    try:
        settings = load_settings(file)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    backend = settings.storage.url.split(":")[0]
    out.print(
        f"{file}: ok (role={settings.daemon.role}, storage={backend})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@app.command("version")
def version() -> None:
    """Print the nocd version."""
    out.print(__version__)


# Command groups register themselves below, one import per module.
# from nocd.cli import db, inventory, daemon, poll, lab  (added as they are built)
app.add_typer(db_cli.app)
app.add_typer(inventory_cli.app)
app.add_typer(lab_cli.app)
app.add_typer(report_cli.app)
daemon_cli.register(app)
poll_cli.register(app)
demo_cli.register(app)
verify_cli.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
