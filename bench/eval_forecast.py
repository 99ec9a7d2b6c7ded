"""Forecast evaluation on the Cortez ISP series: nocd vs weekly seasonal naive vs Holt-Winters.

Usage:
    uv run python bench/eval_forecast.py                  # table, ratios, capacity
    uv run python bench/eval_forecast.py --json           # exactly the issue-8 JSON shape
    uv run python bench/eval_forecast.py --quick --json   # uk_hourly only, short history
    uv run python bench/eval_forecast.py --details PATH   # everything (per origin…) as JSON
    uv run python bench/eval_forecast.py --capacity-only  # the semi-synthetic capacity table

Protocol (issue 8): rolling origin over the last 7 daily cycles, horizon one daily cycle,
every step scored. Periods are counted in samples: the weekly period is the autocorrelation
peak near 7 nominal days and the daily one is that divided by 7 (EU 5-minute: 1982 / 283;
UK 5-minute: 2015 / 288; hourly: 168 / 24 and 165 / 24). MASE is scaled by the in-sample
seasonal naive with a lag of one daily period; WAPE = Σ|e| / Σ|y|; busy-hour MAPE compares
the busiest hour's mean of the forecast day with the actual day's. References in the same
run: weekly seasonal naive, and statsmodels ExponentialSmoothing (multiplicative weekly
season, no trend, heuristic initialisation), which reproduces the issue's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kpi.forecast import ForecastConfig, estimate_periods, fit_forecaster
from kpi.traffic import busy_hour, capacity_exhaustion, daily_busy_hours

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NOCD_SHARED_DIR", REPO.parent / "shared"))
TRAFFIC = SHARED / "data" / "traffic"
SERIES = {
    "uk_5min": ("isp_uk_academic_backbone_5min.csv", 288),
    "eu_5min": ("isp_eu_transatlantic_5min.csv", 288),
    "uk_hourly": ("isp_uk_academic_backbone_hourly.csv", 24),
    "eu_hourly": ("isp_eu_transatlantic_hourly.csv", 24),
}
REFERENCE_MASE = {  # issue 8, statsmodels, for the printout
    "snaive_week": {"uk_5min": 0.459, "eu_5min": 0.461, "uk_hourly": 0.457, "eu_hourly": 0.434},
    "hw_mul_week": {"uk_5min": 0.563, "eu_5min": 0.216, "uk_hourly": 0.420, "eu_hourly": 0.561},
}
ORIGINS = 7


def load(name: str) -> np.ndarray:
    """Values of one series (the time labels are ignored: seasonality is in samples)."""
    return pd.read_csv(TRAFFIC / SERIES[name][0]).iloc[:, 1].to_numpy(np.float64)


def holt_winters(history: np.ndarray, week: int, horizon: int) -> np.ndarray:
    """The reference: multiplicative weekly Holt-Winters without trend (statsmodels)."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ExponentialSmoothing(
            history,
            seasonal="mul",
            seasonal_periods=week,
            trend=None,
            initialization_method="heuristic",
        ).fit()
        return np.asarray(model.forecast(horizon), dtype=np.float64)


