"""``nocd demo`` from the outside: a real subprocess with snmpsim, Prometheus and Alertmanager.

The story test (about 3.5 minutes, marked slow: the demo's own timings) lets the
scripted faults run and checks, through nocd's API and the HTTP APIs of Prometheus and
Alertmanager while the demo still runs, that each fault left its alert and incident, that
tickets exist (the complaint classified customer-side), that the day's report is stored,
that Prometheus scraped nocd and that Alertmanager holds nocd's alerts; then that the demo
ends by itself (exit 0) and no process it started is left. The SIGINT test (about 40 s)
stops a demo with Ctrl-C's signal, twice, and checks the same clean exit and that the
operator token never reached the console.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_service
from tests.fixtures.lab import free_udp_port, snmpsim_available
from tests.fixtures.prom import binary

pytestmark = [pytest.mark.integration, pytest.mark.snmp]

DURATION_S = 150  # the story ends ~120 s after nocd starts (report included); then we look
WARM_UP_S = 10
STEP_S = 12


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _processes_using(work: Path) -> list[tuple[int, str]]:
    """(pid, command line) of live processes naming the demo directory (its children do)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and str(work).encode() in raw:
            found.append((int(entry.name), raw.replace(b"\0", b" ").decode(errors="replace")[:160]))
    return found


