"""``nocd demo``: the lab network plus an all-in-one nocd on SQLite, with a scripted fault story.

The work is in :mod:`nocd.demo` (story, settings) and :mod:`nocd.demo_stack` (Prometheus and
Alertmanager); this module only turns options into a :class:`nocd.demo.DemoOptions`.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from nocd.cli.common import EXIT_FAILURE, exit_codes, fail, out

__all__ = ["register"]

DEFAULT_DIR = Path("/tmp/nocd-demo")  # snmpsim runs as nobody: the lab needs a world-readable dir


def register(app: typer.Typer) -> None:
    """Add ``nocd demo`` to the CLI."""
    app.command("demo")(demo)


def _say(text: str) -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)
    sys.stdout.flush()  # a pipe (make, a test) sees each step when it happens


def demo(
    duration: Annotated[
        float | None, typer.Option("--duration", help="Stop by itself after SECONDS.", min=1)
    ] = None,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the lab, database, configs and logs live.")
    ] = DEFAULT_DIR,
    port: Annotated[int, typer.Option(help="HTTP port of the API and /metrics.")] = 8080,
    lab_port: Annotated[int, typer.Option(help="UDP port the simulated agents answer on.")] = 1161,
    prometheus_port: Annotated[int, typer.Option(help="Prometheus web port.")] = 9090,
    alertmanager_port: Annotated[int, typer.Option(help="Alertmanager web port.")] = 9093,
    observability: Annotated[
        bool,
        typer.Option(help="Start Prometheus and Alertmanager (deploy/ configs) when installed."),
    ] = True,
    warm_up: Annotated[
        float, typer.Option("--warm-up", help="Seconds before the first scripted fault.", min=0)
    ] = 20.0,
    step: Annotated[
        float, typer.Option("--step", help="Seconds between the scripted faults.", min=1)
    ] = 20.0,
    fresh: Annotated[bool, typer.Option(help="Start from an empty directory.")] = True,
) -> None:
    """Start a simulated district, nocd and (if installed) Prometheus + Alertmanager, inject a
    scripted fault story, print where to look; Ctrl-C stops everything."""
    from nocd.app import configure_logging
    from nocd.demo import DemoOptions, DemoTimings, run_demo

    configure_logging("INFO")
    options = DemoOptions(
        directory=directory,
        port=port,
        lab_port=lab_port,
        duration_s=duration,
        fresh=fresh,
        observability=observability,
        prometheus_port=prometheus_port,
        alertmanager_port=alertmanager_port,
        timings=DemoTimings(warm_up_s=warm_up, step_s=step),
    )
    with exit_codes():
        try:
            asyncio.run(run_demo(options, _say))
        except OSError as exc:
            fail(f"demo: {exc}", EXIT_FAILURE)
        finally:
            # Everything is stopped: a late Ctrl-C (make and uv pass theirs on) changes nothing.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
