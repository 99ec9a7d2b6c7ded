"""Suite-wide fixtures: a clean environment, service discovery and the CI rule.

Under ``CI=true`` a missing service (PostgreSQL, snmpd, snmpsim, Prometheus…) is a failure,
never a skip; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.snmp_agents",
    "tests.fixtures.lab",
    "tests.fixtures.prom",
]

IN_CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NOCD_SHARED_DIR", REPO.parent / "shared"))
SHARED_DATA = SHARED / "data"
# Captured before the autouse fixture strips NOCD_* variables from the environment.
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "")


def require_service(available: bool, what: str) -> None:
    """Skip when ``what`` is missing — or fail under CI=true, where every service must run."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} not available")


def require_shared_data(*parts: str) -> Path:
    """Path to a file under ../shared/data, or skip (the project works outside this workplace)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data {path} not present")
    return path


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No NOCD_* variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("NOCD_"):
            monkeypatch.delenv(name)
    yield
