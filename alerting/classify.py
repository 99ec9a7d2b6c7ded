"""Classify a customer-reported fault as network-side or customer-side, with the evidence (pure).

About 70 % of broadband fault reports are on the customer side (modem, in-home wiring, PC;
第三篇: 其中70%的故障原因都是用户端的障碍). Classifying every report from the line's current
state and recent history sends field work where it belongs. The rules are an ordered table
(:data:`RULES`); the first that matches decides:

| # | evidence                                                 | side          | category        |
|---|----------------------------------------------------------|---------------|-----------------|
| 1 | an open incident covers the line                         | network       | incident        |
| 2 | the DSLAM/switch is down                                 | network       | device_down     |
| 3 | the line's port is down while the device is up           | network       | port_down       |
| 4 | device, port or line state unknown (nobody could look)   | unknown       | no_data         |
| 5 | line out of sync behind a healthy device                 | network       | line_down       |
| 6 | in sync but unstable, low SNR margin or rate below plan  | network       | line_degraded   |
| 7 | in sync, good SNR, normal rate, traffic flowing          | customer_side | cpe_or_pc       |
| 8 | in sync, good, but no traffic                            | customer_side | no_session      |
| 9 | KPIs missing                                             | unknown       | no_data         |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from alerting.model import EntityState
from alerting.tickets import FaultSide

__all__ = [
    "RULES",
    "Classification",
    "ClassifyThresholds",
    "Confidence",
    "Evidence",
    "FaultCategory",
    "LineReport",
    "classify_report",
]


class FaultCategory(StrEnum):
    """Which rule decided; tells the dispatcher what kind of work it is."""

    INCIDENT = "incident"  # attach to the open incident, no separate field visit
    DEVICE_DOWN = "device_down"
    PORT_DOWN = "port_down"
    LINE_DOWN = "line_down"  # copper/local loop: a line technician
    LINE_DEGRADED = "line_degraded"
    CPE_OR_PC = "cpe_or_pc"  # the customer's modem, wiring or PC
    NO_SESSION = "no_session"  # synced but no traffic: router/PPPoE settings, PC
    NO_DATA = "no_data"


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassifyThresholds:
    """Where a line stops being "good"; the defaults are common VDSL2 operating margins."""

    snr_margin_min_db: float = 6.0  # below: noisy line
    rate_ratio_min: float = 0.8  # actual downstream rate / plan rate
    retrains_max: int = 10  # in the history window; more: unstable line
    traffic_min_bps: float = 1_000.0  # below: no traffic (keepalives only)


@dataclass(frozen=True, slots=True, kw_only=True)
class LineReport:
    """What is known about the reported line now and over the recent window (e.g. 24 h).

    ``None`` means "no data". ``covering_incidents`` are the keys of open incidents whose
    scope includes the line (the caller asks correlation); the first one is attached.
    """

    line_id: str
    device_state: EntityState | None = None  # the DSLAM or access switch
    port_state: EntityState | None = None  # the line's port on it
    in_sync: bool | None = None
    snr_margin_down_db: float | None = None
    rate_ratio: float | None = None  # actual / plan downstream rate
    traffic_bps: float | None = None  # recent average, both directions
    retrains_recent: int | None = None
    sync_losses_recent: int | None = None
    covering_incidents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """One fact the decision rests on: ``snr_margin_down_db = 11.5`` and what it means."""

    key: str
    value: str
    meaning: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """The verdict, which rule made it, and the evidence in words for the hotline agent."""

    side: FaultSide
    category: FaultCategory
    confidence: Confidence
    incident_key: str | None
    evidence: tuple[Evidence, ...]
    explanation: str
    advice: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Rule:
    category: FaultCategory
    side: FaultSide
    confidence: Confidence
    matches: Callable[[LineReport, ClassifyThresholds], bool]
    explanation: str
    advice: str = ""


def _unknown(r: LineReport) -> bool:
    states = (r.device_state, r.port_state)
    return any(s is EntityState.UNKNOWN for s in states) or r.in_sync is None


def _degraded(r: LineReport, t: ClassifyThresholds) -> bool:
    return (
        (r.snr_margin_down_db is not None and r.snr_margin_down_db < t.snr_margin_min_db)
        or (r.rate_ratio is not None and r.rate_ratio < t.rate_ratio_min)
        or (r.retrains_recent is not None and r.retrains_recent > t.retrains_max)
    )


def _good(r: LineReport, t: ClassifyThresholds) -> bool:
    known = r.snr_margin_down_db is not None and r.rate_ratio is not None
    return bool(r.in_sync) and known and not _degraded(r, t)


RULES: Final[tuple[_Rule, ...]] = (
    _Rule(
        category=FaultCategory.INCIDENT,
        side=FaultSide.NETWORK,
        confidence=Confidence.HIGH,
        matches=lambda r, t: bool(r.covering_incidents),
        explanation="an open incident covers this line; the report is attached to it",
        advice="tell the customer the fault is known and being repaired",
    ),
    _Rule(
        category=FaultCategory.DEVICE_DOWN,
        side=FaultSide.NETWORK,
        confidence=Confidence.HIGH,
        matches=lambda r, t: r.device_state is EntityState.DOWN,
        explanation="the access device serving the line is down",
    ),
    _Rule(
        category=FaultCategory.PORT_DOWN,
        side=FaultSide.NETWORK,
        confidence=Confidence.HIGH,
        matches=lambda r, t: r.port_state is EntityState.DOWN and r.device_state is EntityState.UP,
        explanation="the line's port is down on a device that is up",
    ),
    _Rule(
        category=FaultCategory.NO_DATA,
        side=FaultSide.UNKNOWN,
        confidence=Confidence.LOW,
        matches=lambda r, t: _unknown(r),
        explanation="the device, port or line could not be read; nothing to decide on",
        advice="test the line from the NOC before dispatching",
    ),
    _Rule(
        category=FaultCategory.LINE_DOWN,
        side=FaultSide.NETWORK,
        confidence=Confidence.MEDIUM,
        matches=lambda r, t: r.in_sync is False and r.device_state is EntityState.UP,
        explanation="the line has lost sync behind a healthy device: a line (local loop) fault",
        advice="first ask the customer whether the modem is powered on; it looks the same",
    ),
    _Rule(
        category=FaultCategory.LINE_DEGRADED,
        side=FaultSide.NETWORK,
        confidence=Confidence.MEDIUM,
        matches=lambda r, t: bool(r.in_sync) and _degraded(r, t),
        explanation="the line is in sync but noisy, unstable or below its plan rate",
    ),
    _Rule(
        category=FaultCategory.CPE_OR_PC,
        side=FaultSide.CUSTOMER_SIDE,
        confidence=Confidence.HIGH,
        matches=lambda r, t: (
            _good(r, t) and r.traffic_bps is not None and r.traffic_bps >= t.traffic_min_bps
        ),
        explanation="the line is in sync with good SNR, its plan rate and traffic: "
        "the fault is behind the modem (CPE, wiring, PC)",
        advice="guide the customer by phone (restart modem/router, check the PC) before a visit",
    ),
    _Rule(
        category=FaultCategory.NO_SESSION,
        side=FaultSide.CUSTOMER_SIDE,
        confidence=Confidence.MEDIUM,
        matches=lambda r, t: _good(r, t) and r.traffic_bps is not None,
        explanation="the line is in sync and good but carries no traffic: "
        "the router or PC is not connecting",
        advice="check the customer's PPPoE session on the BRAS, then router settings",
    ),
)

_FALLBACK = _Rule(
    category=FaultCategory.NO_DATA,
    side=FaultSide.UNKNOWN,
    confidence=Confidence.LOW,
    matches=lambda r, t: True,
    explanation="the line's KPIs (SNR, rate, traffic) are missing; nothing to decide on",
    advice="test the line from the NOC before dispatching",
)


def _evidence(r: LineReport, t: ClassifyThresholds) -> tuple[Evidence, ...]:
    out: list[Evidence] = []
    if r.covering_incidents:
        out.append(Evidence(key="incidents", value=", ".join(r.covering_incidents), meaning="open"))
    for key, state in (("device_state", r.device_state), ("port_state", r.port_state)):
        if state is not None:
            out.append(Evidence(key=key, value=str(state), meaning=f"{key.split('_')[0]} {state}"))
    if r.in_sync is not None:
        meaning = "in sync" if r.in_sync else "not in sync"
        out.append(Evidence(key="in_sync", value=str(r.in_sync).lower(), meaning=meaning))
    if r.snr_margin_down_db is not None:
        low = r.snr_margin_down_db < t.snr_margin_min_db
        out.append(
            Evidence(
                key="snr_margin_down_db",
                value=f"{r.snr_margin_down_db:g}",
                meaning=f"{'below' if low else 'at or above'} {t.snr_margin_min_db:g} dB",
            )
        )
    if r.rate_ratio is not None:
        low = r.rate_ratio < t.rate_ratio_min
        out.append(
            Evidence(
                key="rate_ratio",
                value=f"{r.rate_ratio:.2f}",
                meaning=f"{'below' if low else 'at or above'} {t.rate_ratio_min:.0%} of plan",
            )
        )
    if r.retrains_recent is not None:
        many = r.retrains_recent > t.retrains_max
        out.append(
            Evidence(
                key="retrains_recent",
                value=str(r.retrains_recent),
                meaning=f"{'more than' if many else 'at most'} {t.retrains_max} retrains",
            )
        )
    if r.sync_losses_recent is not None:
        out.append(
            Evidence(
                key="sync_losses_recent",
                value=str(r.sync_losses_recent),
                meaning="times the line lost sync in the window",
            )
        )
    if r.traffic_bps is not None:
        flowing = r.traffic_bps >= t.traffic_min_bps
        out.append(
            Evidence(
                key="traffic_bps",
                value=f"{r.traffic_bps:g}",
                meaning="traffic flowing" if flowing else "no traffic",
            )
        )
    return tuple(out)


def classify_report(
    report: LineReport, thresholds: ClassifyThresholds | None = None
) -> Classification:
    """Network-side or customer-side for a reported line, by the first matching rule."""
    t = thresholds or ClassifyThresholds()
    rule = next((rule for rule in RULES if rule.matches(report, t)), _FALLBACK)
    evidence = _evidence(report, t)
    facts = "; ".join(f"{e.key}={e.value} ({e.meaning})" for e in evidence) or "no data"
    return Classification(
        side=rule.side,
        category=rule.category,
        confidence=rule.confidence,
        incident_key=report.covering_incidents[0]
        if rule.category is FaultCategory.INCIDENT
        else None,
        evidence=evidence,
        explanation=f"{rule.side} ({rule.category}): {rule.explanation}. Evidence: {facts}",
        advice=rule.advice,
    )
