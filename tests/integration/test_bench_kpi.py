"""The KPI benchmark runs in quick mode and prints the documented JSON shape (so it cannot rot).

Its figures are not asserted: benchmarks never decide the suite's pass/fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import POSTGRES_URL, REPO

pytestmark = pytest.mark.integration


def test_kpi_bench_quick_json_has_the_documented_keys() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOCD_")}
    env["TEST_POSTGRES_URL"] = POSTGRES_URL
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "kpi_rollup.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures) == {
        "lines",
        "rollup_kqi_sla_seconds",
        "peak_rss_mb",
        "ingest_samples_per_s",
    }
    assert figures["lines"] == 2000
    assert figures["rollup_kqi_sla_seconds"] > 0 and figures["peak_rss_mb"] > 0
    assert set(figures["ingest_samples_per_s"]) == {"sqlite", "postgresql"}
    assert figures["ingest_samples_per_s"]["sqlite"] > 0
    if POSTGRES_URL:
        assert figures["ingest_samples_per_s"]["postgresql"] > 0
    else:
        assert figures["ingest_samples_per_s"]["postgresql"] is None
