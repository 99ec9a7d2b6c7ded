"""LONG (~5-6 min): the quick soak with chaos, end to end, in ``make test`` (issue 10).

``bench/soak.py --quick`` runs the lab (24 devices under snmpsim; the full 2,000-device soak
takes an hour, see docs/reliability.md), a private durable PostgreSQL for central,
``nocd run --role central`` and ``--role district`` on loopback, ~20 req/s of ticket API
load from a second process, the scripted lab faults, and SIGKILLs of the district, central
and the database server plus a cut of the district→central link. At the end it runs
``nocd verify``. This test asserts the run's verdicts: nothing lost or doubled, each fault
raised exactly the incident it must, and the ticket writes the load generator was told
succeeded are each stored once. Performance figures are printed, not asserted (the machine
is shared: CI runs this beside the rest of the suite).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, REPO, require_service
from tests.fixtures.lab import free_udp_port, snmpsim_available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.snmp,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.soak,
]


DEADLINE_S = 1200.0  # ~5-6 min on a 2-core machine beside the other test worker


def _postgres_server() -> bool:
    installed = any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return installed and shutil.which("bash") is not None


def test_quick_soak_with_chaos_loses_and_doubles_nothing(tmp_path: Path) -> None:
    require_service(snmpsim_available(), "snmpsim (snmpsim-command-responder + pysmi)")
    require_service(_postgres_server() or not IN_CI, "a PostgreSQL server installation")
    if not _postgres_server():
        pytest.skip("no PostgreSQL server installation for the soak's private cluster")
    out = tmp_path / "soak.json"
    command = [sys.executable, str(REPO / "bench" / "soak.py"), "--quick", "--json"]
    command += ["--out", str(out), "--lab-port", str(free_udp_port())]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=DEADLINE_S, cwd=REPO, check=False
    )
    assert out.exists(), f"no result (exit {run.returncode}):\n{run.stderr[-5000:]}"
    result = json.loads(out.read_text())
    print(json.dumps({k: result[k] for k in ("poll_cycles", "api", "samples")}, indent=1))

    verify = result["verify"]
    failed = [c for c in verify["checks"] if not c["ok"]]
    assert not failed, failed
    names = {c["name"] for c in verify["checks"]}
    wanted = {
        "outbox drained",
        "samples",
        "state intervals",
        "incidents unique",
        "ticket events",
        "KQI/SLA = clean recomputation",
    }
    assert wanted <= names
    assert result["samples"]["produced_by_district"] > 1000
    assert result["samples"]["stored_at_central_exactly_once"] is True

    incidents = result["incidents"]
    assert incidents["faults_injected"] >= 8
    wrong = [f for f in incidents["per_fault"] if not f["ok"]]
    assert not wrong, wrong  # each fault: exactly its one incident and ticket, or none
    assert not incidents["unexpected_incidents"], incidents["unexpected_incidents"]
    assert incidents["district_silent_ok"], incidents

    kinds = {c["kind"] for c in result["chaos"]}
    assert kinds == {"kill_district", "kill_central", "kill_database", "cut_link"}

    api = result["api"]
    assert api["comments_ok"], api  # no acknowledged comment lost, none doubled
    assert api["comments_acknowledged"] > 0 and api["read_p99_ms"] is not None
    assert result["ok"] is True and run.returncode == 0, run.stderr[-3000:]
