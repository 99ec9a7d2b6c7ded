"""The KPI → KQI → SLA edge: loads frames from storage, calls ``kpi/``, stores and caches results.

    service = KpiService(settings=settings, sessions=sessions)
    await service.rollup_once(now)        # scheduler: every [kpi] rollup_interval_s
    await service.compute_once(now)       # every kqi_interval_s: current + dirty periods
    await service.retention_once(now)
    service.latest                        # the newest results, for /metrics (no DB on scrape)

Every blocking step runs in a worker thread (``asyncio.to_thread``). Sources, all in
storage: device timelines from ``device_state_events``; line state, counters and rates
from the 5-minute and hourly rollups (so month-long periods outlive the 7-day raw
retention); maintenance windows; inventory. How each KQI is built is in docs/kpi.md
("Storage and service").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from kpi import kqi as kq
from kpi.definitions import KqiKey
from kpi.dsl_line import BIN_S, WEEK_S, line_scores, rate_attainment, uas_adjustment
from kpi.intervals import (
    STATES,
    State,
    TimeWindow,
    overlay,
    report_timeline,
    state_seconds,
    timeline_from_events,
)
from kpi.port import busy_hour, congestion
from kpi.sla import ReportingPeriod, SlaTarget, evaluate_availability, evaluate_kqi
from nocd.config import Settings
from nocd.storage import kpi_repo, maintenance_repo, rollup_repo, sla_period_repo
from nocd.storage.kpi_repo import KqiRecord, SlaRecord

__all__ = ["KpiResults", "KpiService", "PeriodResult", "compute_period"]

_logger = logging.getLogger(__name__)

STEP_S: Final = 300  # 5-minute rollup bucket
HOUR_S: Final = 3_600
UPLINK_CHUNK: Final = 250  # uplinks per busy-hour grid (ports × 5-minute slots of the period)
UPLINK_COLUMNS: Final = (
    "port_id",
    "intervals",
    "congested_intervals",
    "busy_hour_start",
    "busy_hour_mean",
    "busy_hour_p95",
)
COUNTERS: Final = ("inits_total", "failed_inits_total", "es_total", "ses_total", "uas_total")
SNR: Final = ("snr_margin_down_db", "snr_margin_up_db")
# The agent's own last completed 15-minute bin (collectors.measurements), by the counter
# whose per-bin increase it replaces.
AGENT_BINS: Final = {
    "pm15_inits": "inits_total",
    "pm15_failed_inits": "failed_inits_total",
    "pm15_es": "es_total",
    "pm15_ses": "ses_total",
    "pm15_uas": "uas_total",
}
LINE_BIN_METRICS: Final = (*COUNTERS, *SNR, *AGENT_BINS)  # what read_line_bins reads


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodResult:
    """KQI rows, SLA rows and per-line KPIs of one period."""

    period: TimeWindow
    evaluated_until: int
    kqis: pd.DataFrame
    slas: pd.DataFrame
    lines: pd.DataFrame
    uplinks: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=UPLINK_COLUMNS))


@dataclass(frozen=True, slots=True, kw_only=True)
class KpiResults:
    """The newest results, as the metrics collector reads them."""

    computed_at: int | None = None
    kqis: tuple[KqiRecord, ...] = ()
    slas: tuple[SlaRecord, ...] = ()
    targets: tuple[str, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------- pure-ish steps


def _device_closure(devices: pd.DataFrame) -> dict[int, list[int]]:
    """device id → itself and every device behind it (children, grandchildren …)."""
    children: dict[int, list[int]] = {}
    for dev, parent in zip(devices["device_id"], devices["parent_id"], strict=True):
        if parent is not None and not pd.isna(parent):
            children.setdefault(int(parent), []).append(int(dev))
    out: dict[int, list[int]] = {}
    for dev in devices["device_id"]:
        seen, stack = [], [int(dev)]
        while stack:
            d = stack.pop()
            if d in seen:
                continue
            seen.append(d)
            stack.extend(children.get(d, []))
        out[int(dev)] = seen
    return out


def _maintenance_frame(
    windows: list[maintenance_repo.MaintenanceRecord], devices: pd.DataFrame
) -> pd.DataFrame:
    """Per-device maintenance windows (``entity`` = device id)."""
    closure = _device_closure(devices)
    by_district = devices.groupby("district")["device_id"].apply(list).to_dict()
    rows: list[tuple[int, int, int]] = []
    for w in windows:
        if w.device_id is not None:
            targets = closure.get(w.device_id, [w.device_id])
        elif w.district is not None:
            targets = [int(d) for d in by_district.get(w.district, [])]
        else:
            targets = [int(d) for d in devices["device_id"]]
        rows.extend((d, w.starts_at, w.ends_at) for d in targets)
    return pd.DataFrame(rows, columns=["entity", "start", "end"]).astype(
        {"entity": object, "start": np.int64, "end": np.int64}
    )


def _line_keys(lines: pd.DataFrame, prefix: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "device_id": lines["dslam"].astype(np.int64),
            "entity": prefix + lines["ifindex"].astype(str),
            "line": lines["line"],
        }
    )


def line_timeline(
    lines: pd.DataFrame, device_tl: pd.DataFrame, oper_down: pd.DataFrame
) -> pd.DataFrame:
    """Each line follows its DSLAM's timeline, and is down where its own port polled down.

    ``oper_down``: 5-minute ``oper_up`` rollups with a down poll (``device_id, entity,
    bucket, avg``); the bucket's down share ``1 − avg`` is taken from its start.
    """
    base = device_tl.rename(columns={"entity": "dslam"}).merge(
        lines.loc[:, ["line", "dslam"]], on="dslam"
    )
    tl = base.loc[:, ["line", "start", "end", "state"]].rename(columns={"line": "entity"})
    if oper_down.empty or tl.empty:
        return tl
    own = oper_down.merge(_line_keys(lines, "if:"), on=["device_id", "entity"])
    down_s = np.rint((1.0 - own["avg"].to_numpy(dtype=np.float64)) * STEP_S).astype(np.int64)
    windows = pd.DataFrame(
        {
            "entity": own["line"].to_numpy(dtype=object),
            "start": own["bucket"].to_numpy(dtype=np.int64),
            "end": own["bucket"].to_numpy(dtype=np.int64) + down_s,
        }
    )
    # Only where the DSLAM was seen up: a line cannot be observed while its DSLAM is not.
    up = tl.loc[tl["state"] == State.UP.value]
    rest = tl.loc[tl["state"] != State.UP.value]
    relabelled = overlay(up, windows.loc[windows["end"] > windows["start"]], state=State.DOWN)
    return pd.concat([relabelled, rest], ignore_index=True)


def _counter_deltas(frame: pd.DataFrame, step_s: int) -> pd.DataFrame:
    """Per series, the increase of a counter's bucket maximum over the previous bucket.

    Gaps longer than one bucket and decreases (counter reset, modem reboot) give no delta:
    an unknown increase is not invented.
    """
    f = frame.sort_values(["device_id", "entity", "metric", "bucket"], kind="stable")
    same = (
        (f["device_id"].to_numpy() == np.roll(f["device_id"].to_numpy(), 1))
        & (f["entity"].to_numpy() == np.roll(f["entity"].to_numpy(), 1))
        & (f["metric"].to_numpy() == np.roll(f["metric"].to_numpy(), 1))
    )
    bucket = f["bucket"].to_numpy(dtype=np.int64)
    value = f["max"].to_numpy(dtype=np.float64)
    delta = value - np.roll(value, 1)
    ok = same & (bucket - np.roll(bucket, 1) == step_s) & (delta >= 0)
    if len(ok):
        ok[0] = False
    out: pd.DataFrame = f.loc[ok, ["device_id", "entity", "metric", "bucket"]].copy()
    out["delta"] = delta[ok]
    return out


def uas_bins(lines: pd.DataFrame, uas_hourly: pd.DataFrame) -> pd.DataFrame:
    """Unavailable seconds per line and hour (``entity, start, end, uas_s``), nonzero only."""
    if uas_hourly.empty:
        return pd.DataFrame(columns=["entity", "start", "end", "uas_s"])
    d = _counter_deltas(uas_hourly, HOUR_S)
    d = d.loc[d["delta"] > 0].merge(_line_keys(lines, "line:"), on=["device_id", "entity"])
    # the increase between two hourly maxima happened after the earlier one: this hour
    start = d["bucket"].to_numpy(dtype=np.int64) - HOUR_S
    return pd.DataFrame(
        {
            "entity": d["line"].to_numpy(dtype=object),
            "start": start + HOUR_S,
            "end": start + 2 * HOUR_S,
            "uas_s": np.minimum(d["delta"].to_numpy(), HOUR_S).astype(np.int64),
        }
    )


def _agent_bins(five_min: pd.DataFrame) -> pd.DataFrame:
    """The agent's own 15-minute counts (``pm15_*`` rollups) per series and bin start.

    Polled during quarter hour k+1, the agent's last completed bin is k: agents count in
    wall-clock quarter hours (RFC 2662/5650 intervals). Columns are the ``COUNTERS``.
    """
    agent = five_min.loc[five_min["metric"].isin(list(AGENT_BINS))]
    index = ["device_id", "entity", "start"]
    if agent.empty:
        return pd.DataFrame(
            columns=list(COUNTERS), index=pd.MultiIndex.from_tuples([], names=index)
        )
    own = agent.assign(
        start=(agent["bucket"] // BIN_S) * BIN_S - BIN_S, metric=agent["metric"].map(AGENT_BINS)
    )
    return own.pivot_table(index=index, columns="metric", values="max", aggfunc="max").reindex(
        columns=list(COUNTERS)
    )


def agent_uas_bins(lines: pd.DataFrame, five_min: pd.DataFrame) -> pd.DataFrame:
    """Unavailable seconds per line and quarter hour from the agent's own bins (nonzero)."""
    counted = _agent_bins(five_min)["uas_total"].dropna()
    keys = _line_keys(lines, "line:")
    own = counted.loc[counted > 0].reset_index().merge(keys, on=["device_id", "entity"])
    start = own["start"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "entity": own["line"].to_numpy(dtype=object),
            "start": start,
            "end": start + BIN_S,
            "uas_s": np.minimum(own["uas_total"].to_numpy(), BIN_S).astype(np.int64),
        }
    )


