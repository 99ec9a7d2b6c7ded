"""``nocd run`` as a real process: health, metrics, signals, schema refusal, database outage.

Every wait polls with a deadline; nothing sleeps to synchronise.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from nocd import __version__
from nocd.storage.db import make_engine
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.integration

NOCD = [sys.executable, "-c", "from nocd.cli import main; main()"]
START_DEADLINE_S = 60.0  # a loaded 2-core CI runner can take most of a minute to start
STOP_DEADLINE_S = 5.0  # the promise: SIGTERM/SIGINT end the daemon within 5 seconds

INVENTORY = """\
districts: [{id: xihu, name: Xihu}]
devices:
  - {name: xihu-agg-01, district: xihu, kind: aggregation, address: 127.0.1.1, port: 161,
     snmp: {version: 2c, community: s3cret-community}}
  - {name: xihu-dslam-01, district: xihu, kind: dslam, address: 127.0.1.2, port: 161,
     parent: xihu-agg-01, snmp: {version: 2c, community: s3cret-community}}
  - {name: xihu-dslam-02, district: xihu, kind: dslam, address: 127.0.1.3, port: 161,
     parent: xihu-agg-01, snmp: {version: 2c, community: s3cret-community}}
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(condition: Callable[[], bool], what: str, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)  # poll interval, not synchronisation: the condition decides
    pytest.fail(f"timed out after {deadline_s} s waiting for {what}")


def _env(url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOCD_")}
    env.update(
        NOCD_STORAGE__URL=url,
        NOCD_API__HOST="127.0.0.1",
        NOCD_API__PORT=str(port),
        NOCD_DAEMON__LOG_LEVEL="INFO",
        **extra,
    )
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NOCD, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


class Daemon:
    """One ``nocd run`` subprocess with its stderr in a file."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.port = _free_port()
        self.env = _env(url, self.port)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"nocd-{self.port}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [*NOCD, "run"], env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.client = httpx.Client(base_url=self.base, timeout=10.0)

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return self.client.get(path, **kwargs)  # type: ignore[arg-type]

    def wait_healthy(self) -> None:
        def healthy() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"nocd run exited {self.process.returncode}:\n{self.log}")
            try:
                return self.get("/healthz").status_code == 200
            except httpx.TransportError:
                return False

        _wait_for(healthy, f"/healthz on {self.base}", START_DEADLINE_S)

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, float]:
        """Send ``signum``; return the exit code and how long the process took to end."""
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=STOP_DEADLINE_S + 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"nocd run ignored {signal.Signals(signum).name}:\n{self.log}")
        return code, time.monotonic() - started

    def close(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[[str], Daemon]]:
    daemons: list[Daemon] = []

    def start(url: str) -> Daemon:
        daemon = Daemon(url, tmp_path)
        daemons.append(daemon)
        return daemon

    yield start
    for daemon in daemons:
        daemon.close()


def _upgraded(blank_url: str, port: int = 1) -> str:
    result = _cli(_env(blank_url, port), "db", "upgrade")
    assert result.returncode == 0, result.stderr
    return blank_url


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_daemon_serves_health_readiness_metrics_and_stops_cleanly_on_signal(
    blank_db_url: str, start_daemon: Callable[[str], Daemon], signum: int
) -> None:
    url = _upgraded(blank_db_url)
    daemon = start_daemon(url)
    daemon.wait_healthy()

    assert daemon.get("/readyz").json() == {"status": "ready"}

    created = _cli(daemon.env, "token", "create", "--role", "operator", "--name", "test-op")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("nocd_")
    imported = daemon.client.post(
        "/api/v1/inventory/import",
        json={"format": "yaml", "content": INVENTORY},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert imported.status_code == 200, imported.text

    metrics = daemon.get("/metrics").text
    assert f'nocd_build_info{{role="all",version="{__version__}"}} 1.0' in metrics
    assert 'nocd_inventory_devices{district="xihu",kind="dslam"} 2.0' in metrics
    assert 'nocd_inventory_devices{district="xihu",kind="aggregation"} 1.0' in metrics
    assert 'nocd_inventory_devices{district="xihu",kind="bras"} 0.0' in metrics
    assert "process_resident_memory_bytes" in metrics

    code, took = daemon.stop(signum)
    assert code == 0, daemon.log
    assert took < STOP_DEADLINE_S
    log = daemon.log
    assert "s3cret-community" not in log
    assert token not in log
    assert "Traceback" not in log


def test_daemon_refuses_to_start_on_an_out_of_date_schema(
    blank_db_url: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [*NOCD, "run"],
        env=_env(blank_db_url, _free_port()),
        capture_output=True,
        text=True,
        timeout=START_DEADLINE_S,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "nocd db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def _pg_admin(sql: str) -> None:
    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(sql)
    finally:
        admin.engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_daemon_survives_a_database_outage_and_reports_it_once(
    db_backend: str, blank_db_url: str, start_daemon: Callable[[str], Daemon]
) -> None:
    """The database stops accepting connections and every session is cut off; then it returns.

    SQLite is not covered: as root, permissions do not stop file access, and pooled
    connections keep the open file alive whatever happens to its name.
    """
    url = _upgraded(blank_db_url)
    name = make_url(url).database
    daemon = start_daemon(url)
    daemon.wait_healthy()
    assert daemon.get("/readyz").status_code == 200

    _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    try:
        _wait_for(lambda: daemon.get("/readyz").status_code == 503, "/readyz 503", 30)
        for _ in range(5):  # repeated probes must not each log an error
            response = daemon.get("/readyz")
            assert response.status_code == 503
            assert response.json()["status"] == "unavailable"
            assert "not currently accepting connections" in response.json()["reason"]
        assert daemon.get("/healthz").status_code == 200
        assert daemon.get("/metrics").status_code == 200
        assert daemon.process.poll() is None, daemon.log
    finally:
        _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    _wait_for(lambda: daemon.get("/readyz").status_code == 200, "/readyz 200 again", 30)
    code, _ = daemon.stop()
    assert code == 0, daemon.log
    log = daemon.log
    errors = re.findall(r" ERROR .*database unavailable", log)
    recoveries = re.findall(r" INFO .*database available again", log)
    assert len(errors) == 1, log
    assert len(recoveries) == 1, log
    assert "Traceback" not in log
