"""The traffic benches of this area run in quick mode (so they cannot rot).

bench/traffic_refit.py (the 10,000-link refit timing) and the semi-synthetic capacity table of
bench/eval_forecast.py, as subprocesses on the real shared ISP series; skipped when
../shared/data is absent. Figures are not asserted (benchmarks never decide pass/fail), only
the shape and the invariants of the output.
"""

from __future__ import annotations

import pytest

from tests.conftest import require_shared_data
from tests.fixtures.bench import run_bench

pytestmark = pytest.mark.integration


def _run(script: str, *args: str) -> dict[str, object]:
    return run_bench(script, *args, timeout_s=300)


def test_refit_bench_quick_times_every_link():
    require_shared_data("traffic", "isp_uk_academic_backbone_5min.csv")
    out = _run("traffic_refit.py", "--quick", "--json")
    assert out["links"] == 300 and out["history_days"] == 63
    assert isinstance(out["wall_s"], float) and out["wall_s"] > 0
    assert isinstance(out["cpu_s"], float) and out["cpu_s"] > 0


def test_capacity_eval_quick_is_semi_synthetic_and_scores_both_truths():
    require_shared_data("traffic", "isp_eu_transatlantic_5min.csv")
    out = _run("eval_forecast.py", "--capacity-only", "--quick", "--json")
    cap = out["capacity"]
    assert isinstance(cap, dict) and set(cap) == {"eu_5min"}
    eu = cap["eu_5min"]
    assert eu["semi_synthetic"] is True
    for lead in (28, 14, 7):
        entry = eu[f"g50_lead{lead}"]
        new, old = entry["new"], entry["old"]
        assert new["cases"] == new["dated"] + new["no_date"] + new["already_above"]
        assert old["cases"] == old["dated"] + old["no_date"] + old["already_above"] > 0
        for case in new["per_case"]:
            assert case["origin"] == case["truth"] - lead and case["origin"] >= 28
    assert eu["unscaled_origins"] > 0
    assert 0 <= eu["unscaled_false_exhaust_30d"] <= eu["unscaled_origins"]
