"""Daily traffic refit for N uplinks: the daemon's per-link model work, timed on one core.

Usage:
    uv run --frozen python bench/traffic_refit.py                 # 10,000 links, table
    uv run --frozen python bench/traffic_refit.py --json          # {"links", "wall_s", ...}
    uv run --frozen python bench/traffic_refit.py --quick --json  # 300 links

Timed per link, with the functions the refit itself calls (nocd.traffic_service): the load
max(down, up) over ``history_days`` (63, the [traffic] default) of 5-minute buckets; the
forecasts (``fit_forecaster``, 24 h and 7 d with 90 % bands, and the one-day in-sample band
that primes the anomaly detector); ``link_capacity`` (busy hour of every day, busy-hour p95,
``capacity_exhaustion``). Not timed: reading the rates from storage (the database's scan rate,
see "KPI rollup" in docs/performance.md) and writing the results.

Data: 64 windows of 63 days of the UK 5-minute ISP series (the only series that long), each
link gets one of them at its own scale, every other one with +50 %/year growth on top (the
growth trend is computed for every link; a date, when there is one, is arithmetic on it).
Target (issue 8): models for 10,000 links refit in < 60 s on this 2-core machine; the refit
runs in one thread, so the figure is for one core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nocd.storage.traffic_repo import LinkRecord
from nocd.traffic_service import DAY, STEP_S, _forecasts, link_capacity

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NOCD_SHARED_DIR", REPO.parent / "shared"))
SERIES = SHARED / "data" / "traffic" / "isp_uk_academic_backbone_5min.csv"
HISTORY_DAYS = 63  # TrafficConfig.history_days default
WARMUP_SAMPLES = 288  # TrafficConfig.anomaly_warmup_samples default
WINDOWS = 64


def _histories(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """(down, up) arrays of HISTORY_DAYS days each, from windows of the real series."""
    y = pd.read_csv(SERIES).iloc[:, 1].to_numpy(np.float64)
    span = HISTORY_DAYS * DAY
    if len(y) < span:
        raise SystemExit(f"{SERIES} has {len(y)} samples, need {span}")
    out = []
    days = np.arange(span) / DAY
    for i, start in enumerate(rng.integers(0, len(y) - span + 1, size=WINDOWS)):
        down = y[start : start + span] * rng.uniform(1e5, 1e6)  # bps-like magnitudes
        if i % 2:
            down = down * 1.5 ** (days / 365.0)
        up = 0.3 * np.roll(down, 36)
        out.append((down, up))
    return out


def run(links: int) -> dict[str, Any]:
    """Refit ``links`` links; returns wall and CPU seconds and per-link figures."""
    rng = np.random.default_rng(8)
    histories = _histories(rng)
    origin = 1_700_000_000 - 1_700_000_000 % 86_400
    records = [
        LinkRecord(
            device_id=i // 4,
            device=f"agg-{i // 4}",
            district=f"d{i % 10}",
            kind="aggregation",
            ifindex=i % 4 + 1,
            name=None,
            speed_bps=float(np.nanmax(histories[i % WINDOWS][0])) * 1.6,
            parent_id=None,
        )
        for i in range(links)
    ]
    dated = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for i, link in enumerate(records):
        down, up = histories[i % WINDOWS]
        load = np.fmax(down, up)
        _forecasts(
            load,
            scope="link",
            key=link.key,
            district=link.district,
            device=link.device,
            link=link.entity,
            origin=origin,
            backcast=WARMUP_SAMPLES,
        )
        cap = link_capacity(
            link,
            load,
            speed_bps=link.speed_bps,
            threshold=0.8,
            min_history_days=28,
            origin=origin,
        )
        dated += cap.forecast is not None and cap.forecast.days is not None
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {
        "links": links,
        "history_days": HISTORY_DAYS,
        "step_s": STEP_S,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "ms_per_link": round(1000.0 * wall / links, 3),
        "links_with_exhaustion_date": dated,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "hardware": f"{_cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="300 links")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if not SERIES.exists():
        print(f"traffic data not found: {SERIES}", file=sys.stderr)
        return 2
    result = run(300 if args.quick else args.links)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"Refit of {result['links']:,} links ({HISTORY_DAYS} days of 5-minute load each; "
        f"24 h + 7 d forecasts, in-sample band, busy hours, capacity) on one core:\n"
        f"  wall {result['wall_s']:.1f} s, CPU {result['cpu_s']:.1f} s, "
        f"{result['ms_per_link']:.2f} ms per link, peak RSS {result['peak_rss_mb']:.0f} MB, "
        f"{result['links_with_exhaustion_date']:,} links dated, load average "
        f"{result['load_average_1m']} ({result['hardware']})\n"
        f"  target < 60 s for 10,000 links: "
        f"{'met' if result['wall_s'] * 10_000 / result['links'] < 60 else 'NOT met'}"
        f" (scaled to 10,000 links: {result['wall_s'] * 10_000 / result['links']:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
