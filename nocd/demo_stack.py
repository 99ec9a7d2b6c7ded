"""Prometheus and Alertmanager for ``nocd demo``: runtime copies of the deploy/ configs, started
as child processes and stopped with the demo.

    stack = ObservabilityStack.find(deploy_dir, state_dir)   # None parts: binary not installed
    await stack.start(nocd_port=8080, webhook_token_file=path, prometheus_port=9090,
                      alertmanager_port=9093)
    ...
    await stack.stop()                                        # SIGTERM, SIGKILL after 10 s

The files in ``deploy/`` are never edited: the demo writes copies into its state directory
with its own ports, targets and shorter timings (scrape every 5 s, rule ``for`` 20 s,
Alertmanager group waits of a second), so that something shows within the demo's minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from nocd.errors import NocdError

__all__ = ["DEPLOY_DIR", "DemoStackError", "ObservabilityStack", "Server"]

DEPLOY_DIR = Path(__file__).resolve().parent.parent / "deploy"
READY_DEADLINE_S = 60.0  # Prometheus replays its WAL on start; a cold start takes seconds
STOP_GRACE_S = 10.0
SCRAPE_INTERVAL = "5s"
RULE_FOR = "20s"  # deploy/ rules wait minutes; the demo shows them firing within one


class DemoStackError(NocdError):
    """Raised when Prometheus or Alertmanager exits or does not become ready."""


@dataclass(slots=True)
class Server:
    """One child process, where it answers and its log."""

    name: str
    url: str
    log: Path
    process: asyncio.subprocess.Process | None = None

    async def wait_ready(self) -> None:
        """Poll ``/-/ready`` until it answers 200; raise with the log tail if the child exits."""
        deadline = time.monotonic() + READY_DEADLINE_S
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.process is None or self.process.returncode is not None:
                    raise DemoStackError(f"{self.name} exited:\n{self._tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.url + "/-/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.2)  # poll interval of a readiness check
        raise DemoStackError(
            f"{self.name} not ready after {READY_DEADLINE_S:.0f} s:\n{self._tail()}"
        )

    def _tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``STOP_GRACE_S``; idempotent."""
        proc, self.process = self.process, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=STOP_GRACE_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


@dataclass(slots=True)
class ObservabilityStack:
    """The Debian ``prometheus`` and ``prometheus-alertmanager`` binaries, when installed."""

    deploy: Path
    state: Path
    prometheus_exe: str | None
    alertmanager_exe: str | None
    servers: list[Server] = field(default_factory=list)

    @classmethod
    def find(cls, deploy: Path, state: Path) -> ObservabilityStack:
        """Look the binaries up on PATH (Debian names Alertmanager prometheus-alertmanager)."""
        alertmanager = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")
        return cls(
            deploy=deploy,
            state=state,
            prometheus_exe=shutil.which("prometheus"),
            alertmanager_exe=alertmanager,
        )

    @property
    def available(self) -> bool:
        """Both binaries and the deploy/ configs are there."""
        return (
            self.prometheus_exe is not None
            and self.alertmanager_exe is not None
            and (self.deploy / "prometheus" / "prometheus.yml").is_file()
            and (self.deploy / "alertmanager" / "alertmanager.yml").is_file()
        )

    async def start(
        self,
        *,
        nocd_port: int,
        webhook_token_file: Path,
        prometheus_port: int,
        alertmanager_port: int,
    ) -> tuple[Server, Server]:
        """Alertmanager, then Prometheus; both ready when this returns."""
        assert self.prometheus_exe is not None and self.alertmanager_exe is not None
        self.state.mkdir(parents=True, exist_ok=True)
        am_config = alertmanager_config(
            self.deploy,
            webhook_url=f"http://127.0.0.1:{nocd_port}/api/v1/alertmanager/webhook",
            token_file=webhook_token_file,
        )
        am_path = self.state / "alertmanager.yml"
        am_path.write_text(yaml.safe_dump(am_config, sort_keys=False), encoding="utf-8")
        am = await self._start(
            "alertmanager",
            alertmanager_port,
            [
                self.alertmanager_exe,
                f"--config.file={am_path}",
                f"--storage.path={self.state / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{alertmanager_port}",
                "--cluster.listen-address=",  # one instance: no gossip port
            ],
        )
        rules_dir = self.state / "rules"
        rules_dir.mkdir(exist_ok=True)
        for name, rules in rule_files(self.deploy).items():
            (rules_dir / name).write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
        prom_config = prometheus_config(
            self.deploy,
            nocd=f"127.0.0.1:{nocd_port}",
            alertmanager=f"127.0.0.1:{alertmanager_port}",
            rules_glob=str(rules_dir / "*.yml"),
        )
        prom_path = self.state / "prometheus.yml"
        prom_path.write_text(yaml.safe_dump(prom_config, sort_keys=False), encoding="utf-8")
        prom = await self._start(
            "prometheus",
            prometheus_port,
            [
                self.prometheus_exe,
                f"--config.file={prom_path}",
                f"--storage.tsdb.path={self.state / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
        )
        return prom, am

    async def _start(self, name: str, port: int, argv: list[str]) -> Server:
        server = Server(name=name, url=f"http://127.0.0.1:{port}", log=self.state / f"{name}.log")
        self.servers.append(server)
        with server.log.open("ab") as log:
            # Own session: a terminal's Ctrl-C reaches nocd only, which stops us in order.
            server.process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        await server.wait_ready()
        return server

    async def stop(self) -> None:
        """Stop every started server, newest first."""
        for server in reversed(self.servers):
            await server.stop()
        self.servers.clear()


def alertmanager_config(deploy: Path, *, webhook_url: str, token_file: Path) -> dict[str, Any]:
    """deploy/alertmanager/alertmanager.yml with nocd's webhook URL and token file replaced."""
    config: dict[str, Any] = yaml.safe_load(
        (deploy / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8")
    )
    for receiver in config.get("receivers", []):
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url
            hook.setdefault("http_config", {}).setdefault("authorization", {})
            hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    config["route"].update(group_wait="1s", group_interval="5s", repeat_interval="5m")
    return config


def prometheus_config(
    deploy: Path, *, nocd: str, alertmanager: str, rules_glob: str
) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml scraping ``nocd`` and alerting ``alertmanager``."""
    config: dict[str, Any] = yaml.safe_load(
        (deploy / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    )
    config["global"].update(scrape_interval=SCRAPE_INTERVAL, evaluation_interval=SCRAPE_INTERVAL)
    config["rule_files"] = [rules_glob]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    for job in config.get("scrape_configs", []):
        if job.get("job_name") == "nocd":
            job["static_configs"] = [{"targets": [nocd], "labels": {"role": "all"}}]
    return config


def rule_files(deploy: Path) -> dict[str, dict[str, Any]]:
    """deploy/prometheus/rules/*.yml with every ``for`` shortened to ``RULE_FOR``."""
    files: dict[str, dict[str, Any]] = {}
    for source in sorted((deploy / "prometheus" / "rules").glob("*.yml")):
        rules: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
        for group in rules.get("groups", []):
            group["interval"] = SCRAPE_INTERVAL
            for rule in group.get("rules", []):
                if "for" in rule:
                    rule["for"] = RULE_FOR
        files[source.name] = rules
    return files
