"""The KPI service reads the agent's own 15-minute bins (``pm15_*``) for line bins and UAS."""

from __future__ import annotations

import pandas as pd

from nocd.kpi_service import agent_uas_bins, line_bins

Q = 1_717_171_200  # a quarter hour (2024-06-01 00:00 Asia/Shanghai)
LINES = pd.DataFrame(
    {"line": [101, 102], "dslam": [10, 10], "ifindex": [1, 2], "customer": ["C1", "C2"]}
)


def _rows(entity: str, metric: str, values: dict[int, float]) -> list[dict[str, object]]:
    return [
        {"device_id": 10, "entity": entity, "metric": metric, "bucket": b, "count": 1,
         "min": v, "avg": v, "max": v, "p95": v}
        for b, v in values.items()
    ]  # fmt: skip


FIVE_MIN = pd.DataFrame(
    [
        # line 101 (VDSL2): no running counters; SNR polled in quarter hour Q, and during
        # Q+900 the agent reports its completed bin Q: 3 ES, 1 SES, 120 UAS (same each poll)
        *_rows("line:1", "snr_margin_down_db", {Q: 8.0, Q + 300: 7.5}),
        *_rows("line:1", "pm15_es", {Q + 900: 3, Q + 1200: 3, Q + 1500: 3}),
        *_rows("line:1", "pm15_ses", {Q + 900: 1, Q + 1200: 1}),
        *_rows("line:1", "pm15_uas", {Q + 900: 120, Q + 1200: 120}),
        # line 102 (ADSL): running ES counter 10 → 12 → 15 in Q (increase 5), but the agent's
        # own bin says 6: the agent's count wins where it vouched for one
        *_rows("line:2", "es_total", {Q: 10, Q + 300: 12, Q + 600: 15}),
        *_rows("line:2", "pm15_es", {Q + 900: 6}),
    ]
)


def test_line_bins_take_the_agents_own_counts_for_the_quarter_hour_before() -> None:
    bins = line_bins(LINES, FIVE_MIN).set_index(["line", "start"])
    assert sorted(bins.index) == [(101, Q), (102, Q)], "no bin invented for Q+900"
    vdsl = bins.loc[(101, Q)]
    assert (vdsl["es"], vdsl["ses"], vdsl["uas"]) == (3, 1, 120)
    assert vdsl["showtime_s"] == 900 - 120
    assert vdsl["snr_margin_down_db"] == 7.5
    assert bins.loc[(102, Q), "es"] == 6


def test_line_bins_without_agent_bins_use_the_counter_increase() -> None:
    counters_only = FIVE_MIN.loc[~FIVE_MIN["metric"].str.startswith("pm15")]
    bins = line_bins(LINES, counters_only).set_index(["line", "start"])
    assert bins.loc[(102, Q), "es"] == 5
    assert bins.loc[(101, Q), "es"] == 0, "a VDSL2 line without agent bins counts nothing"


def test_agent_uas_bins_are_quarter_hours_of_unavailable_seconds() -> None:
    uas = agent_uas_bins(LINES, FIVE_MIN)
    assert uas.to_dict("records") == [{"entity": 101, "start": Q, "end": Q + 900, "uas_s": 120}]
