"""``nocd inventory``: import and export districts, devices, customers and lines."""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from nocd.cli.common import EXIT_BAD_INPUT, ConfigOption, exit_codes, fail, out, settings_from
from nocd.errors import ConfigError, StorageUnavailable
from nocd.inventory import ImportResult, export_csv, export_yaml, import_documents, read_inventory
from nocd.storage.db import check_schema, make_engine, session_factory, storage_errors

app = typer.Typer(
    name="inventory", help="Import and export the inventory (YAML or CSV).", no_args_is_help=True
)


class ExportFormat(StrEnum):
    """Formats ``nocd inventory export`` writes."""

    YAML = "yaml"
    CSV = "csv"


@app.command("import")
def import_command(
    files: Annotated[
        list[Path], typer.Argument(help="YAML or CSV files, validated together.", metavar="FILE...")
    ],
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Delete what the files no longer list (their sections only)."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and count, then roll back.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Validate FILE... completely, then upsert them in one transaction.

    Every problem is printed as FILE:LINE: field: problem and nothing is written (exit 2).
    """
    settings = settings_from(config)
    documents = [read_inventory(path) for path in files]
    engine = make_engine(settings.storage.url)
    try:
        with exit_codes():
            try:
                check_schema(engine)
                with storage_errors(engine.url), session_factory(engine)() as session:
                    result = import_documents(session, documents, prune=prune)
                    if dry_run:
                        session.rollback()
                    else:
                        session.commit()
            except StorageUnavailable:
                # A broken file must be fixed whatever the database does: report it (exit 2)
                # with what can be checked without the database.
                early = [problem for doc in documents for problem in doc.problems]
                if early:
                    raise ConfigError(early) from None
                raise
    finally:
        engine.dispose()
    _print_result(result, as_json=as_json, dry_run=dry_run)


def _print_result(result: ImportResult, *, as_json: bool, dry_run: bool) -> None:
    if as_json:
        out.print_json(json.dumps({"dry_run": dry_run, "counts": result.as_dict()}))
        return
    for section, counts in result.as_dict().items():
        out.print(
            f"{section}: {counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged, {counts['deleted']} deleted",
            markup=False,
            highlight=False,
        )
    if dry_run:
        out.print("dry run: nothing was written", markup=False, highlight=False)


@app.command("export")
def export_command(
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", "-f", help="yaml (one file) or csv (one per entity)."),
    ] = ExportFormat.YAML,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Directory to write into (yaml: stdout if omitted)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write the whole inventory; importing the result again changes nothing.

    The files contain SNMP communities and USM keys and are created readable by the owner only.
    """
    settings = settings_from(config)
    if fmt == ExportFormat.CSV and out_dir is None:
        fail("--format csv writes one file per entity: give --out DIR", EXIT_BAD_INPUT)
    engine = make_engine(settings.storage.url)
    try:
        with exit_codes():
            check_schema(engine)
            with storage_errors(engine.url), session_factory(engine)() as session:
                files = (
                    {"inventory.yaml": export_yaml(session)}
                    if fmt == ExportFormat.YAML
                    else export_csv(session)
                )
    finally:
        engine.dispose()
    if out_dir is None:
        typer.echo(files["inventory.yaml"], nl=False)
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = out_dir / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        out.print(f"wrote {path}", markup=False, highlight=False)
