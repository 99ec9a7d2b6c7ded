"""Inventory fuzz: mutated YAML and CSV through the parser and ``nocd inventory import``.

Starting from a valid inventory (YAML and its CSV export), hypothesis applies mutations —
values of the wrong type, unknown keys, deleted/duplicated/swapped/garbage lines, anchors and
aliases (loops, a "billion laughs" bomb), keys that are lists, deep nesting, truncation and
bytes that are not UTF-8. For every generated file:

- the parser reports every problem as ``FILE:LINE`` inside the file (never a traceback);
- ``nocd inventory import`` exits 0 or 2, and on 2 prints only ``FILE:LINE: field: message``;
- a rejected import leaves the database exactly as it was, and an accepted one (no --prune)
  never loses what was already stored.

Derandomized with modest example counts; the database runs are on SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools
import re
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nocd.cli import app
from nocd.inventory import (
    export_csv,
    export_payload,
    import_text,
    parse_inventory,
    read_inventory,
)
from nocd.storage.db import make_engine, session_factory, upgrade

pytestmark = pytest.mark.integration

BASE_YAML = textwrap.dedent("""\
    districts:
      - id: xihu
        name: Xihu
      - id: binj
        name: Binjiang
    devices:
      - name: xihu-agg-01
        district: xihu
        kind: aggregation
        address: 127.0.1.1
        port: 161
        snmp:
          version: 2c
          community: fuzz-community-1
      - name: xihu-dslam-01
        district: xihu
        kind: dslam
        address: 127.0.1.2
        port: 1161
        parent: xihu-agg-01
        vendor: Huawei
        snmp:
          version: 3
          user: noc
          auth_protocol: sha
          auth_key: fuzz-auth-key-1
          priv_protocol: aes
          priv_key: fuzz-priv-key-1
    customers:
      - id: C1001
        name: Customer 1001
        sla_class: residential
    lines:
      - device: xihu-dslam-01
        ifindex: 1001
        customer: C1001
        plan_down_kbps: 8192
        plan_up_kbps: 1024
    """)

_WRONG_VALUES = (
    "", "~", "-1", "99999999999999999999", "1.5", "[a, b]", "{a: 1}", "yes", "'  '", "x" * 300,
    "999.1.1.1", "0x10", "nan", "!!binary aGVsbG8=", "*undefined", "&anchor", '"\\x00"',
)  # fmt: skip
_JUNK_LINES = (
    "unknown_section:", "  - bogus: 1", "    unknown_field: 1", "- name: x", "devices: 5",
    "districts:", "  - &a [*a]", "  - ? [a, b]\n    : c", "\t- tab", "---", "...", "%YAML 1.1",
    "  - {name: " + "[" * 40 + "]" * 40 + "}", "\x07", "#comment",
    "  - !!python/object:os.system x",
)  # fmt: skip
# A devices row whose field a8 expands to 10^9 scalars through aliases ("billion laughs").
_BOMB_ROW = "\n".join(
    ["  - name: bomb", "    a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    + [f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
)
_FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@functools.cache
def _base_csv() -> dict[str, str]:
    """The CSV files of the same inventory (as ``nocd inventory export --format csv``)."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/csv.db"
        upgrade(url)
        engine = make_engine(url)
        try:
            with session_factory(engine)() as session:
                import_text(session, BASE_YAML, "base.yaml")
                session.commit()
                return export_csv(session)
        finally:
            engine.dispose()


