"""``nocd lab``: generate, run and break the simulated lab network (snmpsim on loopback)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from collectors.lab import Fault, Lab, LabError, LabNetwork, LabSpec, prepare_recordings
from nocd.cli.common import EXIT_BAD_INPUT, EXIT_FAILURE, fail, out

__all__ = ["app"]

app = typer.Typer(
    name="lab",
    help="Simulated network: synthetic DSLAMs and switches (or real recordings) under snmpsim.",
    no_args_is_help=True,
)

LabDir = Annotated[Path, typer.Option("--dir", "-d", help="Lab directory (from `lab generate`).")]


@app.command("generate")
def generate(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the lab to.")],
    districts: Annotated[int, typer.Option(help="Districts.")] = 1,
    aggregation: Annotated[int, typer.Option(help="Aggregation switches per district.")] = 1,
    dslams: Annotated[int, typer.Option(help="DSLAMs per aggregation switch.")] = 2,
    lines: Annotated[int, typer.Option(help="DSL lines per DSLAM.")] = 24,
    switches: Annotated[int, typer.Option(help="Access switches per aggregation switch.")] = 1,
    access_ports: Annotated[int, typer.Option(help="Ports per access switch: 24 or 48.")] = 24,
    vdsl2_share: Annotated[float, typer.Option(help="Share of VDSL2 DSLAMs (0..1).")] = 0.5,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same network.")] = 1,
    port: Annotated[int, typer.Option(help="UDP port of every endpoint.")] = 1161,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write .snmprec files, inventory.yaml and the fault state for a synthetic network."""
    try:
        spec = LabSpec(districts=districts, aggregation=aggregation, dslams=dslams, lines=lines,
                       switches=switches, access_ports=access_ports, vdsl2_share=vdsl2_share,
                       seed=seed, port=port)
    except ValueError as exc:
        fail(f"bad lab size: {exc}", EXIT_BAD_INPUT)
    plan = Lab.generate(spec, out_dir)
    summary = {
        "dir": str(out_dir),
        "inventory": str(plan.inventory_path),
        "devices": len(plan.devices),
        "lines": len(plan.lines),
        "kinds": {k: sum(d.kind == k for d in plan.devices)
                  for k in ("aggregation", "access_switch", "dslam")},
    }
    if as_json:
        out.print_json(json.dumps(summary))
        return
    out.print(
        f"lab written to {out_dir}: {summary['devices']} devices, {summary['lines']} DSL lines "
        f"(synthetic)\ninventory: {plan.inventory_path}\nrun it: nocd lab run --dir {out_dir}",
        markup=False, highlight=False,
    )


@app.command("run")
def run(
    lab_dir: LabDir,
    keep_faults: Annotated[
        bool, typer.Option(help="Keep faults left in the state file instead of clearing them.")
    ] = False,
) -> None:
    """Serve the lab until Ctrl-C / SIGTERM; prints every endpoint and the inventory path."""
    _serve(lab_dir, clear_faults=not keep_faults)


@app.command("serve-recordings")
def serve_recordings(
    lab_dir: LabDir,
    source: Annotated[
        Path, typer.Option(help="Folder of real .snmprec[.bz2] recordings (read only).")
    ] = Path("../shared/data/snmprec"),
    names: Annotated[
        list[str] | None, typer.Option("--name", help="Serve only these recordings (repeat).")
    ] = None,
    port: Annotated[int, typer.Option(help="UDP port of every endpoint.")] = 1161,
) -> None:
    """Decompress the real recordings into the lab dir and serve them (community = file name)."""
    try:
        prepare_recordings(source, lab_dir, names=tuple(names or ()), port=port)
    except (LabError, OSError) as exc:
        fail(f"cannot prepare recordings: {exc}", EXIT_BAD_INPUT)
    _serve(lab_dir, clear_faults=True)