def evaluate_series(name: str, quick: bool) -> dict[str, Any]:
    """Rolling-origin evaluation of nocd and both references on one series."""
    y = load(name)
    day, week = estimate_periods(y, SERIES[name][1])
    if quick:
        y = y[-(5 * week) :]  # short history: five weeks
    n = len(y)
    config = ForecastConfig.for_day(day, week)
    width = max(1, round(day / 24))
    per_origin: list[dict[str, float]] = []
    for o in range(ORIGINS, 0, -1):
        origin = n - o * day
        hist, actual = y[:origin], y[origin : origin + day]
        scale = float(np.mean(np.abs(hist[day:] - hist[:-day])))
        t0 = time.perf_counter()
        model = fit_forecaster(hist, config)
        fc = model.forecast(day)
        fit_ms = 1000.0 * (time.perf_counter() - t0)
        snaive = hist[origin - week : origin - week + day]
        t0 = time.perf_counter()
        hw = holt_winters(hist, week, day)
        hw_s = time.perf_counter() - t0
        bh_actual = busy_hour(actual, width).mean
        bh_fc = busy_hour(fc.mean, width).mean
        per_origin.append(
            {
                "origin": origin,
                "nocd_mase": float(np.mean(np.abs(actual - fc.mean)) / scale),
                "nocd_wape": float(np.sum(np.abs(actual - fc.mean)) / np.sum(np.abs(actual))),
                "nocd_busy_hour_ape": abs(bh_fc - bh_actual) / bh_actual,
                "nocd_fit_ms": fit_ms,
                "nocd_coverage_90": float(np.mean((actual >= fc.lower) & (actual <= fc.upper))),
                "snaive_week_mase": float(np.mean(np.abs(actual - snaive)) / scale),
                "hw_mul_week_mase": float(np.mean(np.abs(actual - hw)) / scale),
                "hw_fit_s": hw_s,
            }
        )
    frame = pd.DataFrame(per_origin)
    return {
        "day": day,
        "week": week,
        "samples": n,
        "nocd": {
            "mase": float(frame["nocd_mase"].mean()),
            "wape": float(frame["nocd_wape"].mean()),
            "busy_hour_mape": float(frame["nocd_busy_hour_ape"].mean()),
            "fit_ms_per_link": float(frame["nocd_fit_ms"].mean()),
        },
        "snaive_week": {"mase": float(frame["snaive_week_mase"].mean())},
        "hw_mul_week": {"mase": float(frame["hw_mul_week_mase"].mean())},
        "coverage_90": float(frame["nocd_coverage_90"].mean()),
        "hw_fit_s_per_link": float(frame["hw_fit_s"].mean()),
        "per_origin": per_origin,
    }


# --- capacity exhaustion (semi-synthetic) ----------------------------------------------------


LEADS = (28, 14, 7)  # days before the true crossing at which the forecast is made
MIN_HISTORY = 28  # the product issues no date on less history (kpi.traffic.MIN_HISTORY_DAYS)


def record_days(daily: np.ndarray) -> list[int]:
    """Days whose value is higher than on every earlier day (NaN days are never records).

    Day T is the *first* day on which ``daily`` reaches ``daily[T]``, so a capacity
    C = daily[T] / 0.8 makes T the first 80 % crossing; no other day can be a first crossing.
    """
    out: list[int] = []
    best = -np.inf
    for t, v in enumerate(daily):
        if np.isfinite(v) and v > best:
            if t > 0:
                out.append(t)
            best = float(v)
    return out


def _score(fc: Any, origin: int, truth: int) -> dict[str, Any]:
    """One forecast made at ``origin`` (days of history) against the true crossing day."""
    if fc.days is None:
        return {"kind": "no date", "reason": fc.reason}
    if fc.reason == "already above the threshold":
        return {"kind": "already above", "error": float(origin - 1 - truth)}
    ahead = truth - (origin - 1)  # days after the last history day
    high = fc.days_high if fc.days_high is not None else np.inf
    return {
        "kind": "dated",
        "error": float(origin - 1 + fc.days - truth),
        "in_range": bool(fc.days_low <= ahead <= high),
    }


def _summary(cases: list[dict[str, Any]]) -> dict[str, Any]:
    dated = [c for c in cases if c["kind"] == "dated"]
    errors = np.asarray([c["error"] for c in dated])
    return {
        "cases": len(cases),
        "dated": len(dated),
        "no_date": sum(c["kind"] == "no date" for c in cases),
        "already_above": sum(c["kind"] == "already above" for c in cases),
        "median_error_days": float(np.median(errors)) if len(errors) else None,
        "median_abs_error_days": float(np.median(np.abs(errors))) if len(errors) else None,
        "within_3_days": (
            sum(c["kind"] == "dated" and abs(c["error"]) <= 3.0 for c in cases) / len(cases)
            if cases
            else None
        ),
        "truth_in_90_range": sum(c["in_range"] for c in dated) / len(dated) if dated else None,
    }


