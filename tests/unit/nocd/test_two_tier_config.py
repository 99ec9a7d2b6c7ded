"""Roles and ``[central]``: what each role needs to start, ``--role`` precedence, the token."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nocd.cli import app
from nocd.config import Role, load_settings
from nocd.districts import silent_after_s
from nocd.errors import ConfigError

DISTRICT_OK = """\
[daemon]
role = "district"
district = "xihu"

[central]
url = "http://central.example:8080/"
token = "nocd_s3cret-token-value-0123456789"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nocd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_district_settings_load_and_keep_the_token_secret(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, DISTRICT_OK))
    assert settings.central.url == "http://central.example:8080", "trailing slash dropped"
    assert settings.central.token is not None
    assert settings.central.token.get_secret_value().startswith("nocd_s3cret")
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.central)
    assert settings.central.retention_h == 72.0, "documented default retention"


@pytest.mark.parametrize(
    ("text", "expected", "description"),
    [
        (
            '[daemon]\nrole = "district"\ndistrict = "xihu"\n',
            [":2: central.url: required", ":2: central.token: required"],
            "no [central] section: both named at the role's line",
        ),
        (
            '[daemon]\nrole = "district"\ndistrict = "xihu"\n\n[central]\nurl = "http://c"\n',
            [":5: central.token: required"],
            "token missing: named at the [central] line",
        ),
        (
            DISTRICT_OK.replace('district = "xihu"\n', ""),
            [":2: daemon.district: required"],
            "district id missing",
        ),
        (
            DISTRICT_OK.replace("http://central.example:8080/", "ftp://x"),
            [":6: central.url: "],
            "not an http(s) URL",
        ),
        (
            DISTRICT_OK + "quota_items = 0\n",
            [":8: central.quota_items: "],
            "quota must be positive",
        ),
    ],
)
def test_district_role_problems_name_file_line_and_key(
    tmp_path: Path, text: str, expected: list[str], description: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    for part in expected:
        assert f"{path}{part}" in str(caught.value), (description, str(caught.value))


def test_role_argument_overrides_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, DISTRICT_OK)
    monkeypatch.setenv("NOCD_DAEMON__ROLE", "district")
    assert load_settings(path, role=Role.CENTRAL).daemon.role is Role.CENTRAL
    # ... and the district checks apply to an overridden role too.
    with pytest.raises(ConfigError, match=r"central\.url: required"):
        load_settings(write(tmp_path, "[daemon]\ndistrict = 'x'\n"), role=Role.DISTRICT)


def test_token_from_the_environment_completes_a_district_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = DISTRICT_OK.replace('token = "nocd_s3cret-token-value-0123456789"\n', "")
    monkeypatch.setenv("NOCD_CENTRAL__TOKEN", "nocd_from-env-0123456789abcdef")
    settings = load_settings(write(tmp_path, text))
    assert settings.central.token is not None
    assert settings.central.token.get_secret_value() == "nocd_from-env-0123456789abcdef"


def test_silence_threshold_defaults_to_three_interface_polls(tmp_path: Path) -> None:
    assert silent_after_s(load_settings(None)) == 180.0
    settings = load_settings(write(tmp_path, "[poll]\ninterfaces_s = 30\n"))
    assert silent_after_s(settings) == 90.0
    settings = load_settings(write(tmp_path, "[central]\nsilent_after_s = 600\n"))
    assert silent_after_s(settings) == 600.0


def test_nocd_run_with_role_district_and_no_central_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "[daemon]\ndistrict = 'xihu'\n")
    result = CliRunner().invoke(app, ["run", "--config", str(path), "--role", "district"])
    assert result.exit_code == 2, result.output
    assert "central.url: required" in result.output


def test_district_token_needs_its_district(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["token", "create", "--role", "district", "--name", "district-xihu"]
    )
    assert result.exit_code == 2
    assert "--district: required" in result.output