class Demo:
    """One ``nocd demo`` subprocess, its output collected line by line in a thread."""

    def __init__(self, work: Path, *extra: str) -> None:
        self.work = work
        self.port = _free_tcp_port()
        self.prometheus = f"http://127.0.0.1:{_free_tcp_port()}"
        self.alertmanager = f"http://127.0.0.1:{_free_tcp_port()}"
        argv = [
            sys.executable, "-c", "from nocd.cli import main; main()", "demo",
            "--dir", str(work), "--port", str(self.port), "--lab-port", str(free_udp_port()),
            "--prometheus-port", self.prometheus.rsplit(":", 1)[1],
            "--alertmanager-port", self.alertmanager.rsplit(":", 1)[1], *extra,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: list[str] = []
        self.serving_at: float | None = None  # monotonic time nocd started serving
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if self.serving_at is None and "starting: role=" in line:
                self.serving_at = time.monotonic()  # --duration counts from here
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def until(self, check: Callable[[], Any], what: str, timeout_s: float) -> Any:
        """Poll ``check`` until it returns something truthy; fail if the demo exits first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"demo exited while waiting for {what}:\n{self.tail()}"
            try:
                value = check()
            except httpx.TransportError:
                value = None
            if value:
                return value
            time.sleep(0.5)  # re-check interval of this wait loop, not a sync point
        pytest.fail(f"timed out after {timeout_s} s waiting for {what}:\n{self.tail()}")

    def line(self, pattern: str) -> re.Match[str] | None:
        return next((m for line in self.lines if (m := re.search(pattern, line))), None)

    def tail(self) -> str:
        return "\n".join(self.lines[-60:])

    def api(self, path: str, **params: Any) -> Any:
        token = (self.work / "secrets" / "operator.token").read_text().strip()
        response = httpx.get(
            f"http://127.0.0.1:{self.port}{path}",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def demo_dir() -> Iterator[Path]:
    require_service(snmpsim_available(), "snmpsim")
    require_service(binary("prometheus") is not None, "Prometheus (prometheus)")
    require_service(
        binary("alertmanager", "prometheus-alertmanager") is not None,
        "Alertmanager (prometheus-alertmanager)",
    )
    work = Path(tempfile.mkdtemp(prefix="nocd-demo-test-"))  # under /tmp: readable by snmpsim
    try:
        yield work
    finally:
        for pid, _cmdline in _processes_using(work):  # a failed test leaves no children behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


def _alerts(demo: Demo, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = demo.api("/api/v1/alerts", limit=1000, **params)["items"]
    return items


@pytest.mark.slow  # about 3.5 minutes: the demo's own story, deliberately not shortened further
def test_demo_story_leaves_alerts_incidents_tickets_and_a_report_then_exits_by_itself(
    demo_dir: Path,
) -> None:
    demo = Demo(
        demo_dir, "--duration", str(DURATION_S), "--warm-up", str(WARM_UP_S), "--step", str(STEP_S)
    )
    # The demo runs DURATION_S after nocd starts: every wait below ends before that.
    demo.until(lambda: demo.serving_at, "nocd to start", 90)
    assert demo.serving_at is not None
    lifetime_end = demo.serving_at + DURATION_S - 2

    def wait(check: Callable[[], Any], what: str) -> Any:
        return demo.until(check, what, lifetime_end - time.monotonic())

    def found(items: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
        return [i for i in items if all(i.get(k) == v for k, v in match.items())]

    try:
        wait(lambda: demo.line(r"demo: report for \S+ stored"), "the report")
        # The story as the demo told it (it picks the devices from the lab it generated).
        outage = demo.line(r"DSLAM (\S+) becomes unreachable")
        snr = demo.line(r"collapses to \S+ dB on (\S+) lines ([\d,]+)")
        congested = demo.line(r"uplink (\S+) ifIndex (\d+) congested")
        complaint = demo.line(r"customer (\S+) complains .*: ticket (\S+), classified (\w+)")
        assert outage and snr and congested and complaint, demo.tail()
        assert complaint.group(3) == "customer_side", complaint.group(0)

        # 1. Outage: device_down went critical, with an incident and a ticket for it.
        outage_key = f"device_down:device:{outage.group(1)}"
        down = _alerts(demo, rule="device_down", device=outage.group(1))
        assert found(down, key=outage_key, severity="critical"), down

        def incident(root: str) -> dict[str, Any] | None:
            incidents = demo.api("/api/v1/incidents", limit=1000)["items"]
            return next((i for i in incidents if i["root_alert_key"] == root), None)

        outage_incident = wait(lambda: incident(outage_key), "the outage's incident")
        wait(
            lambda: demo.api("/api/v1/tickets", incident_key=outage_incident["key"])["items"],
            "the outage's ticket",
        )

        # 2. SNR collapse: snr_margin_low fired on the collapsed lines, each an incident.
        lines = snr.group(2).split(",")
        line_key = f"snr_margin_low:line:{snr.group(1)}/line:{lines[0]}"
        wait(lambda: found(_alerts(demo, rule="snr_margin_low"), key=line_key), line_key)
        wait(lambda: incident(line_key), f"the incident of {line_key}")

        # 3. Congested uplink: uplink_utilisation (critical above 95 %, warning above 80 %:
        # which one a loaded machine's rate jitter shows first varies) and its incident.
        port_key = f"uplink_utilisation:port:{congested.group(1)}/if:{congested.group(2)}"
        wait(lambda: found(_alerts(demo, rule="uplink_utilisation"), key=port_key), port_key)
        wait(lambda: incident(port_key), f"the incident of {port_key}")

        # 4. The complaint: a complaint ticket on that customer, classified customer-side.
        theirs = demo.api("/api/v1/tickets", customer_id=complaint.group(1))["items"]
        assert [(t["id"], t["kind"], t["side"]) for t in theirs] == [
            (complaint.group(2), "complaint", "customer_side")
        ]

        # 5. The report of the demo day: HTML, JSON and CSV in both languages.
        day = demo.line(r"report for (\S+) stored").group(1)  # type: ignore[union-attr]
        stored = demo.api("/api/v1/reports", date=day, period="day")["items"]
        assert {(r["format"], r["lang"]) for r in stored} == {
            (fmt, lang) for fmt in ("html", "json", "csv") for lang in ("en", "zh-CN")
        }
        assert (demo_dir / "report" / f"nocd-sla-day-{day}-en.html").stat().st_size > 10_000

        # Prometheus scraped nocd (deploy/ config, demo ports) and evaluated deploy/ rules.
        up = httpx.get(f"{demo.prometheus}/api/v1/query", params={"query": 'up{job="nocd"}'})
        assert [s["value"][1] for s in up.json()["data"]["result"]] == ["1"], up.text
        devices = httpx.get(f"{demo.prometheus}/api/v1/query", params={"query": "nocd_device_up"})
        assert len(devices.json()["data"]["result"]) >= 10, devices.text

        # Alertmanager holds nocd's pushed alerts (origin="nocd") …
        def pushed() -> set[str]:
            alerts = httpx.get(
                f"{demo.alertmanager}/api/v2/alerts", params={"filter": 'origin="nocd"'}
            ).json()
            return {a["labels"]["alertname"] for a in alerts}

        wait(lambda: {"snr_margin_low", "uplink_utilisation"} <= pushed(), "nocd's alerts in AM")
        # … and Prometheus' NocdDeviceDown came back to nocd through the webhook.
        assert _alerts(demo, rule="NocdDeviceDown"), "Alertmanager → nocd webhook"

        children = _processes_using(demo_dir)
        assert len(children) >= 3, children  # snmpsim, Prometheus, Alertmanager (+ nocd)

        demo.proc.wait(timeout=DURATION_S + 60)
        demo._reader.join(timeout=10)
        assert demo.proc.returncode == 0, demo.tail()
        assert "demo stopped" in demo.output
        assert f"http://127.0.0.1:{demo.port}/docs" in demo.output
        assert f"{demo.prometheus}/alerts" in demo.output
        assert _processes_using(demo_dir) == []
    finally:
        demo.stop()


def test_demo_stops_cleanly_on_sigint_even_when_it_comes_twice(demo_dir: Path) -> None:
    demo = Demo(demo_dir, "--warm-up", "600")  # no fault before the signal
    try:

        def everything_up() -> bool:
            health = httpx.get(f"http://127.0.0.1:{demo.port}/healthz", timeout=2)
            ready = [
                httpx.get(f"{u}/-/ready", timeout=2) for u in (demo.prometheus, demo.alertmanager)
            ]
            return health.status_code == 200 and all(r.status_code == 200 for r in ready)

        demo.until(everything_up, "nocd, Prometheus and Alertmanager", 90)
        assert len(_processes_using(demo_dir)) >= 4  # nocd, snmpsim, Prometheus, Alertmanager
        demo.proc.send_signal(signal.SIGINT)
        # A terminal's Ctrl-C reaches make and uv too, which may pass it on: a second SIGINT
        # while stopping must not leave a child behind.
        demo.until(lambda: demo.line("SIGINT received"), "the first SIGINT handled", 30)
        demo.proc.send_signal(signal.SIGINT)
        demo.proc.wait(timeout=30)
        demo._reader.join(timeout=10)
        assert demo.proc.returncode == 0, demo.tail()
        assert "demo stopped" in demo.output
        assert _processes_using(demo_dir) == []
        token = (demo_dir / "secrets" / "operator.token").read_text().strip()
        assert token not in demo.output, "the token stays in its file"
        assert (demo_dir / "secrets" / "operator.token").stat().st_mode & 0o077 == 0
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{demo.prometheus}/-/ready", timeout=2)
    finally:
        demo.stop()
