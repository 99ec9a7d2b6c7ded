"""The soak's moving parts: a private PostgreSQL, nocd processes, the district→central link.

Everything runs on loopback and is owned by the soak: the PostgreSQL cluster lives in the
soak's work directory on a port of its own (never the test suite's server), processes are
stopped by their own pid, and the link is a TCP relay in the soak process that can be cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
NOCD = [sys.executable, "-c", "from nocd.cli import main; main()"]
PG_SCRIPT = REPO / "tests" / "services" / "postgres.sh"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_cpu_rss(pid: int) -> tuple[float, float] | None:
    """(CPU seconds user+system, RSS MiB) of a live process, None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    rss_kb = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
    )
    return (int(stat[11]) + int(stat[12])) / ticks, rss_kb / 1024.0


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry.name))
    return found


@dataclass(slots=True)
class PrivatePostgres:
    """A PostgreSQL cluster of the soak's own (``tests/services/postgres.sh`` with PGPORT and
    NOCD_PG_DIR), so that killing it never touches the server other work uses."""

    directory: Path
    port: int = field(default_factory=free_port)
    url: str = ""

    def _script(self, command: str) -> str:
        env = {
            **os.environ,
            "PGPORT": str(self.port),
            "NOCD_PG_DIR": str(self.directory),
            # Durable (synchronous commit): a SIGKILLed server must keep every commit it
            # acknowledged. The test suite's fast settings lose the last ones (a soak found it).
            "NOCD_PG_DURABLE": "1",
        }
        run = subprocess.run(
            ["bash", str(PG_SCRIPT), command], env=env, capture_output=True, text=True, timeout=120
        )
        if run.returncode != 0:
            raise RuntimeError(f"postgres.sh {command} failed: {run.stderr.strip()}")
        return run.stdout.strip()

    def start(self) -> str:
        """Start (or restart after a kill: crash recovery); the SQLAlchemy URL."""
        self.url = self._script("start").splitlines()[-1]
        return self.url

    def postmaster_pid(self) -> int | None:
        pid_file = self.directory / "postmaster.pid"
        try:
            return int(pid_file.read_text().splitlines()[0])
        except (OSError, IndexError, ValueError):
            return None

    def kill(self) -> list[int]:
        """SIGKILL the postmaster and every backend at once (a crash, not a shutdown)."""
        pid = self.postmaster_pid()
        if pid is None:
            return []
        victims = [pid, *children_of(pid)]
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{v}").exists() for v in victims) and time.monotonic() < deadline:
            time.sleep(0.1)  # re-check interval while the kernel reaps them
        return victims

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._script("stop")


@dataclass(slots=True)
class Node:
    """One ``nocd run --role ROLE`` process; ``start`` after a kill reuses port and log."""

    role: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    incarnations: list[tuple[float, int]] = field(default_factory=list)  # (started at, pid)
    stopped: list[float] = field(default_factory=list)  # wall clock of every kill/stop

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOCD_")}
        env.update(self.env, NOCD_API__HOST="127.0.0.1", NOCD_API__PORT=str(self.port))
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [*NOCD, "run", "--role", self.role],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        self.incarnations.append((time.time(), self.process.pid))

    async def wait_healthy(self, deadline_s: float = 180.0) -> float:
        """Seconds until ``/healthz`` answers 200; raises if the process dies or is too slow."""
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    tail = self.log_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{self.role} exited {self.process.returncode}:\n{tail}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.base}/healthz")).status_code == 200:
                        return time.monotonic() - started
                if time.monotonic() - started > deadline_s:
                    raise RuntimeError(f"{self.role} not healthy after {deadline_s} s")
                await asyncio.sleep(0.2)  # re-check interval, not synchronisation

    @property
    def pid(self) -> int | None:
        return (
            self.process.pid if self.process is not None and self.process.poll() is None else None
        )

    def kill(self) -> None:
        """SIGKILL, no chance to flush."""
        if self.process is not None and self.process.poll() is None:
            self.stopped.append(time.time())
            self.process.kill()
            self.process.wait(timeout=30)

    def terminate(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout_s``); the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process is not None else None
        self.stopped.append(time.time())
        self.process.terminate()
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=30)


class Link:
    """A TCP relay standing for the district→central WAN link; ``cut`` drops it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.up = True
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            while self.up and (chunk := await reader.read(65536)):
                writer.write(chunk)
                await writer.drain()
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()  # the link is down: the district sees a reset
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}

    def cut(self) -> None:
        """Drop every connection now and refuse new ones until ``restore``."""
        self.up = False
        for writer in list(self._writers):
            writer.transport.abort()

    def restore(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
