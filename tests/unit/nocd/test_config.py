"""Settings: defaults < TOML file < NOCD_* environment; every error names file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nocd.cli import app
from nocd.config import Role, load_settings
from nocd.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nocd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file() -> None:
    settings = load_settings(None)
    assert settings.storage.url == "sqlite:///./nocd.db"
    assert (settings.api.host, settings.api.port) == ("127.0.0.1", 8080)
    assert settings.daemon.role is Role.ALL
    assert settings.daemon.timezone == "Asia/Shanghai"


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[api]\nport = 9001\nhost = "127.0.0.2"\n')
    monkeypatch.setenv("NOCD_API__PORT", "9002")
    settings = load_settings(path)
    assert settings.api.port == 9002, "environment wins over the file"
    assert settings.api.host == "127.0.0.2", "file wins over defaults"


def test_nocd_config_variable_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, '[daemon]\nrole = "central"\n')
    monkeypatch.setenv("NOCD_CONFIG", str(path))
    assert load_settings().daemon.role is Role.CENTRAL


@pytest.mark.parametrize(
    ("text", "expected", "description"),
    [
        ('[api]\nport = 99999\n', ":2: api.port: ", "port out of range on line 2"),
        ('[daemon]\nrole = "king"\n', ":2: daemon.role: ", "unknown role"),
        ('[daemon]\ntimezone = "Mars/Base"\n', ":2: daemon.timezone: ", "unknown time zone"),
        ('[storage]\n\nurl = "mysql://x"\n', ":3: storage.url: ", "unsupported database"),
        ('[api]\nhots = "x"\n', ":2: api.hots: unknown setting", "typo in a key"),
        ('[bogus]\nx = 1\n', ":1: bogus: unknown setting", "unknown section"),
        (
            '[daemon]\nrole = "district"\n',
            ":2: daemon.district: required",
            "district role needs district",
        ),
        ('[api\nport = 1\n', ":1: toml: ", "TOML syntax error"),
    ],
)
def test_bad_config_names_file_line_and_key(
    tmp_path: Path, text: str, expected: str, description: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert f"{path}{expected}" in str(caught.value), description


def test_bad_environment_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOCD_API__PORT", "not-a-port")
    with pytest.raises(ConfigError, match=r"environment NOCD_API__PORT: api\.port"):
        load_settings(None)


def test_check_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, '[api]\nport = 0\n\n[daemon]\nrole = "x"\n')
    result = CliRunner().invoke(app, ["check-config", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert f"{path}:2: api.port: Input should be greater than or equal to 1" in lines
    assert any(line.startswith(f"{path}:5: daemon.role:") for line in lines)


def test_check_config_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check-config", str(tmp_path / "absent.toml")])
    assert result.exit_code == 2
    assert "absent.toml: (file): No such file or directory" in result.output


@pytest.mark.parametrize("name", ["nocd-all.toml", "nocd-central.toml", "nocd-district.toml"])
def test_shipped_examples_are_valid(name: str) -> None:
    result = CliRunner().invoke(app, ["check-config", str(REPO / "deploy" / "examples" / name)])
    assert result.exit_code == 0, result.output
