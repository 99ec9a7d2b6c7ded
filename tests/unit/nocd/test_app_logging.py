"""The daemon's logging setup: level from settings, secrets masked as a second line of defence."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from nocd.app import configure_logging

_QUIETED = ("apscheduler", "uvicorn.access", "httpx", "alembic")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in _QUIETED}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in quiet.items():
        logging.getLogger(name).setLevel(old)


@pytest.mark.parametrize(
    ("description", "message", "args", "leaked", "shown"),
    [
        (
            "bearer header",
            "auth %s",
            ("Bearer nocd_abcdefghijklmnopqrstuvwxyz",),
            "abcdefgh",
            "auth Bearer ***",
        ),
        (
            "bare API token",
            "token=%s",
            ("nocd_abcdefghijklmnopqrstuvwxyz",),
            "abcdefgh",
            "token=nocd_***",
        ),
        (
            "password in a URL",
            "db %s",
            ("postgresql://nocd:hunter2@db/nocd",),
            "hunter2",
            "db postgresql://nocd:***@db/nocd",
        ),
    ],
)
def test_log_records_have_secrets_masked(
    restore_logging: None,
    capsys: pytest.CaptureFixture[str],
    description: str,
    message: str,
    args: tuple[str, ...],
    leaked: str,
    shown: str,
) -> None:
    configure_logging("INFO")
    logging.getLogger("nocd.test").warning(message, *args)
    err = capsys.readouterr().err
    assert leaked not in err, description
    assert shown in err, description


def test_level_comes_from_settings_and_chatty_libraries_stay_quiet(restore_logging: None) -> None:
    configure_logging("WARNING")
    assert logging.getLogger().level == logging.WARNING
    configure_logging("INFO")
    assert logging.getLogger().level == logging.INFO
    assert logging.getLogger("apscheduler").level == logging.WARNING
    assert logging.getLogger("uvicorn.access").level == logging.WARNING
    configure_logging("DEBUG")
    assert logging.getLogger("apscheduler").level == logging.DEBUG