def line_bins(lines: pd.DataFrame, five_min: pd.DataFrame) -> pd.DataFrame:
    """15-minute bins (``kpi.dsl_line.BIN_COLUMNS``) from 5-minute counter and SNR rollups.

    Where the agent vouched for its own 15-minute bin (``pm15_*``), its counts are used;
    otherwise the increase of the running counters within the quarter hour.
    """
    keys = _line_keys(lines, "line:").merge(lines.loc[:, ["line", "dslam", "customer"]], on="line")
    counters = five_min.loc[five_min["metric"].isin(COUNTERS)]
    deltas = _counter_deltas(counters, STEP_S)
    deltas["start"] = (deltas["bucket"] // BIN_S) * BIN_S
    from_counters = deltas.pivot_table(
        index=["device_id", "entity", "start"], columns="metric", values="delta", aggfunc="sum"
    ).reindex(columns=list(COUNTERS))
    agent = _agent_bins(five_min)
    per_bin = agent.combine_first(from_counters).reindex(columns=list(COUNTERS)).fillna(0.0)
    snr = five_min.loc[five_min["metric"].isin(SNR)].assign(
        start=lambda f: (f["bucket"] // BIN_S) * BIN_S
    )
    snr_bin = snr.pivot_table(
        index=["device_id", "entity", "start"], columns="metric", values="min", aggfunc="min"
    ).reindex(columns=list(SNR))
    observed = five_min.loc[~five_min["metric"].isin(list(AGENT_BINS))]
    seen = (
        pd.concat(
            [
                observed.assign(start=(observed["bucket"] // BIN_S) * BIN_S).loc[
                    :, ["device_id", "entity", "start"]
                ],
                agent.reset_index().loc[:, ["device_id", "entity", "start"]],
            ],
            ignore_index=True,
        )
        .drop_duplicates()
        .set_index(["device_id", "entity", "start"])
    )
    bins = seen.join(per_bin).join(snr_bin).reset_index()
    bins = bins.merge(keys, on=["device_id", "entity"])
    if bins.empty:
        return pd.DataFrame(columns=["line", "dslam", "start", "in_service"])
    uas = bins["uas_total"].fillna(0.0).clip(0, BIN_S)
    return pd.DataFrame(
        {
            "line": bins["line"].to_numpy(dtype=object),
            "dslam": bins["dslam"].to_numpy(dtype=object),
            "start": bins["start"].to_numpy(dtype=np.int64),
            "in_service": bins["customer"].notna().to_numpy(),
            "showtime_s": (BIN_S - uas).to_numpy(dtype=np.float64),
            "full_inits": bins["inits_total"].fillna(0.0).to_numpy(),
            "failed_inits": bins["failed_inits_total"].fillna(0.0).to_numpy(),
            "es": bins["es_total"].fillna(0.0).to_numpy(),
            "ses": bins["ses_total"].fillna(0.0).to_numpy(),
            "uas": uas.to_numpy(),
            "snr_margin_down_db": bins["snr_margin_down_db"].to_numpy(dtype=np.float64),
            "snr_margin_up_db": bins["snr_margin_up_db"].to_numpy(dtype=np.float64),
        }
    )


def read_line_bins(
    session: Session, lines: pd.DataFrame, *, since: int, until: int
) -> pd.DataFrame:
    """:func:`line_bins` from the 5-minute rollups in ``[since − 5 min, until)``.

    The one source of DSL line bins for stability scoring and the wide-area alert: running
    counters, SNR and the agent's own 15-minute bins (``pm15_*``, VDSL2). An agent's bin
    ``k`` is polled during bin ``k + 1``, so a caller that needs bin ``k`` complete reads
    until the end of bin ``k + 1``.
    """
    five_min = kpi_repo.rollup_frame(
        session, "5m", metrics=LINE_BIN_METRICS, since=since - STEP_S, until=until
    )
    if lines.empty or five_min.empty:
        return pd.DataFrame(columns=["line", "dslam", "start", "in_service"])
    return line_bins(lines, five_min)


def uplink_kqis(
    utilisation: pd.DataFrame, uplinks: pd.DataFrame, window: TimeWindow, *, threshold: float
) -> tuple[list[pd.DataFrame], pd.DataFrame]:
    """Uplink KQI rows (congestion share, busy-hour p95) and the per-uplink frame to store.

    ``utilisation``: ``port, bucket, utilisation_ratio`` (5-minute, max of in/out).
    The busy hour is searched over the whole window, in chunks of ports, because its grid
    is ports × 5-minute slots (a month is 8 928 slots).
    """
    cong = congestion(utilisation, threshold=threshold)
    samples = utilisation.rename(columns={"bucket": "ts"})
    ports = np.sort(samples["port"].unique())
    parts = [
        busy_hour(samples.loc[samples["port"].isin(chunk)], window)
        for chunk in np.array_split(ports, max(1, -(-len(ports) // UPLINK_CHUNK)))
        if len(chunk)
    ]
    busy = pd.concat(parts) if parts else pd.DataFrame(columns=list(UPLINK_COLUMNS[3:]))
    inventory = uplinks.loc[:, ["port", "district"]]
    rows = [kq.uplink_congestion_share(cong, inventory), kq.uplink_busy_hour_p95(busy, inventory)]
    per_uplink = cong[["intervals", "congested_intervals"]].join(busy, how="left")
    start = per_uplink["busy_hour_start"].astype("float64")
    out = pd.DataFrame(
        {
            "port_id": per_uplink.index.to_numpy(dtype=np.int64),
            "intervals": per_uplink["intervals"].to_numpy(dtype=np.int64),
            "congested_intervals": per_uplink["congested_intervals"].to_numpy(dtype=np.int64),
            # -1: no complete hour in the window
            "busy_hour_start": start.where(start >= 0).astype("Int64").array,
            "busy_hour_mean": per_uplink["busy_hour_mean"].to_numpy(dtype=np.float64),
            "busy_hour_p95": per_uplink["busy_hour_p95"].to_numpy(dtype=np.float64),
        }
    )
    return rows, out


def ticket_kqis(
    tickets: pd.DataFrame, inventory: pd.DataFrame, window: TimeWindow
) -> list[pd.DataFrame]:
    """The ticket-based KQIs of ``window`` (``kpi.kqi``; ``now`` is the window's end)."""
    if tickets.empty or window.seconds == 0:
        return []
    now = window.end
    return [
        kq.fault_reports_per_100_lines(tickets, inventory, window),
        kq.repair_time_quantiles(tickets, window),
        kq.on_site_within_30_min_ratio(tickets, window, now=now),
        kq.callback_done_ratio(tickets, window, now=now),
        kq.installation_within_3_days_ratio(tickets, window, now=now),
    ]


def _empty_kqis() -> pd.DataFrame:
    return pd.DataFrame(columns=list(kq.KQI_COLUMNS))


def _sla_row(name: str, district: str, target: SlaTarget, **values: object) -> dict[str, object]:
    return {
        "target": name,
        "district": district,
        "kqi": target.kqi.value,
        "sla_class": target.sla_class,
        "scope": target.scope.value,
        "objective": target.objective,
        **values,
    }


def evaluate_targets(
    targets: list[tuple[str, SlaTarget]],
    *,
    period: TimeWindow,
    now: int,
    lines: pd.DataFrame,
    timeline: pd.DataFrame,
    maintenance: pd.DataFrame,
    uas: pd.DataFrame,
    kqis: pd.DataFrame,
) -> pd.DataFrame:
    """Every target per district and network-wide (``*``) for one period."""
    rows: list[dict[str, object]] = []
    districts = sorted(lines["district"].unique().tolist())
    for name, target in targets:
        for district in [*districts, kq.ALL]:
            if target.kqi is KqiKey.LINE_AVAILABILITY:
                scope = lines
                if district != kq.ALL:
                    scope = scope.loc[scope["district"] == district]
                if target.sla_class != kq.ALL:
                    scope = scope.loc[scope["sla_class"] == target.sla_class]
                if scope.empty:
                    continue
                ids = set(scope["line"].tolist())
                a = evaluate_availability(
                    timeline.loc[timeline["entity"].isin(ids)],
                    target=target,
                    period=period,
                    now=now,
                    maintenance=maintenance.loc[maintenance["entity"].isin(ids)],
                    entities=scope["line"],
                    uas_bins=uas.loc[uas["entity"].isin(ids)] if len(uas) else None,
                )
                rows.append(
                    _sla_row(
                        name,
                        district,
                        target,
                        period_end=period.end,
                        evaluated_until=a.evaluated_until,
                        entities=a.entities,
                        sli=a.sli,
                        up_s=a.uptime_s,
                        down_s=a.downtime_s,
                        unknown_s=a.unknown_s,
                        maintenance_s=a.maintenance_s,
                        excluded_s=a.excluded_s,
                        scheduled_s=a.scheduled_s,
                        error_budget_total=a.error_budget_total_s,
                        error_budget_used=float(a.error_budget_used_s),
                        error_budget_remaining=a.error_budget_remaining_s,
                        error_budget_remaining_ratio=a.error_budget_remaining_ratio,
                        burn_rate=a.burn_rate,
                        status=a.status.value,
                    )
                )
                continue
            match = kqis.loc[
                (kqis["kqi"] == target.kqi.value)
                & (kqis["district"] == district)
                & (kqis["sla_class"] == target.sla_class)
            ]
            if match.empty:
                continue
            r = match.iloc[0]
            value = None if pd.isna(r["value"]) else float(r["value"])
            good = None if pd.isna(r["numerator"]) else int(r["numerator"])
            total = None if pd.isna(r["denominator"]) else int(r["denominator"])
            k = evaluate_kqi(target, period=period, now=now, value=value, good=good, total=total)
            remaining_ratio = (
                k.error_budget_remaining / k.error_budget_total
                if k.error_budget_total and k.error_budget_remaining is not None
                else None
            )
            rows.append(
                _sla_row(
                    name,
                    district,
                    target,
                    period_end=period.end,
                    evaluated_until=k.evaluated_until,
                    entities=k.total,
                    sli=k.sli,
                    error_budget_total=k.error_budget_total,
                    error_budget_used=k.error_budget_used,
                    error_budget_remaining=k.error_budget_remaining,
                    error_budget_remaining_ratio=remaining_ratio,
                    status=k.status.value,
                )
            )
    columns = [
        "target",
        "district",
        "kqi",
        "sla_class",
        "scope",
        "objective",
        "period_end",
        "evaluated_until",
        "entities",
        "sli",
        "up_s",
        "down_s",
        "unknown_s",
        "maintenance_s",
        "excluded_s",
        "scheduled_s",
        "error_budget_total",
        "error_budget_used",
        "error_budget_remaining",
        "error_budget_remaining_ratio",
        "burn_rate",
        "status",
    ]
    out = pd.DataFrame(rows, columns=columns)
    for c in (
        "entities",
        "up_s",
        "down_s",
        "unknown_s",
        "maintenance_s",
        "excluded_s",
        "scheduled_s",
    ):
        out[c] = out[c].astype("Int64")
    return out


def compute_period(
    session: Session,
    settings: Settings,
    *,
    period: TimeWindow,
    now: int,
    reporting: ReportingPeriod | None = None,
) -> PeriodResult:
    """KQIs, SLA evaluations and per-line KPIs of ``period`` as seen at ``now``.

    Only the targets whose reporting period is ``reporting`` (default: the global one,
    ``[sla] period`` in ``[daemon] timezone``) are evaluated.
    """
    cfg = settings.kpi
    until = min(now, period.end)
    window = TimeWindow(start=period.start, end=until)
    lines = kpi_repo.line_inventory(session)
    devices = kpi_repo.device_inventory(session)
    inventory = lines.loc[:, ["line", "dslam", "district", "sla_class"]]
    events = kpi_repo.device_events(session, start=period.start, end=until)
    device_tl = (
        timeline_from_events(events, now=until)
        if len(events)
        else pd.DataFrame(columns=["entity", "start", "end", "state"])
    )
    oper_down = kpi_repo.rollup_frame(
        session, "5m", metrics=("oper_up",), since=period.start, until=until, max_min=1.0
    )
    timeline = line_timeline(lines, device_tl, oper_down)
    windows = maintenance_repo.windows_between(session, period.start, until)
    device_maint = _maintenance_frame(windows, devices)
    line_maint = kq.expand_to_lines(device_maint, lines.rename(columns={})).astype(
        {"start": np.int64, "end": np.int64}
    )
    uas_hourly = kpi_repo.rollup_frame(
        session, "1h", metrics=("uas_total",), since=period.start - HOUR_S, until=until
    )
    uas = uas_bins(lines, uas_hourly)
    # Lines without a running UAS counter (VDSL2) count the agent's own 15-minute bins.
    agent_uas = agent_uas_bins(
        lines,
        kpi_repo.rollup_frame(
            session, "5m", metrics=("pm15_uas",), since=period.start, until=until + BIN_S
        ),
    )
    if len(agent_uas):
        counted = set(
            uas_hourly.merge(_line_keys(lines, "line:"), on=["device_id", "entity"])["line"]
        )
        agent_uas = agent_uas.loc[~agent_uas["entity"].isin(counted)]
        uas = pd.concat([uas, agent_uas], ignore_index=True) if len(uas) else agent_uas
    frames: list[pd.DataFrame] = []
    line_kpis = pd.DataFrame({"line": lines["line"]})
    if len(lines) and window.seconds:
        tl = report_timeline(timeline, window, maintenance=line_maint, entities=lines["line"])
        seconds = state_seconds(tl)
        if len(uas):
            cols = [s.value for s in STATES]
            delta = uas_adjustment(tl, uas).reindex(index=seconds.index, fill_value=0)
            seconds[cols] = seconds[cols] + delta[cols]
        frames += [
            kq.line_availability(seconds, inventory),
            kq.customer_minutes_lost(seconds, inventory),
        ]
        bins = read_line_bins(session, lines, since=until - WEEK_S, until=until)
        if len(bins):
            scores = line_scores(
                bins,
                now=until,
                thresholds=cfg.stability.to_thresholds(),
                wide_area_thresholds=cfg.wide_area.to_thresholds(),
            )
            frames.append(kq.stable_line_ratio(scores, inventory))
            line_kpis = line_kpis.merge(
                scores.reset_index().loc[
                    :,
                    [
                        "line",
                        "stability",
                        "mtbr_24h_s",
                        "mtbr_7d_s",
                        "mtbe_24h_s",
                        "mtbe_7d_s",
                        "excluded_bins",
                    ],
                ],
                on="line",
                how="left",
            )
        rates = kpi_repo.rollup_frame(
            session,
            "5m",
            metrics=("actual_down_kbps", "attainable_down_kbps"),
            since=until - 86_400,
            until=until,
        )
        if len(rates):
            latest = (
                rates.sort_values("bucket")
                .groupby(["device_id", "entity", "metric"])["avg"]
                .last()
                .unstack("metric")
                .reset_index()
                .merge(_line_keys(lines, "line:"), on=["device_id", "entity"])
                .merge(lines.loc[:, ["line", "plan_down_bps"]], on="line")
                .set_index("line")
            )
            per_line = pd.DataFrame(
                {
                    "actual_down_bps": latest.get("actual_down_kbps", np.nan) * 1000,
                    "attainable_down_bps": latest.get("attainable_down_kbps", np.nan) * 1000,
                    "plan_down_bps": latest["plan_down_bps"],
                },
                index=latest.index,
            )
            attained = rate_attainment(per_line, min_share_of_plan=cfg.rate_attainment_share)
            frames.append(kq.rate_attainment_ratio(attained, inventory))
            line_kpis = line_kpis.merge(
                per_line[["actual_down_bps"]].join(attained).reset_index(), on="line", how="left"
            )
    uplinks = kpi_repo.uplink_inventory(session)
    per_uplink = pd.DataFrame(columns=list(UPLINK_COLUMNS))
    if len(uplinks):
        util = kpi_repo.rollup_frame(
            session,
            "5m",
            metrics=("in_utilisation_ratio", "out_utilisation_ratio"),
            since=period.start,
            until=until,
            entity_prefix="if:",
        )
        if len(util):
            wide = (
                util.pivot_table(
                    index=["device_id", "entity", "bucket"], columns="metric", values="avg"
                )
                .max(axis=1)
                .rename("utilisation_ratio")
                .reset_index()
                .merge(uplinks.loc[:, ["port", "device_id", "entity"]], on=["device_id", "entity"])
            )
            if len(wide) and window.seconds:
                rows, per_uplink = uplink_kqis(
                    wide, uplinks, window, threshold=cfg.congestion_threshold
                )
                frames += rows
    frames += ticket_kqis(kpi_repo.ticket_frame(session, period.start), inventory, window)
    kqis = pd.concat(frames, ignore_index=True) if frames else _empty_kqis()
    default = settings.sla.reporting_period(settings.daemon.timezone)
    reporting = reporting or default
    targets = [
        (t.name, t.to_target(default))
        for t in settings.sla.targets
        if t.reporting_period(default) == reporting
    ]
    slas = evaluate_targets(
        targets,
        period=period,
        now=until,
        lines=lines,
        timeline=timeline,
        maintenance=line_maint,
        uas=uas,
        kqis=kqis,
    )
    return PeriodResult(
        period=period,
        evaluated_until=until,
        kqis=kqis,
        slas=slas,
        lines=_line_kpi_frame(line_kpis),
        uplinks=per_uplink,
    )


def _unfinished(stored: kpi_repo.PeriodRecord | sla_period_repo.SlaPeriodRecord | None) -> bool:
    """A stored period whose last run was before its end (e.g. last month's final minutes).

    The first run after a period boundary finishes the period just closed; without it the
    time between its last run and its end would never be evaluated.
    """
    return stored is not None and stored.evaluated_until < stored.end


def _line_kpi_frame(frame: pd.DataFrame) -> pd.DataFrame:
    columns = {
        "line": "line_id",
        "stability": "stability",
        "mtbr_24h_s": "mtbr_24h_s",
        "mtbr_7d_s": "mtbr_7d_s",
        "mtbe_24h_s": "mtbe_24h_s",
        "mtbe_7d_s": "mtbe_7d_s",
        "excluded_bins": "excluded_bins",
        "actual_down_bps": "actual_down_bps",
        "rate_attainment_down_ratio": "rate_attainment_down_ratio",
        "attains_plan_down": "attains_plan_down",
        "headroom_down_bps": "headroom_down_bps",
    }
    out = pd.DataFrame({"line_id": frame["line"].astype(np.int64)})
    for src, dst in columns.items():
        if src == "line":
            continue
        out[dst] = frame[src] if src in frame.columns else None
    out["excluded_bins"] = pd.to_numeric(out["excluded_bins"]).fillna(0).astype(np.int64)
    for c in ("mtbr_24h_s", "mtbr_7d_s", "mtbe_24h_s", "mtbe_7d_s"):
        # inf (no retrain / no ES) is stored as NULL with the meaning "none seen"
        out[c] = pd.to_numeric(out[c]).replace([np.inf, -np.inf], np.nan).astype("float64")
    for c in ("actual_down_bps", "rate_attainment_down_ratio", "headroom_down_bps"):
        out[c] = pd.to_numeric(out[c]).astype("float64")
    out["attains_plan_down"] = out["attains_plan_down"].astype("boolean")
    out["stability"] = out["stability"].astype(object).where(out["stability"].notna(), None)
    return out


# --------------------------------------------------------------------------- the service


class KpiService:
    """Runs rollups, retention and KQI/SLA computation; keeps the newest results in memory."""

    def __init__(self, *, settings: Settings, sessions: Callable[[], Session]) -> None:
        self._settings = settings
        self._sessions = sessions
        self._latest = KpiResults()

    @property
    def latest(self) -> KpiResults:
        """Newest KQI/SLA results of the current period (for the metrics collector)."""
        return self._latest

    @property
    def reporting_period(self) -> ReportingPeriod:
        """Calendar periods in the daemon's time zone."""
        return self._settings.sla.reporting_period(self._settings.daemon.timezone)

    @property
    def _own_periods(self) -> list[ReportingPeriod]:
        """Reporting periods of targets with their own ``period``/``timezone``."""
        return list(self._settings.sla.own_periods(self._settings.daemon.timezone))

    def rollup_sync(self, now: int) -> rollup_repo.RollupRunResult:
        """One incremental rollup run; late samples mark their reporting periods dirty."""
        with self._sessions() as session:
            result = rollup_repo.run_rollups(session, now=now)
            if result.late_instants:
                periods = self.reporting_period.touching(result.late_instants)
                kpi_repo.mark_dirty(session, [p.start for p in periods])
                for reporting in self._own_periods:
                    own = reporting.touching(result.late_instants)
                    sla_period_repo.mark_dirty(session, reporting, [p.start for p in own])
            session.commit()
        return result

    def retention_sync(self, now: int) -> dict[str, int]:
        """Delete raw samples and rollups past their retention."""
        cfg = self._settings.kpi
        with self._sessions() as session:
            deleted = rollup_repo.apply_retention(
                session,
                now=now,
                raw_s=int(cfg.raw_retention_days * 86_400),
                rollup_s=int(cfg.rollup_retention_days * 86_400),
            )
            session.commit()
        return deleted

    def compute_sync(self, now: int) -> PeriodResult:
        """The current period, then every dirty earlier period; stores all of them."""
        current = self.reporting_period.containing(now)
        with self._sessions() as session:
            result = self._compute_and_store(session, current, now)
            done = {current.start}
            previous = self.reporting_period.preceding(current)
            if _unfinished(kpi_repo.period_of(session, previous.start)):
                self._compute_and_store(session, previous, now)
                done.add(previous.start)
            for stale in kpi_repo.dirty_periods(session):
                if stale.start not in done:
                    period = TimeWindow(start=stale.start, end=stale.end)
                    self._compute_and_store(session, period, now)
            own_slas = [
                r
                for reporting in self._own_periods
                for r in self._compute_own(session, reporting, now)
            ]
            session.commit()
            self._latest = KpiResults(
                computed_at=now,
                kqis=tuple(kpi_repo.query_kqis(session, period_start=current.start)),
                slas=(*kpi_repo.query_sla(session, period_start=current.start), *own_slas),
                targets=tuple(t.name for t in self._settings.sla.targets),
            )
        return result

    def _compute_own(
        self, session: Session, reporting: ReportingPeriod, now: int
    ) -> list[SlaRecord]:
        """SLAs of the targets on ``reporting``: its current and dirty periods, stored.

        The whole period is computed (a non-availability target needs its KQI over its
        own period), but only the SLA rows are kept. Returns the current period's rows.
        """
        current = reporting.containing(now)
        previous = reporting.preceding(current)
        periods = [current]
        if _unfinished(sla_period_repo.period_of(session, reporting, previous.start)):
            periods.append(previous)
        periods += [
            TimeWindow(start=p.start, end=p.end)
            for p in sla_period_repo.dirty_periods(session, reporting)
            if p.start not in {w.start for w in periods}
        ]
        for period in periods:
            result = compute_period(
                session, self._settings, period=period, now=now, reporting=reporting
            )
            sla_period_repo.save_period(
                session,
                reporting,
                start=period.start,
                end=period.end,
                evaluated_until=result.evaluated_until,
                computed_at=now,
                slas=result.slas,
            )
        return sla_period_repo.query_sla(session, reporting, period_start=current.start)

    def _compute_and_store(self, session: Session, period: TimeWindow, now: int) -> PeriodResult:
        result = compute_period(session, self._settings, period=period, now=now)
        kpi_repo.save_period(
            session,
            start=period.start,
            end=period.end,
            evaluated_until=result.evaluated_until,
            computed_at=now,
            kqis=result.kqis,
            slas=result.slas,
            uplinks=result.uplinks,
        )
        if result.period.end > now:  # per-line KPIs are "latest": only the open period
            kpi_repo.save_line_kpis(session, result.lines, computed_at=now)
        return result

    async def rollup_once(self, now: int) -> None:
        """Scheduler entry: one rollup run off the event loop."""
        await asyncio.to_thread(self.rollup_sync, now)

    async def retention_once(self, now: int) -> None:
        """Scheduler entry: one retention run off the event loop."""
        deleted = await asyncio.to_thread(self.retention_sync, now)
        _logger.debug("retention: %s", deleted)

    async def compute_once(self, now: int) -> None:
        """Scheduler entry: KQIs and SLAs of the current and dirty periods, off the loop."""
        await asyncio.to_thread(self.compute_sync, now)
