"""``nocd demo``: the lab network plus an all-in-one nocd on SQLite, with a scripted fault story."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nocd.cli.common import EXIT_FAILURE, exit_codes, fail, out

if TYPE_CHECKING:
    from collectors.lab import LabNetwork

__all__ = ["register"]

DEFAULT_DIR = Path("/tmp/nocd-demo")  # snmpsim runs as nobody: the lab needs a world-readable dir
WARM_UP_S = 45.0  # let two interface polls produce rates before the first fault
STEP_S = 60.0  # between the scripted faults


def register(app: typer.Typer) -> None:
    """Add ``nocd demo`` to the CLI."""
    app.command("demo")(demo)


def demo(
    duration: Annotated[
        float | None, typer.Option("--duration", help="Stop by itself after SECONDS.")
    ] = None,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the lab, database and logs live.")
    ] = DEFAULT_DIR,
    port: Annotated[int, typer.Option(help="HTTP port of the API and /metrics.")] = 8080,
    lab_port: Annotated[int, typer.Option(help="UDP port the simulated agents answer on.")] = 1161,
    fresh: Annotated[bool, typer.Option(help="Start from an empty directory.")] = True,
) -> None:
    """Start a simulated district (snmpsim) and nocd on it; print where to look; Ctrl-C stops."""
    from nocd.app import configure_logging

    configure_logging("INFO")
    with exit_codes():
        try:
            asyncio.run(_demo(directory, port, lab_port, duration, fresh))
        except OSError as exc:
            fail(f"demo: {exc}", EXIT_FAILURE)


async def _demo(
    directory: Path, port: int, lab_port: int, duration: float | None, fresh: bool
) -> None:
    from collectors.lab import Lab, LabNetwork, LabSpec
    from nocd.app import run_daemon
    from nocd.config import ApiSettings, PollConfig, Settings, StorageSettings
    from nocd.inventory import import_documents, read_inventory
    from nocd.storage import db, tokens

    if fresh and directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    lab_dir = directory / "lab"
    url = f"sqlite:///{directory / 'nocd.db'}"
    spec = LabSpec(
        districts=1, aggregation=2, dslams=3, lines=24, switches=1, seed=7, port=lab_port
    )
    if not (lab_dir / "inventory.yaml").exists():
        lab_dir.mkdir(exist_ok=True)
        lab_dir.chmod(0o755)
        Lab.generate(spec, lab_dir)
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.session_factory(engine)() as session:
        import_documents(session, [read_inventory(lab_dir / "inventory.yaml")])
        token = tokens.create_token(session, f"demo-{len(tokens.list_tokens(session))}", "operator")
        session.commit()
    engine.dispose()
    settings = Settings(
        storage=StorageSettings(url=url),
        api=ApiSettings(port=port),
        poll=PollConfig(interfaces_s=15, dsl_lines_s=30, down_after_s=30.0),
    )
    stop = asyncio.Event()
    async with LabNetwork(lab_dir) as lab:
        base = f"http://127.0.0.1:{port}"
        out.print(
            "\n".join(
                [
                    "",
                    f"nocd demo: {len(lab.devices)} simulated devices on 127.x.y.z:{spec.port}",
                    f"  API docs     {base}/docs",
                    f"  metrics      {base}/metrics",
                    f"  health       {base}/healthz  {base}/readyz",
                    f"  devices      curl -H 'Authorization: Bearer {token}' {base}/api/v1/devices",
                    f"  database     {url}",
                    f"  lab faults   nocd lab fault DEVICE SCENARIO --dir {lab_dir}",
                    "  Ctrl-C stops" + (f", or after {duration:.0f} s" if duration else ""),
                    "",
                ]
            ),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        story = asyncio.create_task(_fault_story(lab))
        loop = asyncio.get_running_loop()
        if duration is not None:
            loop.call_later(duration, stop.set)
        try:
            await run_daemon(settings, stop=stop)
        finally:
            story.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await story
    out.print("demo stopped", markup=False, highlight=False)


async def _fault_story(lab: LabNetwork) -> None:
    """A scripted sequence so that something happens: an outage, an SNR collapse, recovery."""
    from collectors.lab import Fault

    dslams = [d.name for d in lab.devices if d.kind == "dslam"]
    if not dslams:
        return
    victim, noisy = dslams[0], dslams[-1]
    lines = [ln.ifindex for ln in lab.lines if ln.device == noisy][:4]
    await asyncio.sleep(WARM_UP_S)
    out.print(f"demo: DSLAM {victim} becomes unreachable", markup=False, highlight=False)
    lab.set_fault(victim, Fault.UNREACHABLE)
    await asyncio.sleep(STEP_S)
    out.print(f"demo: SNR margin collapses on {noisy} lines {lines}", markup=False)
    lab.set_fault(noisy, Fault.SNR_COLLAPSE, lines=lines, margin_db=0.8)
    await asyncio.sleep(STEP_S)
    out.print(f"demo: DSLAM {victim} is back", markup=False, highlight=False)
    lab.clear_fault(victim)