@app.command("fault")
def fault(
    device: Annotated[str, typer.Argument(help="Device name (see `lab run` output).")],
    scenario: Annotated[
        str,
        typer.Argument(help=f"One of: {', '.join(f.value for f in Fault)}; 'all' with --clear."),
    ],
    lab_dir: LabDir,
    clear: Annotated[bool, typer.Option("--clear", help="Switch the scenario off.")] = False,
    lines: Annotated[
        str | None, typer.Option(help="Line ifIndexes, comma-separated (snr_collapse, "
                                      "retrain_storm); default every line.")
    ] = None,
    delay_s: Annotated[float | None, typer.Option(help="slow: answer after this many s.")] = None,
    status: Annotated[str | None, typer.Option(help="error: genErr, tooBig, noAccess, "
                                                    "resourceUnavailable …")] = None,
    margin_db: Annotated[float | None, typer.Option(help="snr_collapse: margin in dB.")] = None,
    period_s: Annotated[
        float | None, typer.Option(help="retrain_storm: s between retrains.")
    ] = None,
    down_s: Annotated[float | None, typer.Option(help="reboot: s without answers.")] = None,
    lead_s: Annotated[float | None, typer.Option(help="wrap: s until Counter32 wraps.")] = None,
    ports: Annotated[
        str | None, typer.Option(help="congestion: port ifIndexes, comma-separated; default "
                                      "every interface.")
    ] = None,
    rate_bps: Annotated[
        float | None, typer.Option(help="congestion: extra bit/s in each direction.")
    ] = None,
) -> None:
    """Switch a fault scenario on (or off with --clear) on a running lab, via its state file."""
    try:
        network = LabNetwork(lab_dir)
        network.device(device)
    except LabError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    if scenario == "all":
        if not clear:
            fail("'all' only works with --clear", EXIT_BAD_INPUT)
        network.clear_fault(device)
        out.print(f"{device}: every fault cleared", markup=False, highlight=False)
        return
    try:
        chosen = Fault(scenario)
    except ValueError:
        fail(f"unknown scenario {scenario!r}; one of {', '.join(f.value for f in Fault)}",
             EXIT_BAD_INPUT)
    if clear:
        network.clear_fault(device, chosen)
        out.print(f"{device}: {chosen.value} cleared", markup=False, highlight=False)
        return
    params: dict[str, Any] = {
        "delay_s": delay_s, "status": status, "margin_db": margin_db, "period_s": period_s,
        "down_s": down_s, "lead_s": lead_s, "rate_bps": rate_bps,
    }
    for option, text in (("lines", lines), ("ports", ports)):
        if text:
            try:
                params[option] = [int(x) for x in text.split(",") if x.strip()]
            except ValueError:
                fail(f"--{option} must be comma-separated ifIndexes, not {text!r}",
                     EXIT_BAD_INPUT)
    network.set_fault(device, chosen, **params)
    shown = {k: v for k, v in params.items() if v is not None}
    out.print(f"{device}: {chosen.value} on {shown or ''}", markup=False, highlight=False)


def _serve(lab_dir: Path, *, clear_faults: bool) -> None:
    try:
        code = asyncio.run(_serve_async(lab_dir, clear_faults))
    except LabError as exc:
        fail(f"lab: {exc}", EXIT_FAILURE)
    if code:
        fail(f"lab: snmpsim exited with {code}; see {lab_dir / 'responder.log'}", EXIT_FAILURE)


async def _serve_async(lab_dir: Path, clear_faults: bool) -> int:
    """Run until a signal (→ 0) or until snmpsim dies on its own (→ its exit code)."""
    async with LabNetwork(lab_dir, clear_faults=clear_faults) as lab:
        for name, (address, port, community) in lab.endpoints.items():
            out.print(f"{name:32} {address}:{port}  community={community}",
                      markup=False, highlight=False)
        out.print(f"inventory: {lab.inventory_path}\nfaults: nocd lab fault DEVICE SCENARIO "
                  f"--dir {lab_dir}\nready; Ctrl-C stops", markup=False, highlight=False)
        out.file.flush()  # scripts wait for "ready" on a pipe
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        exited = asyncio.create_task(lab.wait())
        stopped = asyncio.create_task(stop.wait())
        done, pending = await asyncio.wait({exited, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if exited in done:
            return exited.result() or EXIT_FAILURE
    out.print("lab stopped", markup=False, highlight=False)
    return 0
