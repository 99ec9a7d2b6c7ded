"""Read `.snmprec` recordings into the engine's plain value types, for parser tests.

A line is ``oid|tag|value``. The conversion mirrors what ``collectors.engine`` does at the
pysnmp boundary (see ``collectors/values.py``): integer tags → int, OCTET STRING → bytes
(``4x`` is hex), OBJECT IDENTIFIER / IpAddress → dotted str. A ``numeric`` variation record
(``67:numeric|rate=100``) contributes its value at start-up: initial × scale + offset.
"""

from __future__ import annotations

import bz2
from collections.abc import Iterable, Iterator
from pathlib import Path

from collectors.values import Row, SnmpValue, Table

_INT_TAGS = {"2", "65", "66", "67", "70"}


def records(path: Path) -> Iterator[tuple[str, SnmpValue]]:
    """(oid, value) for every record of a `.snmprec` or `.snmprec.bz2` file."""
    opener = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            line = line.rstrip("\r\n")
            if not line or line.startswith("#"):
                continue
            oid, tag, value = line.split("|", 2)
            yield oid, _convert(tag, value)


def _convert(tag: str, text: str) -> SnmpValue:
    base, _, variation = tag.partition(":")
    hexed = base.endswith("x")
    base = base.rstrip("x")
    if variation:
        params = dict(p.split("=", 1) for p in text.split(",") if "=" in p)
        if base not in _INT_TAGS:
            return None
        # snmpsim `numeric` at t=0: initial × scale + offset (deviation left out).
        value = float(params.get("initial", "0")) * float(params.get("scale", "1"))
        return int(value + float(params.get("offset", "0")))
    if base in _INT_TAGS:
        return int(text, 16) if hexed else int(text)
    if base in {"4", "68"}:
        return bytes.fromhex(text) if hexed else text.encode("utf-8")
    if base == "6":
        return text
    if base == "64":
        return ".".join(str(b) for b in bytes.fromhex(text)) if hexed else text
    return None


def load_table(path: Path, columns: Iterable[str]) -> Table:
    """The Table a GETBULK walk of ``columns`` would return from this recording."""
    wanted = tuple(columns)
    table: Table = {}
    for oid, value in records(path):
        for col in wanted:
            if oid.startswith(col + "."):
                table.setdefault(col, {})[oid[len(col) + 1 :]] = value
                break
    return table


def load_row(path: Path, oids: Iterable[str]) -> Row:
    """The Row a GET of ``oids`` would return (absent OIDs → None, like noSuchInstance)."""
    wanted = set(oids)
    row: Row = dict.fromkeys(wanted)
    for oid, value in records(path):
        if oid in wanted:
            row[oid] = value
    return row
