"""``nocd report sla``: build the SLA report of one day (or its month), store it, write files."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from nocd.cli.common import EXIT_BAD_INPUT, ConfigOption, err, exit_codes, fail, out, settings_from
from nocd.errors import NocdError
from nocd.report.labels import Lang
from nocd.report.render import render_csv
from nocd.report.service import ReportService
from nocd.storage.db import check_schema, make_engine, session_factory, storage_errors

__all__ = ["app"]

app = typer.Typer(name="report", help="SLA reports.", no_args_is_help=True)


class PeriodOption(StrEnum):
    """The reporting period of ``--period``."""

    DAY = "day"
    MONTH = "month"


# gather, build, json, csv, html (one language), store
_STEPS = 6


@app.command("sla")
def sla_command(
    day: Annotated[
        str, typer.Option("--date", help="Report day YYYY-MM-DD in [daemon] timezone.")
    ],
    period: Annotated[
        PeriodOption, typer.Option("--period", help="day, or the month to date.")
    ] = PeriodOption.DAY,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Also write report.html, report.json and one CSV per table."),
    ] = None,
    lang: Annotated[Lang, typer.Option("--lang", help="Language of the HTML report.")] = Lang.EN,
    config: ConfigOption = None,
) -> None:
    """Build the SLA report of --date from storage and store it (replacing an earlier run).

    Exit 0 when stored, 1 when the database fails, 2 on a bad date or config.
    """
    try:
        report_day = date.fromisoformat(day)
    except ValueError:
        fail(f"--date: {day!r} is not a date (YYYY-MM-DD)", EXIT_BAD_INPUT)
    settings = settings_from(config)
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        fail(f"--out: {out_dir} exists and is not a directory", EXIT_BAD_INPUT)
    engine = make_engine(settings.storage.url)
    try:
        with exit_codes(), storage_errors(engine.url):
            check_schema(engine)
            service = ReportService(settings=settings, sessions=session_factory(engine))
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as progress:
                task = progress.add_task(f"SLA report {report_day} ({period})", total=_STEPS)

                def step(name: str) -> None:
                    progress.update(task, advance=1, description=f"SLA report: {name}")

                run = service.run_sync(
                    report_day,
                    period.value,
                    now=datetime.now(UTC),
                    langs=[lang.value],
                    progress=step,
                )
    except NocdError as exc:  # pragma: no cover - exit_codes maps these already
        fail(f"error: {exc}")
    finally:
        engine.dispose()
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            for f in run.files[lang.value]:
                if f.format != "csv":
                    (out_dir / f.filename).write_bytes(f.content)
            for table, content in render_csv(run.report).items():
                stem = f"nocd-sla-{run.report.period}-{run.report.date}"
                (out_dir / f"{stem}-{table}.csv").write_bytes(content)
        except OSError as exc:
            fail(f"--out: cannot write to {out_dir}: {exc.strerror or exc}")
    statuses = [r.status for r in run.report.tables["sla"] if r.district == "*"]
    out.print(
        f"SLA report {run.report.date} ({run.report.period}) stored: "
        f"{statuses.count('met')} met, {statuses.count('at_risk')} at risk, "
        f"{statuses.count('breached')} breached network-wide"
        + (f"; files in {out_dir}" if out_dir is not None else ""),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
