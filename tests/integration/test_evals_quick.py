"""The evaluation scripts run end to end in quick mode, so they cannot rot.

Both run as subprocesses on the real shared data (one series / three NAB files each) and
are skipped when ../shared/data is absent.
"""

from __future__ import annotations

from tests.conftest import require_shared_data
from tests.fixtures.bench import run_bench


def _run(script: str, *args: str) -> dict[str, object]:
    return run_bench(script, *args, timeout_s=180)


def test_eval_forecast_quick_json_has_the_issue_shape():
    require_shared_data("traffic", "isp_uk_academic_backbone_hourly.csv")
    out = _run("eval_forecast.py", "--quick", "--json")
    assert set(out) == {"series"}
    series = out["series"]
    assert isinstance(series, dict) and set(series) == {"uk_hourly"}
    entry = series["uk_hourly"]
    assert set(entry) == {"nocd", "snaive_week", "hw_mul_week"}
    assert set(entry["nocd"]) == {"mase", "wape", "busy_hour_mape", "fit_ms_per_link"}
    assert set(entry["snaive_week"]) == {"mase"}
    assert set(entry["hw_mul_week"]) == {"mase"}
    assert all(isinstance(v, float) and v >= 0 for v in entry["nocd"].values())


def test_eval_early_warning_quick_json_scores_nab_files():
    require_shared_data("nab", "labels", "combined_windows.json")
    require_shared_data("traffic", "isp_eu_transatlantic_5min.csv")
    out = _run("eval_early_warning.py", "--quick", "--json")
    nab = out["nab"]
    assert isinstance(nab, dict)
    assert nab["files"] == 3
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert -200.0 <= nab[profile] <= 100.0
    # CAD OSE reproduces NAB's published contextOSE per-file counts and scores on these files
    assert out["detector"] == nab["detector"] == "nocdCadOse"
    compared = nab["published_comparison"]
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert compared[profile]["files"] == 3
        assert compared[profile]["files_with_count_mismatch"] == 0
        assert compared[profile]["max_abs_score_diff"] < 1e-9
    assert nab["cpu_us_per_row"] > 0 and nab["contexts_max"] > 0
    assert set(out["isp"]) == {"eu_5min"}  # type: ignore[arg-type]
    assert out["isp"]["eu_5min"]["cad_alerts"] >= 0  # type: ignore[index]
    trend = out["fault_trend"]
    assert isinstance(trend, dict) and "false_alarms_per_year" in trend
