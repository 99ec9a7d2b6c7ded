"""``nocd demo`` from the outside: it serves /healthz and /metrics, then ends by itself (exit 0)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_service
from tests.fixtures.lab import free_udp_port, snmpsim_available

pytestmark = [pytest.mark.integration, pytest.mark.snmp]


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_demo_serves_health_and_metrics_then_stops_by_itself() -> None:
    require_service(snmpsim_available(), "snmpsim")
    work = Path(tempfile.mkdtemp(prefix="nocd-demo-test-"))  # under /tmp: readable by snmpsim
    port = _free_tcp_port()
    cmd = [
        sys.executable, "-c", "from nocd.cli import main; main()", "demo",
        "--duration", "30", "--port", str(port), "--lab-port", str(free_udp_port()),
        "--dir", str(work),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 28
        metrics = ""
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                if "nocd_device_up{" in metrics:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)  # retry interval of a readiness probe against another process
        assert "nocd_device_up{" in metrics, "devices were polled and judged"
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, output
        assert f"http://127.0.0.1:{port}/docs" in output
        assert "demo stopped" in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)
