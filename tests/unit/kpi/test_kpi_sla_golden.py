"""Golden SLA report for a fixed synthetic month (June 2024, Asia/Shanghai).

The network: 2 districts × 2 DSLAMs × 6 lines (alternating residential / enterprise),
all up from before the month, with per-line outages from a fixed formula, two unknown
gaps, one 40-minute DSLAM outage, one planned DSLAM maintenance overlapping a line outage,
and modem UAS on two lines. Evaluated for three targets per district and network-wide,
once after the month closed and once mid-month.

The expected file ``golden/sla_month.json`` was generated once with
``uv run python tests/unit/kpi/test_kpi_sla_golden.py --write`` and reviewed by hand
(see docs/kpi.md → "Golden SLA month"); the test compares exactly. Regenerate only when a
rule changes on purpose, and review the diff.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from kpi.definitions import KqiKey
from kpi.dsl_line import uas_adjustment
from kpi.intervals import TimeWindow, epoch_s, fill_gaps, timeline_from_events
from kpi.kqi import (
    ALL,
    customer_minutes_lost,
    expand_to_lines,
    line_availability,
    propagate_device_outages,
)
from kpi.sla import (
    AvailabilitySla,
    ReportingPeriod,
    SlaScope,
    SlaTarget,
    WeeklySchedule,
    evaluate_availability,
    scheduled_seconds,
)

GOLDEN = Path(__file__).parent / "golden" / "sla_month.json"
ZONE = ZoneInfo("Asia/Shanghai")
PERIOD = ReportingPeriod(time_zone="Asia/Shanghai")
JUNE = PERIOD.containing(epoch_s(datetime(2024, 6, 15, tzinfo=ZONE)))
MID_JUNE = epoch_s(datetime(2024, 6, 15, 12, tzinfo=ZONE))
AFTER = JUNE.end + 86_400

TARGETS = (
    SlaTarget(
        kqi=KqiKey.LINE_AVAILABILITY,
        sla_class="enterprise",
        scope=SlaScope.EXTERNAL,
        objective=0.999,
        period=PERIOD,
    ),
    SlaTarget(
        kqi=KqiKey.LINE_AVAILABILITY,
        sla_class="enterprise",
        scope=SlaScope.EXTERNAL,
        objective=0.9995,
        period=PERIOD,
        schedule=WeeklySchedule.parse("mon-fri 08:00-18:00"),
    ),
    SlaTarget(
        kqi=KqiKey.LINE_AVAILABILITY,
        sla_class="residential",
        scope=SlaScope.INTERNAL,
        objective=0.995,
        period=PERIOD,
    ),
)


def local(day: int, hour: int, minute: int = 0) -> int:
    return epoch_s(datetime(2024, 6, day, hour, minute, tzinfo=ZONE))


def inventory() -> pd.DataFrame:
    rows = []
    for d, district in enumerate(("north", "south")):
        for k in range(2):
            dslam = f"{district}-dslam-{k + 1}"
            for j in range(6):
                i = d * 12 + k * 6 + j
                rows.append(
                    {
                        "line": f"line-{i:02d}",
                        "dslam": dslam,
                        "district": district,
                        "sla_class": "enterprise" if j % 2 else "residential",
                    }
                )
    return pd.DataFrame(rows)


def line_events(inv: pd.DataFrame) -> pd.DataFrame:
    """Outage i: day (3 + 5i) mod 28 + 1, hour 7i mod 24, (5 + 13i) mod 90 minutes;
    every fifth line a second 2-hour outage on day 25 at 22:00; lines 3 and 10 lose the
    poller for 2 h (unknown) on day 8 at 09:00."""
    rows: list[tuple[str, int, str]] = []
    for i, line in enumerate(inv["line"]):
        rows.append((line, JUNE.start - 3600, "up"))
        start = local((3 + 5 * i) % 28 + 1, (7 * i) % 24)
        rows += [(line, start, "down"), (line, start + 60 * ((5 + 13 * i) % 90), "up")]
        if i % 5 == 0:
            rows += [(line, local(25, 22), "down"), (line, local(26, 0), "up")]
        if i in (3, 10):
            rows += [(line, local(8, 9), "unknown"), (line, local(8, 11), "up")]
    return pd.DataFrame(rows, columns=["entity", "ts", "state"])


def device_events() -> pd.DataFrame:
    """north-dslam-1 down 40 min on June 12 from 14:10."""
    rows = [
        ("north-dslam-1", JUNE.start - 3600, "up"),
        ("north-dslam-1", local(12, 14, 10), "down"),
        ("north-dslam-1", local(12, 14, 50), "up"),
    ]
    return pd.DataFrame(rows, columns=["entity", "ts", "state"])


def maintenance(inv: pd.DataFrame) -> pd.DataFrame:
    """south-dslam-2 planned works June 20 19:00–21:00, for every line behind it.

    line-20's outage that day runs 20:00–21:25: 60 min become maintenance, 25 min stay down.
    """
    device = pd.DataFrame(
        {"entity": ["south-dslam-2"], "start": [local(20, 19)], "end": [local(20, 21)]}
    )
    return expand_to_lines(device, inv)


def uas_bins() -> pd.DataFrame:
    """Modem-counted UAS: line-01 600 s in a bin the poller saw as up (+600 s down);
    line-14 600 s in the bin of its own 7-minute outage (420 s already down: +180 s)."""
    return pd.DataFrame(
        {
            "entity": ["line-01", "line-14"],
            "start": [local(5, 3), local(18, 2)],
            "end": [local(5, 3, 15), local(18, 2, 15)],
            "uas_s": [600, 600],
        }
    )


def sla_record(result: AvailabilitySla, scope: str) -> dict[str, Any]:
    record = asdict(result)
    target = record.pop("target")
    record["target"] = {
        "kqi": target["kqi"].value,
        "sla_class": target["sla_class"],
        "scope": target["scope"].value,
        "objective": target["objective"],
        "schedule": "mon-fri 08:00-18:00" if target["schedule"] else "24x7",
    }
    record["period"] = [result.period.start, result.period.end]
    record["status"] = result.status.value
    record["district"] = scope
    return record


def build_report() -> dict[str, Any]:
    inv = inventory()
    lines = timeline_from_events(line_events(inv), now=AFTER)
    devices = timeline_from_events(device_events(), now=AFTER)
    # propagate DSLAM outages over the whole month once; every evaluation clips from here
    lines = propagate_device_outages(
        fill_gaps(lines, TimeWindow(start=JUNE.start - 3600, end=AFTER)), devices, inv
    )
    maint, uas = maintenance(inv), uas_bins()
    report: dict[str, Any] = {"period": [JUNE.start, JUNE.end], "sla": [], "kqi": []}
    for now in (AFTER, MID_JUNE):
        for target in TARGETS:
            for district in ("north", "south", ALL):
                chosen = inv.loc[inv["sla_class"] == target.sla_class]
                if district != ALL:
                    chosen = chosen.loc[chosen["district"] == district]
                result = evaluate_availability(
                    lines.loc[lines["entity"].isin(chosen["line"])],
                    target=target,
                    period=JUNE,
                    now=now,
                    maintenance=maint,
                    entities=chosen["line"],
                    uas_bins=uas,
                )
                report["sla"].append({"now": now, **sla_record(result, district)})
    scheduled, seconds = scheduled_seconds(
        lines, window=JUNE, target=TARGETS[0], maintenance=maint, entities=inv["line"]
    )
    states = ["up", "down", "maintenance", "unknown"]
    delta = uas_adjustment(scheduled, uas).reindex(index=seconds.index, fill_value=0)
    seconds[states] = seconds[states] + delta[states]
    for frame in (line_availability(seconds, inv), customer_minutes_lost(seconds, inv)):
        frame = frame.replace({np.nan: None})
        report["kqi"] += frame.to_dict("records")
    return report


def test_sla_month_matches_the_reviewed_golden_file():
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    got = json.loads(json.dumps(build_report(), default=int))
    assert got == expected


if __name__ == "__main__":
    if "--write" in sys.argv:
        GOLDEN.parent.mkdir(exist_ok=True)
        text = json.dumps(build_report(), indent=1, sort_keys=True, default=int)
        GOLDEN.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {GOLDEN}")
