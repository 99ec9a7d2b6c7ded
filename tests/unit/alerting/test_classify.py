"""Classification of customer reports: network-side vs customer-side, with the evidence."""

from __future__ import annotations

import pytest

from alerting.classify import (
    Classification,
    ClassifyThresholds,
    Confidence,
    FaultCategory,
    LineReport,
    classify_report,
)
from alerting.model import EntityState
from alerting.tickets import FaultSide

UP, DOWN, UNKNOWN = EntityState.UP, EntityState.DOWN, EntityState.UNKNOWN
NET, CUST, UNK = FaultSide.NETWORK, FaultSide.CUSTOMER_SIDE, FaultSide.UNKNOWN

# A healthy VDSL2 line in sync at its plan rate, carrying traffic.
GOOD = dict(
    device_state=UP,
    port_state=UP,
    in_sync=True,
    snr_margin_down_db=11.5,
    rate_ratio=0.97,
    traffic_bps=2.4e6,
    retrains_recent=1,
    sync_losses_recent=0,
)


def report(**changes) -> LineReport:
    return LineReport(line_id="line-1001", **{**GOOD, **changes})


CASES = [
    # description, report, side, category
    ("line in sync, good SNR, plan rate, traffic: CPE/PC", report(), CUST, FaultCategory.CPE_OR_PC),
    (
        "lost sync behind a healthy DSLAM: line fault",
        report(in_sync=False, traffic_bps=0.0, sync_losses_recent=3),
        NET,
        FaultCategory.LINE_DOWN,
    ),
    (
        "DSLAM down",
        report(device_state=DOWN, port_state=UNKNOWN, in_sync=None),
        NET,
        FaultCategory.DEVICE_DOWN,
    ),
    (
        "port down on a healthy DSLAM",
        report(port_state=DOWN, in_sync=False),
        NET,
        FaultCategory.PORT_DOWN,
    ),
    (
        "open incident covers the line, line looks fine",
        report(covering_incidents=("incident:device_down:device:agg-3",)),
        NET,
        FaultCategory.INCIDENT,
    ),
    ("low SNR margin", report(snr_margin_down_db=3.2), NET, FaultCategory.LINE_DEGRADED),
    ("rate far below plan", report(rate_ratio=0.55), NET, FaultCategory.LINE_DEGRADED),
    ("retraining all day", report(retrains_recent=48), NET, FaultCategory.LINE_DEGRADED),
    (
        "in sync and good, no traffic: router/PC not connecting",
        report(traffic_bps=0.0),
        CUST,
        FaultCategory.NO_SESSION,
    ),
    (
        "collector could not read the DSLAM",
        report(device_state=UNKNOWN),
        UNK,
        FaultCategory.NO_DATA,
    ),
    ("sync state unknown", report(in_sync=None), UNK, FaultCategory.NO_DATA),
    (
        "in sync but no SNR/rate data",
        report(snr_margin_down_db=None, rate_ratio=None),
        UNK,
        FaultCategory.NO_DATA,
    ),
    (
        "margin exactly at the threshold is good",
        report(snr_margin_down_db=6.0),
        CUST,
        FaultCategory.CPE_OR_PC,
    ),
]


@pytest.mark.parametrize(
    ("description", "line", "side", "category"), CASES, ids=[c[0] for c in CASES]
)
def test_classification_table(description, line, side, category):
    result = classify_report(line)
    assert (result.side, result.category) == (side, category), (
        f"{description}: {result.explanation}"
    )
    assert str(side) in result.explanation and str(category) in result.explanation


def test_incident_is_attached_and_evidence_is_explained():
    incident = "incident:device_down:device:agg-3"
    result = classify_report(report(covering_incidents=(incident,)))
    assert result.incident_key == incident
    assert result.confidence is Confidence.HIGH
    assert classify_report(report()).incident_key is None


def test_evidence_lists_each_fact_with_its_meaning():
    result: Classification = classify_report(report(snr_margin_down_db=3.2))
    evidence = {e.key: e for e in result.evidence}
    assert evidence["snr_margin_down_db"].value == "3.2"
    assert evidence["snr_margin_down_db"].meaning == "below 6 dB"
    assert evidence["rate_ratio"].meaning == "at or above 80% of plan"
    assert evidence["traffic_bps"].meaning == "traffic flowing"
    assert "snr_margin_down_db=3.2 (below 6 dB)" in result.explanation


def test_lost_sync_advice_mentions_the_powered_off_modem():
    result = classify_report(report(in_sync=False))
    assert "powered on" in result.advice


def test_thresholds_are_parameters():
    strict = ClassifyThresholds(snr_margin_min_db=12.0)
    assert classify_report(report(), strict).category is FaultCategory.LINE_DEGRADED


def test_most_of_a_typical_mix_is_customer_side():
    """A hotline hour shaped like the operator's statistics: 7 of 10 lines look healthy."""
    mix = (
        [report()] * 6
        + [report(traffic_bps=0.0)]
        + [report(in_sync=False)] * 2
        + [report(snr_margin_down_db=2.0)]
    )
    sides = [classify_report(line).side for line in mix]
    assert sides.count(CUST) == 7