def capacity_eval(name: str, quick: bool) -> dict[str, Any]:
    """Semi-synthetic: real series × (1+g)^(t/365) with a capacity whose 80 % day is known.

    Ground truth (docs/performance.md, "Revised ground truth"): the crossing day T is the
    first day on which the scaled series' own daily busy-hour p95 reaches 80 % of capacity;
    every record day T of the scaled series gives one capacity C = p95(T) / 0.8. Origins lie
    28, 14 and 7 days before T with ≥ 28 days of history. For comparison the previous
    definition is run as well (``old``): reference level P = median of the weekly maxima of
    the unscaled series, C = P (1+g)^(T/365) / 0.8 for every origin, T possibly beyond the
    data. The unscaled series with C = P / 0.7 (an assumption) must never be reported as
    exhausting within 30 days.
    """
    y = load(name)
    day, _ = estimate_periods(y, SERIES[name][1])
    n_days = len(y) // day
    y = y[len(y) - n_days * day :]
    days_axis = np.arange(len(y)) / day - 0.5  # day d's midpoint has exponent d
    daily = daily_busy_hours(y, day)["p95"].to_numpy()
    weekly_max = [daily[i : i + 7].max() for i in range(0, len(daily) - 6, 7)]
    ref = float(np.median(weekly_max))
    out: dict[str, Any] = {"series": name, "days": n_days, "semi_synthetic": True}
    growths = (0.5,) if quick else (0.2, 0.5, 1.0)
    for g in growths:
        scaled_daily = daily_busy_hours(y * (1.0 + g) ** (days_axis / 365.0), day)["p95"].to_numpy()
        records = record_days(scaled_daily)
        for lead in LEADS:
            new_cases = []
            for truth in records:
                origin = truth - lead
                if origin < MIN_HISTORY:
                    continue
                capacity = scaled_daily[truth] / 0.8
                fc = capacity_exhaustion(scaled_daily[:origin], capacity, 0.8)
                new_cases.append({"truth": truth, "origin": origin, **_score(fc, origin, truth)})
            old_cases = []
            for origin in range(MIN_HISTORY, n_days + 1):
                truth = origin + lead
                capacity = ref * (1.0 + g) ** (truth / 365.0) / 0.8
                fc = capacity_exhaustion(scaled_daily[:origin], capacity, 0.8)
                old_cases.append({"truth": truth, "origin": origin, **_score(fc, origin, truth)})
            key = f"g{round(g * 100)}_lead{lead}"
            out[key] = {
                "new": {**_summary(new_cases), "per_case": new_cases},
                "old": _summary(old_cases),
            }
    false_30 = 0
    crossed_30 = 0
    origins = 0
    for origin in range(MIN_HISTORY, n_days + 1):
        fc = capacity_exhaustion(daily[:origin], ref / 0.7, 0.8)
        origins += 1
        if fc.days is not None and fc.days <= 30:
            false_30 += 1
        crossed_30 += bool(np.nanmax(daily[origin : origin + 31], initial=0.0) >= 0.8 * ref / 0.7)
    out["unscaled_false_exhaust_30d"] = false_30
    out["unscaled_origins"] = origins
    out["unscaled_origins_that_do_cross_within_30d"] = crossed_30
    return out


