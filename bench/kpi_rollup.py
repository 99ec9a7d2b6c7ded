"""KPI benchmark: rollup + KQI + SLA over one day of a 100 000-line network, and central ingest.

    uv run python bench/kpi_rollup.py                  # 100 000 lines, 2 000 uplinks; table
    uv run python bench/kpi_rollup.py --json           # {"lines": …, "peak_rss_mb": …, …}
    uv run python bench/kpi_rollup.py --quick --json   # 2 000 lines: seconds, for the test suite

Part 1, compute (in memory, the pure core plus the service's frame-building steps): one day
(2024-06-01, Asia/Shanghai) of synthetic data —

* every DSL line: a 5-minute SNR-margin sample (288 a day) and 96 15-minute PM bins;
* every uplink: 5-minute in/out utilisation (2 × 288 a day);
* DSLAM state events (2 % of DSLAMs have one 10–120 min outage), 1 % of DSLAMs in a
  1-hour maintenance window, 0.5 % of lines with one 5-minute port-down bucket, 1 % of
  lines with unavailable seconds;

then 5m/1h/1d rollups (``kpi.rollups.rollup``, in chunks of ``--chunk`` lines as storage
reads them device by device), per-line timelines (``nocd.kpi_service.line_timeline``),
availability with maintenance and UAS, stability (``kpi.dsl_line.line_scores``, chunked by
DSLAM), rate attainment, uplink congestion and busy-hour p95, all KQIs, and the default
SLA targets per district and network-wide (``nocd.kpi_service.evaluate_targets``).
Reported: wall time and the process's peak RSS.

Part 2, ingest: ``--ingest-rows`` samples into ``samples`` through
``nocd.storage.ingest.ingest_samples`` (PostgreSQL ``COPY``, SQLite ``executemany``) in
batches of ``--batch`` rows, one commit per batch, on a fresh migrated database:
SQLite in a temp file, PostgreSQL in a throw-away database on ``--postgres-url`` (default
``$TEST_POSTGRES_URL``; without one the PostgreSQL figure is ``null``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kpi import kqi as kq
from kpi.dsl_line import BIN_S, line_scores, rate_attainment
from kpi.intervals import (
    STATES,
    TimeWindow,
    report_timeline,
    state_seconds,
    timeline_from_events,
)
from kpi.rollups import Resolution, rollup
from nocd.config import Settings
from nocd.kpi_service import evaluate_targets, line_timeline, uplink_kqis

P = 1717171200  # 2024-06-01 00:00 Asia/Shanghai
DAY = 86_400
JUNE = TimeWindow(start=P, end=P + 30 * DAY)
LINES_PER_DSLAM = 48
DISTRICTS = 10


def _network(n_lines: int, rng: np.random.Generator) -> pd.DataFrame:
    line = np.arange(n_lines, dtype=np.int64)
    dslam = line // LINES_PER_DSLAM
    classes = rng.choice(
        np.array(["residential", "business", "enterprise"], dtype=object),
        n_lines,
        p=[0.90, 0.08, 0.02],
    )
    return pd.DataFrame(
        {
            "line": line,
            "dslam": dslam,
            "district": np.array([f"d{i:02d}" for i in range(DISTRICTS)], dtype=object)[
                dslam % DISTRICTS
            ],
            "sla_class": classes,
            "ifindex": line % LINES_PER_DSLAM + 1,
            "customer": line.astype(str),
            "plan_down_bps": rng.choice([20e6, 50e6, 100e6], n_lines),
        }
    )


def _rollups(n_lines: int, n_uplinks: int, chunk: int, rng: np.random.Generator) -> pd.DataFrame:
    """5m/1h/1d rollups of the day's line SNR samples (chunked) and uplink utilisation."""
    steps = DAY // 300
    ts_day = P + np.arange(steps, dtype=np.int64) * 300
    rows = 0
    uplink_5m = pd.DataFrame()
    for first in range(0, n_lines, chunk):
        n = min(chunk, n_lines - first)
        samples = pd.DataFrame(
            {
                "entity": np.repeat(np.arange(first, first + n, dtype=np.int64), steps),
                "metric": "snr_margin_down_db",
                "ts": np.tile(ts_day, n),
                "value": rng.normal(8.0, 1.5, n * steps),
            }
        )
        for res in Resolution:
            rows += len(rollup(samples, res))
        del samples
    uplinks = pd.DataFrame(
        {
            "entity": np.repeat(np.arange(n_uplinks, dtype=np.int64), 2 * steps),
            "metric": np.tile(
                np.repeat(["in_utilisation_ratio", "out_utilisation_ratio"], steps), n_uplinks
            ),
            "ts": np.tile(np.tile(ts_day, 2), n_uplinks),
            "value": rng.beta(2, 3, n_uplinks * 2 * steps),
        }
    )
    for res in Resolution:
        out = rollup(uplinks, res)
        rows += len(out)
        if res is Resolution.FIVE_MIN:
            uplink_5m = out
    return uplink_5m


