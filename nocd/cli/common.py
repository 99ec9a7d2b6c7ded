"""What every CLI command shares: the consoles, the --config option and exit-code mapping."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from nocd.config import Role, Settings, load_settings
from nocd.errors import ConfigError, NocdError

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILURE", "ConfigOption", "err", "fail", "out", "settings_from"]

EXIT_FAILURE = 1  # runtime failure (unreachable device, database down)
EXIT_BAD_INPUT = 2  # bad input or config; the message names file, line and field

out = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (default: $NOCD_CONFIG, or built-ins)."),
]


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print ``message`` to stderr (no markup) and exit with ``code``."""
    err.print(message, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def exit_codes() -> Iterator[None]:
    """Map nocd errors to the documented exit codes: ConfigError → 2, other NocdError → 1."""
    try:
        yield
    except ConfigError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except NocdError as exc:
        fail(f"error: {exc}", EXIT_FAILURE)


def settings_from(path: Path | None, *, role: Role | None = None) -> Settings:
    """Load settings (``role`` overriding the configured one) or exit 2 listing every problem."""
    with exit_codes():
        return load_settings(path, role=role)
    sys.exit(EXIT_FAILURE)  # unreachable; keeps type checkers content
