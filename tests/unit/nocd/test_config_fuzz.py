"""Config fuzz: mutated TOML through ``load_settings`` and ``nocd check-config``.

The shipped examples (deploy/examples) are mutated by hypothesis — values of the wrong type,
unknown keys, dotted and quoted keys, deleted/duplicated/garbage lines, truncation, bytes that
are not UTF-8 — and every outcome must be either valid settings or a ``ConfigError`` whose every
problem names ``FILE:LINE`` inside the file; the CLI exits 2 with only such lines and never a
traceback. Derandomized: the same files every run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nocd.cli import app
from nocd.config import load_settings
from nocd.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "deploy" / "examples").glob("nocd-*.toml"))
_FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

_WRONG_VALUES = (
    '"text"', "-1", "0", "1e999", "nan", "[1, 2]", "{ a = 1 }", "true", "99999999999999999999",
    "1979-05-27T07:32:00Z", "07:32:00", '""', "[]", '"\\u0000"', "'''multi\nline'''", "=",
)  # fmt: skip
_JUNK_LINES = (
    "bogus_key = 1", "[bogus]", "[[api]]", "[api.port]", "api.bogus = 2", '"quoted key" = 3',
    "daemon.role = 'district'", "[storage]", "= 1", "[", "key = ", "a.b.c.d = 1", "\x00",
    "[sla]\n[[sla.targets]]\nname = 'x'", "[[alerting.rules]]\nbogus = 1",
)  # fmt: skip


@st.composite
def mutated_configs(draw: st.DrawFn) -> bytes:
    """One shipped example with 1–4 mutations applied, as bytes."""
    lines = draw(st.sampled_from(EXAMPLES)).read_text(encoding="utf-8").splitlines()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(lines) - 1)))
        kind = draw(
            st.sampled_from(("value", "value", "junk", "delete", "duplicate", "swap", "dotted"))
        )
        if kind == "value" and "=" in lines[at]:
            key = lines[at].split("=", 1)[0]
            lines[at] = f"{key}= {draw(st.sampled_from(_WRONG_VALUES))}"
        elif kind == "junk":
            lines.insert(at, draw(st.one_of(st.sampled_from(_JUNK_LINES), st.text(max_size=30))))
        elif kind == "delete" and lines:
            del lines[at]
        elif kind == "duplicate" and lines:
            lines.insert(at, lines[at])
        elif kind == "swap" and len(lines) > 1:
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == "dotted" and "=" in lines[at] and not lines[at].startswith("#"):
            # a key moved out of its table as a dotted key: `[api] port = 1` → `api.port = 1`
            section = next(
                (ln.strip("[] ") for ln in reversed(lines[:at]) if ln.startswith("[")), ""
            )
            if section:
                lines.insert(0, f"{section}.{lines.pop(at).strip()}")
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    ending = draw(st.sampled_from(("whole", "whole", "truncated", "bad bytes")))
    if ending == "truncated":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif ending == "bad bytes":
        at = draw(st.integers(0, len(raw)))
        raw = (
            raw[:at]
            + draw(st.sampled_from((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80")))
            + raw[at:]
        )
    return raw


def _assert_located(error: ConfigError, path: Path, raw: bytes) -> None:
    last_line = raw.count(b"\n") + 1
    for problem in error.problems:
        assert problem.file == str(path), problem
        assert problem.line is not None and 1 <= problem.line <= last_line, str(problem)
        assert str(problem).startswith(f"{path}:{problem.line}: "), str(problem)


@given(raw=mutated_configs())
@_FUZZ
def test_mutated_configs_load_or_fail_with_file_and_line(raw: bytes, tmp_path: Path) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(raw)
    try:
        load_settings(path)
    except ConfigError as error:
        _assert_located(error, path, raw)


_LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(:\d+)?: \S")


@given(raw=mutated_configs())
@settings(_FUZZ, max_examples=40)
def test_check_config_on_mutated_files_exits_0_or_2_with_file_line_messages(
    raw: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(raw)
    result = CliRunner().invoke(app, ["check-config", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        assert result.output.startswith(f"{path}: ok"), result.output
        return
    assert result.exit_code == 2, result.output
    for line in result.output.strip().splitlines():
        match = _LOCATED.match(line)
        assert match and match["file"] == str(path), line


@pytest.mark.parametrize(
    ("text", "line", "description"),
    [
        (b"api.port = 99999\n", 1, "dotted key at top level"),
        (b'["api"]\nport = "x"\n', 2, "quoted table name"),
        (b"[api]\nport = 80\xff\n", 2, "a byte that is not UTF-8"),
        (b"[api]\nport = ", 2, "truncated: error at the end of the document"),
        (b"[api]\n'port' = 0\n", 2, "quoted key"),
        (b"[sla]\n[[sla.targets]]\nname = 'x'\n", 2, "missing fields of an array-of-tables entry"),
    ],
)
def test_awkward_but_located_problems(tmp_path: Path, text: bytes, line: int, description: str):
    path = tmp_path / "c.toml"
    path.write_bytes(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert all(p.line == line for p in caught.value.problems), (description, str(caught.value))
