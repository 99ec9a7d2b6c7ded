"""SNMP poll throughput: nocd's v1/v2c fast path against Prometheus snmp_exporter, same run.

One Net-SNMP snmpd of the bench's own (own config, high UDP port, bound so every 127.0.x.y
answers; access limited to 127.0.0.0/8) plays N devices. Tap interfaces enlarge its IF-MIB to
~100 rows where the sandbox allows (removed afterwards, even on failure). Then, one after the
other, each client polls all N devices for the same 7 IF-MIB columns:

* nocd   — ``collectors.fast_client`` in a worker process of its own (CPU and peak RSS of
  that process only; pysnmp is never imported there);
* snmp_exporter — ``prometheus-snmp-exporter`` with a hand-written generator-free module,
  driven by concurrent HTTP scrapes; its CPU and peak RSS are read from /proc;
* context — the pysnmp engine (``collectors.engine``) on a subset of devices, v2c and
  SNMPv3 authPriv (SHA/AES).

Usage::

    uv run python bench/poll_throughput.py --devices 200
    uv run python bench/poll_throughput.py --devices 2000 --json
    uv run python bench/poll_throughput.py --quick

Loopback only; every loop is bounded and every phase has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

COMMUNITY = "nocdbench"
V3_USER, V3_AUTH_KEY, V3_PRIV_KEY = "nocdbench", "nocdbench-auth-key", "nocdbench-priv-key"
TAP_PREFIX = "nocdbench"
# Seven IF-MIB columns, all numeric, so both clients produce plain samples for the same data.
COLUMNS = {
    "ifOperStatus": ("1.3.6.1.2.1.2.2.1.8", "gauge"),
    "ifInDiscards": ("1.3.6.1.2.1.2.2.1.13", "counter"),
    "ifInErrors": ("1.3.6.1.2.1.2.2.1.14", "counter"),
    "ifOutErrors": ("1.3.6.1.2.1.2.2.1.20", "counter"),
    "ifHCInOctets": ("1.3.6.1.2.1.31.1.1.1.6", "counter"),
    "ifHCOutOctets": ("1.3.6.1.2.1.31.1.1.1.10", "counter"),
    "ifHighSpeed": ("1.3.6.1.2.1.31.1.1.1.15", "gauge"),
}
MAX_REPETITIONS = 25
IN_FLIGHT = 16  # requests in flight (fast path) / device polls at once (pysnmp engine)
DEVICES_AT_ONCE = 64  # fast path: device polls at once, each walking its 7 columns
PHASE_DEADLINE_S = 900.0
READY_DEADLINE_S = 30.0
_SNMPGET = ("snmpget", "-v2c", "-c", COMMUNITY, "-t", "0.3", "-r", "0", "-On")


@dataclass(frozen=True, slots=True)
class BenchTarget:
    """A v1/v2c/v3 target with the fields both clients read (no pysnmp needed for v2c)."""

    host: str
    port: int
    version: str = "2c"
    community: str = COMMUNITY
    timeout_s: float = 5.0
    retries: int = 1


def device_address(i: int) -> str:
    """Device i → 127.0.x.y (x from 1, y in 1..250), all answered by the one snmpd."""
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


# ------------------------------------------------------------------------------ workers


def _rusage() -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


async def _worker(args: argparse.Namespace) -> dict[str, Any]:
    columns = [oid for oid, _ in COLUMNS.values()]
    targets = [BenchTarget(device_address(i), args.port) for i in range(args.devices)]
    client: Any
    if args.worker == "fast":
        from collectors.fast_client import FastSnmpClient

        client = await FastSnmpClient.create(max_in_flight=IN_FLIGHT, bind_host="127.0.0.1")
        # As the poller does: a bounded number of device polls at once (each holds its
        # growing Table), while the client itself caps the requests in flight.
        device_limit = asyncio.Semaphore(DEVICES_AT_ONCE)
    else:
        from collectors.engine import SnmpClient, SnmpTarget

        client = await SnmpClient.create()
        device_limit = asyncio.Semaphore(IN_FLIGHT)
        if args.worker == "engine-v3":
            targets = [
                SnmpTarget(
                    host=t.host,
                    port=t.port,
                    version="3",
                    user=V3_USER,
                    auth_protocol="sha",
                    auth_key=V3_AUTH_KEY,
                    priv_protocol="aes",
                    priv_key=V3_PRIV_KEY,
                    timeout_s=5.0,
                )
                for t in targets
            ]
        else:
            targets = [SnmpTarget(host=t.host, port=t.port, community=COMMUNITY) for t in targets]

    async def poll(target: Any) -> int:
        async with device_limit:
            table = await client.walk(target, columns, MAX_REPETITIONS)
        return sum(len(rows) for rows in table.values())

    try:
        expected = await poll(targets[0])  # warm-up: also learns the row count
        cpu0, _ = _rusage()
        cycle_walls: list[float] = []
        counts: list[int] = []
        async with asyncio.timeout(PHASE_DEADLINE_S):
            for _ in range(args.cycles):
                started = time.perf_counter()
                counts += await asyncio.gather(*(poll(t) for t in targets))
                cycle_walls.append(time.perf_counter() - started)
        cpu1, peak_rss_mb = _rusage()
    finally:
        client.close()
    varbinds = sum(counts)
    wall = sum(cycle_walls)
    result: dict[str, Any] = {
        "devices": args.devices,
        "cycles": args.cycles,
        "varbinds": varbinds,
        "varbinds_per_device": expected,
        "incomplete_devices": sum(1 for c in counts if c != expected),
        "wall_s": round(wall, 3),
        "cycle_wall_s": [round(w, 3) for w in cycle_walls],
        "cpu_s": round(cpu1 - cpu0, 3),
        "varbinds_per_s": round(varbinds / wall, 1) if wall else 0.0,
        "cpu_seconds_per_10k_varbinds": round((cpu1 - cpu0) / varbinds * 10_000, 4)
        if varbinds
        else None,
        "peak_rss_mb": round(peak_rss_mb, 1),
    }
    if args.worker == "fast":
        result["timeouts"] = client.stats.timeouts
        result["stray_datagrams"] = client.stats.stray_datagrams
        result["rcvbuf_bytes"] = client.rcvbuf_effective_bytes
        result["max_in_flight"] = IN_FLIGHT
        result["devices_at_once"] = DEVICES_AT_ONCE
    return result


def run_worker(kind: str, port: int, devices: int, cycles: int) -> dict[str, Any]:
    """Run one client in a fresh process, so its CPU and RSS are its own."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        kind,
        "--port",
        str(port),
        "--devices",
        str(devices),
        "--cycles",
        str(cycles),
    ]
    run = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=PHASE_DEADLINE_S + 60,
        check=False,
        cwd=REPO,
    )
    if run.returncode != 0:
        raise RuntimeError(f"worker {kind} failed:\n{run.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return data


# ------------------------------------------------------------------------------ the agent


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _remove_taps() -> None:
    for name in sorted(os.listdir("/sys/class/net")):
        if name.startswith(TAP_PREFIX):
            subprocess.run(
                ["ip", "tuntap", "del", name, "mode", "tap"], capture_output=True, check=False
            )


@contextlib.contextmanager
def tap_interfaces(rows_wanted: int) -> Iterator[str]:
    """Add tap interfaces until the IF-MIB has ``rows_wanted`` rows; always remove them."""
    _remove_taps()  # leftovers of a run that was killed hard
    existing = len(os.listdir("/sys/class/net"))
    note = f"{existing} interfaces, no taps added"
    try:
        if shutil.which("ip") and os.geteuid() == 0:
            added = 0
            for i in range(max(0, rows_wanted - existing)):
                run = subprocess.run(
                    ["ip", "tuntap", "add", f"{TAP_PREFIX}{i}", "mode", "tap"],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if run.returncode != 0:
                    note = f"tap creation stopped: {run.stderr.strip()}"
                    break
                added += 1
            note = f"{existing} interfaces + {added} taps"
        yield note
    finally:
        _remove_taps()


@contextlib.contextmanager
def snmpd_agent(work: Path) -> Iterator[int]:
    """Net-SNMP snmpd with its own config; yields the UDP port once a real GET answers."""
    snmpd = shutil.which("snmpd", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if snmpd is None:
        raise SystemExit("snmpd not found (Debian package snmpd)")
    port = _free_udp_port()
    persist = work / "persist"
    persist.mkdir()
    conf = work / "snmpd.conf"
    conf.write_text(
        "\n".join(
            [
                f"[snmp] persistentDir {persist}",
                # 0.0.0.0 so that every 127.0.x.y answers; only loopback sources get access.
                f"agentAddress udp:0.0.0.0:{port}",
                f"rocommunity {COMMUNITY} 127.0.0.0/8",
                f'createUser {V3_USER} SHA "{V3_AUTH_KEY}" AES "{V3_PRIV_KEY}"',
                f"rouser {V3_USER} priv",
                "",
            ]
        )
    )
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(persist), "MIBS": ""}
    log = (work / "snmpd.log").open("wb")
    proc = subprocess.Popen(
        [snmpd, "-f", "-Lo", "-C", "-c", str(conf)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=work,
    )
    try:
        deadline = time.monotonic() + READY_DEADLINE_S
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"snmpd exited: {(work / 'snmpd.log').read_text()[-2000:]}")
            probe = subprocess.run(
                [*_SNMPGET, f"127.0.0.1:{port}", "1.3.6.1.2.1.1.3.0"],
                capture_output=True,
                check=False,
            )
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise SystemExit("snmpd did not answer within the deadline")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


# ------------------------------------------------------------------------------ snmp_exporter


def exporter_config(path: Path) -> str:
    """A generator-free snmp.yml (snmp_exporter 0.21 schema) for the same 7 columns."""
    # Before 0.23 the file maps module names to modules directly (no "modules:"/"auths:").
    lines = [
        "nocd_bench:",
        "  walk:",
        *(f"    - {oid}" for oid, _ in COLUMNS.values()),
        "  version: 2",
        f"  max_repetitions: {MAX_REPETITIONS}",
        "  retries: 1",
        "  timeout: 5s",
        "  auth:",
        f"    community: {COMMUNITY}",
        "  metrics:",
    ]
    for name, (oid, kind) in COLUMNS.items():
        lines += [
            f"    - name: {name}",
            f"      oid: {oid}",
            f"      type: {kind}",
            "      indexes:",
            "        - labelname: ifIndex",
            "          type: gauge",
        ]
    path.write_text("\n".join(lines) + "\n")
    return "nocd_bench"


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def _proc_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def _count_samples(text: str) -> int:
    return sum(
        1
        for line in text.splitlines()
        if line and not line.startswith("#") and not line.startswith("snmp_scrape")
    )


async def _scrape_all(
    http_port: int, module: str, agent_port: int, devices: int, cycles: int
) -> tuple[list[int], list[float]]:
    import httpx

    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{http_port}", limits=limits, timeout=60.0
    ) as http:

        async def scrape(i: int) -> int:
            async with gate:
                rsp = await http.get(
                    "/snmp",
                    params={"target": f"{device_address(i)}:{agent_port}", "module": module},
                )
                rsp.raise_for_status()
                return _count_samples(rsp.text)

        walls: list[float] = []
        counts: list[int] = []
        async with asyncio.timeout(PHASE_DEADLINE_S):
            for _ in range(cycles):
                started = time.perf_counter()
                counts += await asyncio.gather(*(scrape(i) for i in range(devices)))
                walls.append(time.perf_counter() - started)
    return counts, walls


def run_exporter(work: Path, agent_port: int, devices: int, cycles: int) -> dict[str, Any]:
    exe = shutil.which("prometheus-snmp-exporter") or shutil.which("snmp_exporter")
    if exe is None:
        return {"error": "prometheus-snmp-exporter not installed (apt-get install it)"}
    module = exporter_config(work / "snmp.yml")
    http_port = _free_tcp_port()
    log = (work / "snmp_exporter.log").open("wb")
    proc = subprocess.Popen(
        [
            exe,
            f"--config.file={work / 'snmp.yml'}",
            f"--web.listen-address=127.0.0.1:{http_port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + READY_DEADLINE_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"snmp_exporter exited: {(work / 'snmp_exporter.log').read_text()}"
                )
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", http_port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("snmp_exporter did not listen in time")
        warm, _ = asyncio.run(_scrape_all(http_port, module, agent_port, 1, 1))  # not measured
        cpu0 = _proc_cpu_s(proc.pid)
        counts, walls = asyncio.run(_scrape_all(http_port, module, agent_port, devices, cycles))
        cpu1 = _proc_cpu_s(proc.pid)
        peak = _proc_peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
    varbinds = sum(counts)
    wall = sum(walls)
    cpu = cpu1 - cpu0
    expected = warm[0]
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return {
        "version": (version.stderr or version.stdout).splitlines()[0].strip(),
        "devices": devices,
        "cycles": cycles,
        "varbinds": varbinds,
        "varbinds_per_device": expected,
        "incomplete_devices": sum(1 for c in counts if c != expected),
        "wall_s": round(wall, 3),
        "cycle_wall_s": [round(w, 3) for w in walls],
        "cpu_s": round(cpu, 3),
        "varbinds_per_s": round(varbinds / wall, 1) if wall else 0.0,
        "cpu_seconds_per_10k_varbinds": round(cpu / varbinds * 10_000, 4) if varbinds else None,
        "peak_rss_mb": round(peak, 1),
        "concurrent_scrapes": IN_FLIGHT,
    }


# ------------------------------------------------------------------------------ main


def _hardware() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    # Other work on the machine shows up in wall-clock figures, not in per-process CPU.
    return {"nproc": os.cpu_count(), "cpu_model": model, "load_avg_1m": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=None, help="devices to poll (200, 2000)")
    parser.add_argument("--cycles", type=int, default=None, help="poll cycles per client")
    parser.add_argument("--quick", action="store_true", help="small run: 50 devices, 1 cycle")
    parser.add_argument("--json", action="store_true", help='print {"nocd":…, "snmp_exporter":…}')
    parser.add_argument("--if-rows", type=int, default=100, help="IF-MIB rows to aim for")
    parser.add_argument("--engine-devices", type=int, default=50, help="devices for pysnmp runs")
    parser.add_argument("--no-engine", action="store_true", help="skip the pysnmp context runs")
    parser.add_argument("--worker", choices=["fast", "engine", "engine-v3"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(asyncio.run(_worker(args))))
        return 0

    devices = args.devices or (50 if args.quick else 200)
    cycles = args.cycles or (1 if args.quick or devices >= 1000 else 3)
    if_rows = min(args.if_rows, 30) if args.quick else args.if_rows
    engine_devices = min(devices, 10 if args.quick else args.engine_devices)
    # SIGTERM must still run the finally blocks that remove the taps and stop the agents.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def say(text: str) -> None:
        if not args.json:
            print(text, flush=True)

    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="nocd-bench-") as tmp:
        work = Path(tmp)
        with tap_interfaces(if_rows) as iface_note, snmpd_agent(work) as port:
            say(f"snmpd on udp:0.0.0.0:{port}; {iface_note}; {devices} devices × {cycles} cycles")
            nocd = run_worker("fast", port, devices, cycles)
            say(f"nocd fast path:  {_line(nocd)}")
            exporter = run_exporter(work, port, devices, cycles)
            say(f"snmp_exporter:   {_line(exporter)}")
            if not args.no_engine:
                engine = run_worker("engine", port, engine_devices, 1)
                say(f"pysnmp v2c:      {_line(engine)}")
                v3 = run_worker("engine-v3", port, engine_devices, 1)
                say(f"pysnmp v3 authPriv: {_line(v3)}")
                nocd["pysnmp_engine_v2c"] = engine
                nocd["pysnmp_engine_v3_authpriv"] = v3
    nocd["interfaces"] = iface_note
    nocd["hardware"] = {**_hardware(), "load_avg_1m_at_start": load_at_start}
    ours, theirs = (
        nocd.get("cpu_seconds_per_10k_varbinds"),
        exporter.get("cpu_seconds_per_10k_varbinds"),
    )
    if ours and theirs:
        # > 1 means nocd spends less client CPU per varbind than snmp_exporter.
        nocd["cpu_ratio_vs_snmp_exporter"] = round(theirs / ours, 2)
    if args.json:
        print(json.dumps({"nocd": nocd, "snmp_exporter": exporter}, indent=2))
    else:
        print(f"CPU per varbind, snmp_exporter / nocd: {nocd.get('cpu_ratio_vs_snmp_exporter')}")
        print(
            f"one cycle of {devices} devices: nocd {nocd['cycle_wall_s'][0]} s, "
            f"snmp_exporter {exporter.get('cycle_wall_s', ['-'])[0]} s; "
            f"hardware: {nocd['hardware']}"
        )
    return 0


def _line(r: dict[str, Any]) -> str:
    if "error" in r:
        return str(r["error"])
    return (
        f"{r['varbinds_per_s']:>10,.0f} varbinds/s  "
        f"{r['cpu_seconds_per_10k_varbinds']:.4f} CPU-s/10k  "
        f"peak RSS {r['peak_rss_mb']:.0f} MB  ({r['devices']} devices, {r['varbinds']} varbinds, "
        f"{r['varbinds_per_device']}/device, incomplete {r['incomplete_devices']})"
    )


if __name__ == "__main__":
    sys.exit(main())