def _bins(lines: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(lines)
    per = DAY // BIN_S
    k = n * per
    retrains = rng.random(k) < 0.002
    errored = rng.random(k) < 0.01
    return pd.DataFrame(
        {
            "line": np.repeat(lines["line"].to_numpy(), per),
            "dslam": np.repeat(lines["dslam"].to_numpy(), per),
            "start": np.tile(P + np.arange(per, dtype=np.int64) * BIN_S, n),
            "in_service": True,
            "showtime_s": np.full(k, BIN_S, dtype=np.float64),
            "full_inits": retrains.astype(np.float64),
            "failed_inits": np.zeros(k),
            "es": np.where(errored, rng.integers(1, 30, k), 0).astype(np.float64),
            "ses": np.zeros(k),
            "uas": np.zeros(k),
            "snr_margin_down_db": rng.normal(8.0, 2.0, k),
            "snr_margin_up_db": rng.normal(9.0, 2.0, k),
        }
    )


def compute(n_lines: int, n_uplinks: int, chunk: int, seed: int = 7) -> dict[str, Any]:
    """Rollup + KQI + SLA for one day; returns figures and a few results for sanity checks."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    uplink_5m = _rollups(n_lines, n_uplinks, chunk, rng)
    lines = _network(n_lines, rng)
    inventory = lines.loc[:, ["line", "dslam", "district", "sla_class"]]
    dslams = np.unique(lines["dslam"].to_numpy())
    now = P + DAY
    # device timeline: everyone up before the day, 2 % with one outage
    down = rng.choice(dslams, max(1, len(dslams) // 50), replace=False)
    start = P + rng.integers(0, DAY - 7200, len(down))
    events = pd.concat(
        [
            pd.DataFrame({"entity": dslams.astype(object), "ts": P - 3600, "state": "up"}),
            pd.DataFrame({"entity": down.astype(object), "ts": start, "state": "down"}),
            pd.DataFrame(
                {
                    "entity": down.astype(object),
                    "ts": start + rng.integers(600, 7200, len(down)),
                    "state": "up",
                }
            ),
        ],
        ignore_index=True,
    )
    device_tl = timeline_from_events(events, now=now)
    # 0.5 % of lines: one 5-minute bucket with their port down
    hit = rng.choice(lines["line"].to_numpy(), max(1, n_lines // 200), replace=False)
    oper_down = pd.DataFrame(
        {
            "device_id": hit // LINES_PER_DSLAM,
            "entity": "if:" + (hit % LINES_PER_DSLAM + 1).astype(str),
            "bucket": P + rng.integers(0, DAY // 300, len(hit)) * 300,
            "avg": 0.0,
        }
    )
    timeline = line_timeline(lines, device_tl, oper_down)
    maint_dslams = rng.choice(dslams, max(1, len(dslams) // 100), replace=False)
    m_start = P + rng.integers(0, DAY - 3600, len(maint_dslams))
    device_maint = pd.DataFrame(
        {"entity": maint_dslams.astype(object), "start": m_start, "end": m_start + 3600}
    )
    line_maint = kq.expand_to_lines(device_maint, lines)
    uas_lines = rng.choice(lines["line"].to_numpy(), max(1, n_lines // 100), replace=False)
    u_start = P + rng.integers(0, 23, len(uas_lines)) * 3600
    uas = pd.DataFrame(
        {
            "entity": uas_lines.astype(object),
            "start": u_start,
            "end": u_start + 3600,
            "uas_s": rng.integers(60, 600, len(uas_lines)),
        }
    )
    window = TimeWindow(start=P, end=now)
    tl = report_timeline(timeline, window, maintenance=line_maint, entities=lines["line"])
    seconds = state_seconds(tl)
    from kpi.dsl_line import uas_adjustment

    cols = [s.value for s in STATES]
    delta = uas_adjustment(tl, uas).reindex(index=seconds.index, fill_value=0)
    seconds[cols] = seconds[cols] + delta[cols]
    frames = [
        kq.line_availability(seconds, inventory),
        kq.customer_minutes_lost(seconds, inventory),
    ]
    # stability, chunked by whole DSLAMs (wide-area events are per DSLAM and bin)
    per_chunk = max(LINES_PER_DSLAM, (chunk // LINES_PER_DSLAM) * LINES_PER_DSLAM)
    scores = []
    for first in range(0, n_lines, per_chunk):
        part = lines.iloc[first : first + per_chunk]
        scores.append(line_scores(_bins(part, rng), now=now))
    frames.append(kq.stable_line_ratio(pd.concat(scores), inventory))
    per_line = pd.DataFrame(
        {
            "actual_down_bps": lines["plan_down_bps"] * rng.uniform(0.7, 1.0, n_lines),
            "plan_down_bps": lines["plan_down_bps"],
        }
    ).set_index(lines["line"])
    frames.append(kq.rate_attainment_ratio(rate_attainment(per_line), inventory))
    util = (
        uplink_5m.pivot_table(index=["entity", "bucket"], columns="metric", values="avg")
        .max(axis=1)
        .rename("utilisation_ratio")
        .reset_index()
        .rename(columns={"entity": "port"})
    )
    uplinks = pd.DataFrame(
        {
            "port": np.arange(n_uplinks),
            "district": np.array([f"d{i:02d}" for i in range(DISTRICTS)], dtype=object)[
                np.arange(n_uplinks) % DISTRICTS
            ],
        }
    )
    # congestion share and busy-hour p95 per uplink, as the service computes them
    uplink_rows, _per_uplink = uplink_kqis(util, uplinks, window, threshold=0.8)
    frames += uplink_rows
    kqis = pd.concat(frames, ignore_index=True)
    settings = Settings()
    period = settings.sla.reporting_period(settings.daemon.timezone)
    targets = [(t.name, t.to_target(period)) for t in settings.sla.targets]
    slas = evaluate_targets(
        targets,
        period=JUNE,
        now=now,
        lines=lines,
        timeline=timeline,
        maintenance=line_maint,
        uas=uas,
        kqis=kqis,
    )
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": elapsed, "peak_rss_mb": peak_mb, "kqis": len(kqis), "slas": len(slas)}


# --------------------------------------------------------------------------- ingest


def _ingest(url: str, rows: int, batch: int) -> float:
    from sqlalchemy import text

    from nocd.storage.db import make_engine, session_factory, upgrade
    from nocd.storage.ingest import ingest_samples

    upgrade(url)
    engine = make_engine(url)
    devices = 200
    try:
        sessions = session_factory(engine)
        with sessions() as session:
            session.execute(text("INSERT INTO districts (id, name) VALUES ('d00', 'd00')"))
            session.execute(
                text(
                    "INSERT INTO devices (id, name, district_id, kind, address, port, snmp) "
                    "VALUES (:id, :name, 'd00', 'dslam', '127.0.0.1', 161, '{}')"
                ),
                [{"id": i + 1, "name": f"dslam-{i}"} for i in range(devices)],
            )
            session.commit()
        rng = np.random.default_rng(1)
        metrics = np.array(
            ["snr_margin_down_db", "actual_down_kbps", "es_total", "uas_total", "inits_total"],
            dtype=object,
        )
        i = np.arange(batch, dtype=np.int64)
        frame = pd.DataFrame(
            {
                "device_id": i % devices + 1,
                "entity": "line:" + pd.Series(i // len(metrics) % 48 + 1).astype(str),
                "metric": metrics[i % len(metrics)],
                "ts": P + (i // (devices * len(metrics))) * 300,
                "value": rng.normal(8.0, 1.0, batch),
            }
        )
        written = 0
        started = time.perf_counter()
        while written < rows:
            part = frame if rows - written >= batch else frame.iloc[: rows - written]
            with sessions() as session:
                written += ingest_samples(session, part)
                session.commit()
        return written / (time.perf_counter() - started)
    finally:
        engine.dispose()


def ingest_sqlite(rows: int, batch: int) -> float:
    """Samples/s into a fresh SQLite file (WAL, synchronous=NORMAL)."""
    with tempfile.TemporaryDirectory() as tmp:
        return _ingest(f"sqlite:///{Path(tmp) / 'bench.db'}", rows, batch)


def ingest_postgresql(server_url: str, rows: int, batch: int) -> float:
    """Samples/s into a throw-away database on ``server_url`` (dropped afterwards)."""
    from sqlalchemy import make_url

    from nocd.storage.db import make_engine

    name = f"nocd_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        return _ingest(url, rows, batch)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--uplinks", type=int, default=2_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="lines per rollup chunk")
    parser.add_argument("--ingest-rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=50_000, help="samples per commit")
    parser.add_argument("--postgres-url", default=os.environ.get("TEST_POSTGRES_URL", ""))
    parser.add_argument("--quick", action="store_true", help="2 000 lines, 40 uplinks, 20k rows")
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = parser.parse_args(argv)
    if args.quick:
        args.lines, args.uplinks, args.ingest_rows, args.batch = 2_000, 40, 20_000, 10_000
    result = compute(args.lines, args.uplinks, args.chunk)
    sqlite_rate = ingest_sqlite(args.ingest_rows, args.batch)
    pg_rate = (
        ingest_postgresql(args.postgres_url, args.ingest_rows, args.batch)
        if args.postgres_url
        else None
    )
    figures = {
        "lines": args.lines,
        "rollup_kqi_sla_seconds": round(result["seconds"], 2),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "ingest_samples_per_s": {
            "sqlite": round(sqlite_rate),
            "postgresql": round(pg_rate) if pg_rate is not None else None,
        },
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"lines                     {args.lines} ({args.uplinks} uplinks, one day)")
    print(f"rollup + KQI + SLA        {figures['rollup_kqi_sla_seconds']} s")
    print(f"peak RSS                  {figures['peak_rss_mb']} MB")
    print(f"KQI rows / SLA rows       {result['kqis']} / {result['slas']}")
    print(f"ingest SQLite             {figures['ingest_samples_per_s']['sqlite']} samples/s")
    pg = figures["ingest_samples_per_s"]["postgresql"]
    print(f"ingest PostgreSQL         {pg if pg is not None else 'skipped'} samples/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