def hardware() -> str:
    """CPU model and count, for the record."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def print_capacity(capacity: dict[str, Any]) -> None:
    """The capacity table: new ground truth (first crossing) beside the previous one."""
    print(
        "\nCapacity exhaustion, SEMI-SYNTHETIC: real series × (1+g)^(t/365); capacity assumed.\n"
        "new truth = first day the scaled series' own busy-hour p95 reaches 80 % of capacity;\n"
        "old truth = level P (median weekly max of the whole unscaled series) × growth.\n"
        "err = predicted − true day; med = median error of dated cases; |med| = median |error|."
    )
    for name, cap in capacity.items():
        print(f"  {name} ({cap['days']} days)")
        print(
            f"    {'g/lead':<12}{'truth':<6}{'cases':>6}{'dated':>6}{'noDate':>7}{'above':>6}"
            f"{'med':>7}{'|med|':>7}{'≤3d':>6}{'in90':>6}"
        )
        for key, v in cap.items():
            if not key.startswith("g"):
                continue
            for label in ("new", "old"):
                r = v[label]
                med = "-" if r["median_error_days"] is None else f"{r['median_error_days']:.1f}"
                mabs = (
                    "-"
                    if r["median_abs_error_days"] is None
                    else f"{r['median_abs_error_days']:.1f}"
                )
                w3 = "-" if r["within_3_days"] is None else f"{r['within_3_days']:.0%}"
                cov = "-" if r["truth_in_90_range"] is None else f"{r['truth_in_90_range']:.0%}"
                print(
                    f"    {key:<12}{label:<6}{r['cases']:>6}{r['dated']:>6}{r['no_date']:>7}"
                    f"{r['already_above']:>6}{med:>7}{mabs:>7}{w3:>6}{cov:>6}"
                )
            for c in v["new"]["per_case"]:
                detail = f"error {c['error']:+.1f} d" if "error" in c else c.get("reason", "")
                print(f"      new case: T={c['truth']} origin={c['origin']} {c['kind']} {detail}")
        print(
            f"    unscaled, capacity = P / 0.7: false 'exhausts within 30 days' "
            f"{cap['unscaled_false_exhaust_30d']} of {cap['unscaled_origins']} origins "
            f"(origins whose next 30 days do reach 80 %: "
            f"{cap['unscaled_origins_that_do_cross_within_30d']})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print exactly the issue-8 JSON")
    parser.add_argument("--quick", action="store_true", help="uk_hourly only, five weeks")
    parser.add_argument("--details", type=Path, help="write every figure as JSON to PATH")
    parser.add_argument(
        "--capacity-only", action="store_true", help="only the semi-synthetic capacity table"
    )
    args = parser.parse_args()
    if not TRAFFIC.exists():
        print(f"traffic data not found under {TRAFFIC}", file=sys.stderr)
        return 2
    if args.capacity_only:
        cap_names = ["eu_5min"] if args.quick else ["uk_5min", "eu_5min"]
        capacity = {name: capacity_eval(name, args.quick) for name in cap_names}
        if args.details:
            args.details.write_text(json.dumps({"capacity": capacity}, indent=2))
        if args.json:
            print(json.dumps({"capacity": capacity}, indent=2))
        else:
            print_capacity(capacity)
        return 0
    names = ["uk_hourly"] if args.quick else list(SERIES)
    results = {name: evaluate_series(name, args.quick) for name in names}
    public = {
        "series": {
            name: {k: r[k] for k in ("nocd", "snaive_week", "hw_mul_week")}
            for name, r in results.items()
        }
    }
    details: dict[str, Any] = {"series": results, "hardware": hardware()}
    if not args.json or args.details:
        cap_names = ["eu_5min"] if args.quick else ["uk_5min", "eu_5min"]
        details["capacity"] = {name: capacity_eval(name, args.quick) for name in cap_names}
    if args.details:
        args.details.write_text(json.dumps(details, indent=2))
    if args.json:
        print(json.dumps(public, indent=2))
        return 0
    print(f"Forecast, rolling origin ×{ORIGINS} daily cycles, horizon 1 day ({hardware()})")
    head = (
        f"{'series':<10}{'day/week':>10}{'nocd MASE':>11}{'snaive':>8}{'HW':>8}"
        f"{'/snaive':>9}{'/HW':>7}{'WAPE':>7}{'BH MAPE':>9}{'fit ms':>8}{'HW s':>7}{'cov90':>7}"
    )
    print(head)
    for name, r in results.items():
        m, s, h = r["nocd"]["mase"], r["snaive_week"]["mase"], r["hw_mul_week"]["mase"]
        print(
            f"{name:<10}{r['day']:>5}/{r['week']:<4}{m:>11.3f}{s:>8.3f}{h:>8.3f}"
            f"{m / s:>9.2f}{m / h:>7.2f}{r['nocd']['wape']:>7.3f}"
            f"{r['nocd']['busy_hour_mape']:>9.3f}{r['nocd']['fit_ms_per_link']:>8.2f}"
            f"{r['hw_fit_s_per_link']:>7.2f}{r['coverage_90']:>7.2f}"
        )
    print("\nper-origin nocd MASE:")
    for name, r in results.items():
        print(f"  {name:<10}" + " ".join(f"{p['nocd_mase']:.3f}" for p in r["per_origin"]))
    print_capacity(details["capacity"])
    print("\nRefit speed for 10,000 links: bench/traffic_refit.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
