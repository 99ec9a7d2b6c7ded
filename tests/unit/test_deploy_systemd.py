"""deploy/systemd/nocd.service: the real CLI, the sandbox asked for, and systemd's own check."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer

from nocd.cli import app

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "systemd" / "nocd.service"
ENV_EXAMPLE = REPO / "deploy" / "systemd" / "nocd.env.example"


def _service() -> dict[str, list[str]]:
    """[Service] key → every value it is given (systemd keys may repeat)."""
    values: dict[str, list[str]] = {}
    section = ""
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_exec_start_is_the_installed_nocd_script_running_the_daemon() -> None:
    [exec_start] = _service()["ExecStart"]
    argv = shlex.split(exec_start)
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert Path(argv[0]).name in scripts and scripts["nocd"] == "nocd.cli:main"
    group = typer.main.get_command(app)
    command = group.commands[argv[1]]  # type: ignore[attr-defined]
    assert command.name == "run"
    command.make_context("run", argv[2:])  # the options parse: a renamed flag fails here


def test_role_and_secrets_come_from_the_environment_file() -> None:
    service = _service()
    assert service["EnvironmentFile"] == ["/etc/nocd/nocd.env"]
    env = configparser.ConfigParser()
    env.optionxform = str  # type: ignore[assignment, method-assign]
    env.read_string("[env]\n" + ENV_EXAMPLE.read_text(encoding="utf-8"))
    assert env["env"]["NOCD_DAEMON__ROLE"] in {"all", "central", "district"}
    assert env["env"]["NOCD_CONFIG"].endswith(".toml")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("SystemCallFilter", "@system-service"),
        ("MemoryDenyWriteExecute", "yes"),
        ("DynamicUser", "yes"),
        ("StateDirectory", "nocd"),
        ("UMask", "0077"),
    ],
)
def test_sandbox_directive(key: str, value: str) -> None:
    assert value in _service().get(key, []), f"{key}={value} missing from {UNIT.name}"


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """systemd's own parser, when present (not a CI requirement: skips without systemd)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    nocd = Path(sys.executable).with_name("nocd")
    if not nocd.exists():
        pytest.skip("the nocd script is not installed in this environment")
    # verify insists that ExecStart exists: point it at this environment's nocd script
    text = UNIT.read_text(encoding="utf-8").replace("/opt/nocd/.venv/bin/nocd", str(nocd))
    unit = tmp_path / "nocd.service"
    unit.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Only lines about this unit count: a container may lack the targets it is ordered after.
    ours = [line for line in result.stderr.splitlines() if "nocd.service" in line]
    assert not ours, "\n".join(ours)