@st.composite
def mutated_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(file name, content): the base YAML or one of its CSV files, mutated 1–4 times."""
    csv_files = _base_csv()
    name = draw(st.sampled_from(["inventory.yaml", *sorted(csv_files)]))
    text = BASE_YAML if name == "inventory.yaml" else csv_files[name]
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(lines) - 1)))
        kind = draw(
            st.sampled_from(("value", "value", "junk", "delete", "duplicate", "swap", "indent"))
        )
        if not lines:
            lines.append(draw(st.sampled_from(_JUNK_LINES)))
        elif kind == "value" and name.endswith(".csv"):
            cells = lines[at].split(",")
            cells[draw(st.integers(0, len(cells) - 1))] = draw(st.sampled_from(_WRONG_VALUES))
            lines[at] = ",".join(cells)
        elif kind == "value" and ":" in lines[at]:
            key = lines[at].split(":", 1)[0]
            lines[at] = f"{key}: {draw(st.sampled_from(_WRONG_VALUES))}"
        elif kind == "junk":
            junk = draw(st.one_of(st.sampled_from(_JUNK_LINES), st.text(max_size=30)))
            lines.insert(at, junk)
        elif kind == "delete":
            del lines[at]
        elif kind == "duplicate":
            lines.insert(at, lines[at])
        elif kind == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == "indent":
            lines[at] = draw(st.sampled_from(("  ", "", "    ", "\t"))) + lines[at].lstrip()
    if name == "inventory.yaml" and "devices:" in lines and draw(st.integers(0, 9)) == 0:
        lines.insert(lines.index("devices:") + 1, _BOMB_ROW)
    raw = "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"
    ending = draw(st.sampled_from(("whole", "whole", "whole", "truncated", "bad bytes")))
    if ending == "truncated":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif ending == "bad bytes":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from((b"\xff", b"\xc3", b"\x80\x80"))) + raw[at:]
    return name, raw


_LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(:\d+)?: \S")


def _assert_located(lines: list[str], path: Path, raw: bytes) -> None:
    last = raw.count(b"\n") + 1
    for line in lines:
        match = _LOCATED.match(line)
        assert match and match["file"] == str(path), f"not FILE:LINE: {line!r}"
        assert 1 <= int(match["line"]) <= last, line


@given(case=mutated_files())
@settings(_FUZZ, max_examples=300)
def test_parser_locates_every_problem_on_a_line_of_the_file(
    case: tuple[str, bytes], tmp_path: Path
) -> None:
    name, raw = case
    path = tmp_path / name
    path.write_bytes(raw)
    started = time.monotonic()
    document = read_inventory(path)
    assert time.monotonic() - started < 2.0, "parsing a small file took too long"
    _assert_located([str(problem) for problem in document.problems], path, raw)


def test_alias_bomb_and_alias_loop_are_refused_quickly(tmp_path: Path) -> None:
    for text in ("devices:\n" + _BOMB_ROW, "devices:\n  - &r {name: x, snmp: *r}\n"):
        started = time.monotonic()
        document = parse_inventory(text, "bomb.yaml")
        assert time.monotonic() - started < 1.0
        [problem] = document.problems
        assert problem.field == "devices" and problem.line is not None, problem
        assert 2 <= problem.line <= text.count("\n") + 1, problem


def _snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            return export_payload(session)
    finally:
        engine.dispose()


def _keys(snapshot: dict[str, list[dict[str, Any]]]) -> set[tuple[str, str]]:
    ids = {"districts": "id", "devices": "name", "customers": "id"}
    return {
        (section, str(row[ids[section]]) if section in ids else f"{row['device']}/{row['ifindex']}")
        for section, rows in snapshot.items()
        for row in rows
    }


def test_cli_import_of_mutated_files_exits_2_and_changes_nothing_or_keeps_everything(
    fresh_db_url: str, tmp_path: Path
) -> None:
    engine = make_engine(fresh_db_url)
    try:
        with session_factory(engine)() as session:
            import_text(session, BASE_YAML, "base.yaml")
            session.commit()
    finally:
        engine.dispose()
    config = tmp_path / "nocd.toml"
    config.write_text(f'[storage]\nurl = "{fresh_db_url}"\n', encoding="utf-8")
    outcomes: dict[int, int] = {}

    @given(case=mutated_files())
    @settings(_FUZZ, max_examples=40)
    def run(case: tuple[str, bytes]) -> None:
        name, raw = case
        path = tmp_path / name
        path.write_bytes(raw)
        before = _snapshot(fresh_db_url)
        result = CliRunner().invoke(app, ["inventory", "import", str(path), "-c", str(config)])
        outcomes[result.exit_code] = outcomes.get(result.exit_code, 0) + 1
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception
        )
        assert "Traceback" not in result.output
        after = _snapshot(fresh_db_url)
        if result.exit_code == 2:
            _assert_located(result.stderr.strip().splitlines(), path, raw)
            assert after == before, "a rejected import changed the database"
        else:
            assert result.exit_code == 0, result.output
            assert _keys(before) <= _keys(after), "an import without --prune lost rows"
        for secret in ("fuzz-community-1", "fuzz-auth-key-1", "fuzz-priv-key-1"):
            assert secret not in result.output

    run()
    assert outcomes.get(2, 0) >= 10, outcomes  # the mutations do reach the error paths
