"""Uplink KQIs: congestion share and busy-hour p95, per district and network-wide."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kpi import kqi as kq
from kpi.intervals import TimeWindow
from kpi.port import busy_hour

UPLINKS = pd.DataFrame({"port": [1, 2, 3, 4], "district": ["xihu", "xihu", "bj", "bj"]})


def test_busy_hour_p95_kqi_is_the_worst_uplink_per_district() -> None:
    """xihu: uplinks 1 (0.62) and 2 (0.91) → 0.91 of 2. bj: uplink 3 (0.40); uplink 4 had no
    complete hour (NaN) and is not counted → 0.40 of 1. Network: 0.91 of 3. Port 9 is not
    an uplink in the inventory and is ignored."""
    busy = pd.DataFrame(
        {"busy_hour_p95": [0.62, 0.91, 0.40, np.nan, 0.99]},
        index=pd.Index([1, 2, 3, 4, 9], name="port"),
    )
    rows = kq.uplink_busy_hour_p95(busy, UPLINKS).set_index("district")
    assert list(rows.columns) == ["kqi", "sla_class", "numerator", "denominator", "value"]
    assert set(rows["kqi"]) == {"uplink_busy_hour_p95_utilisation_ratio"}
    assert set(rows["sla_class"]) == {kq.ALL}
    assert rows["numerator"].isna().all(), "a maximum does not re-aggregate from counts"
    assert rows.loc["xihu", ["value", "denominator"]].tolist() == [0.91, 2]
    assert rows.loc["bj", ["value", "denominator"]].tolist() == [0.40, 1]
    assert rows.loc[kq.ALL, ["value", "denominator"]].tolist() == [0.91, 3]


def test_busy_hour_p95_kqi_without_any_busy_hour_is_missing_not_zero() -> None:
    busy = pd.DataFrame({"busy_hour_p95": [np.nan]}, index=pd.Index([1], name="port"))
    rows = kq.uplink_busy_hour_p95(busy, UPLINKS)
    assert rows["district"].tolist() == [kq.ALL]
    assert np.isnan(rows["value"].iloc[0]) and rows["denominator"].iloc[0] == 0


def test_busy_hour_p95_from_5_minute_utilisation_end_to_end() -> None:
    """Two hours of 5-minute utilisation on uplink 1: 0.5 for the first hour, then
    0.1·k for k = 1…12 in the second (sum 7.8 > 6.0): the second hour is the busy hour.
    Its p95 (numpy linear) = 1.1 + 0.45 × (1.2 − 1.1) = 1.145 — a link over its speed
    (counter bursts) is not clipped."""
    window = TimeWindow(start=0, end=7200)
    util = [0.5] * 12 + [0.1 * k for k in range(1, 13)]
    samples = pd.DataFrame({"port": 1, "ts": np.arange(24) * 300, "utilisation_ratio": util})
    busy = busy_hour(samples, window)
    assert busy.loc[1, "busy_hour_start"] == 3600
    rows = kq.uplink_busy_hour_p95(busy, UPLINKS).set_index("district")
    assert rows.loc["xihu", "value"] == pytest.approx(1.145)
