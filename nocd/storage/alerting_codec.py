"""JSON forms of the alerting pipeline's memory (rule timers, correlation state) for storage.

    data = encode_evaluation(state)       # -> plain JSON-able dict
    state = decode_evaluation(data)       # and back, equal to the original

The pure core keeps its state as frozen dataclasses; only storage needs them as JSON, so the
codec lives here. Times are ISO 8601 with offset; an unknown format version decodes to an
empty state (the pipeline then starts afresh, as after a first start).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from alerting.correlation import CorrelationState, EntityStatus, FlapState
from alerting.model import (
    Alert,
    AlertStatus,
    EntityKind,
    EntityRef,
    EntityState,
    Severity,
    Suppression,
)
from alerting.rules import EvaluationState, LevelState, RuleState

__all__ = [
    "FORMAT",
    "decode_alert",
    "decode_correlation",
    "decode_evaluation",
    "encode_alert",
    "encode_correlation",
    "encode_evaluation",
]

FORMAT = 1  # bump when the shape changes; older data is then discarded, not misread

Json = dict[str, Any]


def _t(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value is not None else None


def _ref(value: str) -> EntityRef:
    kind, _, ident = value.partition(":")
    return EntityRef(kind=EntityKind(kind), id=ident)


def encode_alert(alert: Alert) -> Json:
    """An alert as a JSON object (every field)."""
    return {
        "key": alert.key,
        "rule": alert.rule,
        "severity": alert.severity.value,
        "entity": str(alert.entity),
        "district": alert.district,
        "status": alert.status.value,
        "started_at": _t(alert.started_at),
        "resolved_at": _t(alert.resolved_at),
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "values": dict(alert.values),
        "expression": alert.expression,
        "suppressed_by": alert.suppressed_by,
        "suppression": alert.suppression.value if alert.suppression else None,
        "incident_key": alert.incident_key,
        "notified": alert.notified,
    }


def decode_alert(data: Mapping[str, Any]) -> Alert:
    """The inverse of :func:`encode_alert`."""
    started = _dt(data["started_at"])
    assert started is not None
    return Alert(
        key=data["key"],
        rule=data["rule"],
        severity=Severity(data["severity"]),
        entity=_ref(data["entity"]),
        district=data["district"],
        status=AlertStatus(data["status"]),
        started_at=started,
        resolved_at=_dt(data.get("resolved_at")),
        labels=dict(data.get("labels") or {}),
        annotations=dict(data.get("annotations") or {}),
        values=dict(data.get("values") or {}),
        expression=data.get("expression", ""),
        suppressed_by=data.get("suppressed_by"),
        suppression=Suppression(data["suppression"]) if data.get("suppression") else None,
        incident_key=data.get("incident_key"),
        notified=bool(data.get("notified", False)),
    )


def encode_evaluation(state: EvaluationState) -> Json:
    """Rule timers and firing alerts, keyed by alert key."""
    return {
        "format": FORMAT,
        "entries": {
            key: {
                "rule": entry.rule,
                "entity": str(entry.entity),
                "levels": [[_t(lv.since), lv.latched] for lv in entry.levels],
                "alert": encode_alert(entry.alert) if entry.alert is not None else None,
            }
            for key, entry in state.entries.items()
        },
    }


def decode_evaluation(data: Mapping[str, Any] | None) -> EvaluationState:
    """The inverse of :func:`encode_evaluation`; empty for ``None`` or another format."""
    if not data or data.get("format") != FORMAT:
        return EvaluationState()
    entries = {
        key: RuleState(
            rule=entry["rule"],
            entity=_ref(entry["entity"]),
            levels=tuple(
                LevelState(since=_dt(since), latched=bool(latched))
                for since, latched in entry["levels"]
            ),
            alert=decode_alert(entry["alert"]) if entry.get("alert") else None,
        )
        for key, entry in data.get("entries", {}).items()
    }
    return EvaluationState(entries=entries)


def encode_correlation(state: CorrelationState) -> Json:
    """Entity statuses, flap counters, grouped DSLAMs and the alerts correlation made."""
    return {
        "format": FORMAT,
        "statuses": {
            str(ref): [s.state.value, _t(s.since), _t(s.observed_at)]
            for ref, s in state.statuses.items()
        },
        "flaps": {
            str(ref): {
                "district": f.district,
                "changes": [_t(t) for t in f.changes],
                "flapping": f.flapping,
                "since": _t(f.since),
            }
            for ref, f in state.flaps.items()
        },
        "groups": sorted(str(ref) for ref in state.groups),
        "synthetic": {key: encode_alert(a) for key, a in state.synthetic.items()},
        "explained": {key: [by, _t(since)] for key, (by, since) in state.explained.items()},
    }


def decode_correlation(data: Mapping[str, Any] | None) -> CorrelationState:
    """The inverse of :func:`encode_correlation`; empty for ``None`` or another format."""
    if not data or data.get("format") != FORMAT:
        return CorrelationState()
    statuses = {}
    for ref, (state, since, observed) in data.get("statuses", {}).items():
        since_t, observed_t = _dt(since), _dt(observed)
        assert since_t is not None and observed_t is not None
        statuses[_ref(ref)] = EntityStatus(
            state=EntityState(state), since=since_t, observed_at=observed_t
        )
    flaps = {
        _ref(ref): FlapState(
            district=f["district"],
            changes=tuple(t for t in (_dt(c) for c in f["changes"]) if t is not None),
            flapping=bool(f["flapping"]),
            since=_dt(f.get("since")),
        )
        for ref, f in data.get("flaps", {}).items()
    }
    return CorrelationState(
        statuses=statuses,
        flaps=flaps,
        groups=frozenset(_ref(ref) for ref in data.get("groups", [])),
        synthetic={k: decode_alert(a) for k, a in data.get("synthetic", {}).items()},
        explained={
            key: (by, since_t)
            for key, (by, since) in data.get("explained", {}).items()
            if (since_t := _dt(since)) is not None
        },
    )
