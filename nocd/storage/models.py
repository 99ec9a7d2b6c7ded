"""SQLAlchemy 2 ORM models. They never leave ``nocd/storage``: repositories return dataclasses."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class DeviceKind(StrEnum):
    """What a device is in the access network, from the customer's port upwards."""

    DSLAM = "dslam"
    ACCESS_SWITCH = "access_switch"
    AGGREGATION = "aggregation"
    BRAS = "bras"


class SlaClass(StrEnum):
    """The service level a customer bought; SLA targets are defined per class."""

    RESIDENTIAL = "residential"
    BUSINESS = "business"
    ENTERPRISE = "enterprise"


DEVICE_KINDS = tuple(kind.value for kind in DeviceKind)
SLA_CLASSES = tuple(sla.value for sla in SlaClass)
ROLES = ("viewer", "operator", "integration", "district")
DEVICE_STATES = ("up", "down", "unknown")

# 64-bit ids on PostgreSQL; SQLite auto-increments only an INTEGER PRIMARY KEY (also 64-bit).
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Deterministic constraint names on both backends, so that migrations can address them
# (SQLite's batch mode needs a name to drop or alter a constraint).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Base(DeclarativeBase):
    """Declarative base; Alembic autogenerate compares against ``Base.metadata``."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class District(Base):
    __tablename__ = "districts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (CheckConstraint(_one_of("kind", DEVICE_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    district_id: Mapped[str] = mapped_column(
        ForeignKey("districts.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(64))
    port: Mapped[int] = mapped_column(Integer, default=161)
    # SNMP parameters as a JSON object: {"version": "2c", "community": ...} or v3 USM fields.
    # Secrets inside are never logged; repositories expose them only as SecretStr.
    snmp: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    vendor: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    sys_object_id: Mapped[str | None] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), index=True
    )


class Port(Base):
    __tablename__ = "ports"
    __table_args__ = (UniqueConstraint("device_id", "ifindex"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # No separate index: the (device_id, ifindex) unique index serves lookups by device.
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    ifindex: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(400))
    speed_bps: Mapped[int | None] = mapped_column(BigInteger)
    is_uplink: Mapped[bool] = mapped_column(default=False)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (CheckConstraint(_one_of("sla_class", SLA_CLASSES), name="sla_class"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sla_class: Mapped[str] = mapped_column(String(32), default="residential")
    contact: Mapped[str | None] = mapped_column(String(400))


class Line(Base):
    __tablename__ = "lines"
    __table_args__ = (UniqueConstraint("device_id", "ifindex"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # No separate index: the (device_id, ifindex) unique index serves lookups by device.
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    ifindex: Mapped[int] = mapped_column(Integer)
    port_id: Mapped[int | None] = mapped_column(ForeignKey("ports.id", ondelete="SET NULL"))
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    plan_down_kbps: Mapped[int | None] = mapped_column(Integer)
    plan_up_kbps: Mapped[int | None] = mapped_column(Integer)


class MaintenanceWindow(Base):
    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Scope: a whole district, one device (and everything behind it), or both null = network.
    district_id: Mapped[str | None] = mapped_column(ForeignKey("districts.id", ondelete="CASCADE"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text, default="")


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(_one_of("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    # sha256 hex of the token; the token itself is printed once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Role ``district`` only: the one district whose data this token may send (no FK: the
    # token can be issued before central's inventory lists the district).
    district: Mapped[str | None] = mapped_column(String(64))


class Sample(Base):
    """One measured value: ``entity`` is ``device``, ``if:<ifIndex>`` or ``line:<ifIndex>``.

    ``ts`` is UTC epoch seconds (the unit of ``kpi.intervals``). Missing and invalid values
    are never stored: absence means "no data", never zero.
    """

    __tablename__ = "samples"
    __table_args__ = (Index(None, "device_id", "entity", "metric", "ts"), Index(None, "ts"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(String(64))
    ts: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)


class DeviceStatus(Base):
    """The latest verdict and poll bookkeeping of one device (one row per device)."""

    __tablename__ = "device_status"
    __table_args__ = (CheckConstraint(_one_of("state", DEVICE_STATES), name="state"),)

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[int] = mapped_column(BigInteger)  # epoch seconds of the last state change
    last_poll_at: Mapped[int | None] = mapped_column(BigInteger)
    last_ok_at: Mapped[int | None] = mapped_column(BigInteger)
    last_outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    profile: Mapped[str | None] = mapped_column(String(100))
    sys_uptime_ticks: Mapped[int | None] = mapped_column(BigInteger)


class DeviceStateEvent(Base):
    """A change of a device's verdict; device timelines (``kpi.intervals``) come from these."""

    __tablename__ = "device_state_events"
    __table_args__ = (
        CheckConstraint(_one_of("state", DEVICE_STATES), name="state"),
        Index(None, "device_id", "ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    ts: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")


# --- two tiers (district outbox, central ingest) ---------------------------------------------

DISTRICT_STATES = ("ok", "silent")


class OutboxItem(Base):
    """District side: one local write waiting for central's acknowledgement.

    ``seq`` comes from ``OutboxState.next_seq`` in the same transaction as the local write,
    so commit order is sequence order and a sequence is never reused (not even after every
    row was acknowledged and deleted, which a bare SQLite rowid would do).
    """

    __tablename__ = "outbox"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[int] = mapped_column(BigInteger)  # epoch seconds of the local write
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[str] = mapped_column(Text)  # JSON body of the item (without seq)
    size: Mapped[int] = mapped_column(Integer)  # bytes of payload, for the quota


class OutboxState(Base):
    """District side: the outbox counters (one row per district), updated with every change."""

    __tablename__ = "outbox_state"

    district: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Random id of this outbox: a district rebuilt from scratch restarts its sequence under a
    # new epoch, and central resets its high-water mark instead of ignoring the new data.
    epoch: Mapped[str] = mapped_column(String(32))
    next_seq: Mapped[int] = mapped_column(BigInteger)
    items: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    dropped: Mapped[int] = mapped_column(BigInteger)  # items lost to quota or retention, ever


class DistrictStatus(Base):
    """Central side: what central has applied from each district and whether it is silent."""

    __tablename__ = "district_status"
    __table_args__ = (CheckConstraint(_one_of("state", DISTRICT_STATES), name="state"),)

    district: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32), default="")
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)  # high-water mark applied
    last_seen_at: Mapped[int | None] = mapped_column(BigInteger)  # epoch s of the last batch
    state: Mapped[str] = mapped_column(String(16), default="ok")
    since: Mapped[int] = mapped_column(BigInteger)
    # Set when the district was marked silent: its next answer asks it for a state snapshot.
    resync: Mapped[bool] = mapped_column(default=False)


class DistrictEvent(Base):
    """Central side: a district went silent or came back (alerting turns these into alerts)."""

    __tablename__ = "district_events"
    __table_args__ = (
        CheckConstraint(_one_of("state", DISTRICT_STATES), name="state"),
        Index(None, "district", "ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    district: Mapped[str] = mapped_column(String(64))
    ts: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")


# --- alerting (alerts, incidents, their history, pipeline memory, Alertmanager inbox) -------

ALERT_STATUSES = ("firing", "resolved")
ALERT_SEVERITIES = ("critical", "major", "minor", "warning", "info")
ALERT_SOURCES = ("rule", "alertmanager")


class AlertRow(Base):
    """One firing episode of an alert (``key`` = rule + entity); a re-fire is a new row."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(_one_of("status", ALERT_STATUSES), name="status"),
        CheckConstraint(_one_of("severity", ALERT_SEVERITIES), name="severity"),
        CheckConstraint(_one_of("source", ALERT_SOURCES), name="source"),
        Index(None, "key"),
        Index(None, "status", "started_at"),
        Index(None, "incident_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(400))
    rule: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default="rule")
    entity_kind: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(300))
    district: Mapped[str] = mapped_column(String(64))
    device: Mapped[str | None] = mapped_column(String(200))  # the entity's device, for filters
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    observed: Mapped[dict[str, float | str]] = mapped_column(JSON, default=dict)  # fired with
    expression: Mapped[str] = mapped_column(Text, default="")
    suppressed_by: Mapped[str | None] = mapped_column(String(400))
    suppression: Mapped[str | None] = mapped_column(String(32))
    incident_key: Mapped[str | None] = mapped_column(String(420))
    notified: Mapped[bool] = mapped_column(default=False)


class IncidentRow(Base):
    """One operator-facing problem: a root alert, the alerts it explains and its impact."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(_one_of("status", ALERT_STATUSES), name="status"),
        CheckConstraint(_one_of("severity", ALERT_SEVERITIES), name="severity"),
        Index(None, "key"),
        Index(None, "status", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(420))
    root_alert_key: Mapped[str] = mapped_column(String(400))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    district: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    child_alert_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    devices: Mapped[int] = mapped_column(Integer, default=0)
    lines: Mapped[int] = mapped_column(Integer, default=0)
    customers: Mapped[int] = mapped_column(Integer, default=0)
    customers_by_sla: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    summary: Mapped[str] = mapped_column(Text, default="")


class AlertHistoryRow(Base):
    """One line of an alert's or incident's audit trail (fired, suppressed, resolved…)."""

    __tablename__ = "alert_history"
    __table_args__ = (Index(None, "alert_id"), Index(None, "incident_id"), Index(None, "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(420))
    event: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    observed: Mapped[dict[str, float | str] | None] = mapped_column(JSON)


class AlertingStateRow(Base):
    """The alerting pipeline's memory between cycles (rule timers, correlation), as JSON."""

    __tablename__ = "alerting_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, object]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertmanagerAlertRow(Base):
    """An alert received from Alertmanager's webhook, by its fingerprint (the inbox)."""

    __tablename__ = "alertmanager_alerts"
    __table_args__ = (CheckConstraint(_one_of("status", ALERT_STATUSES), name="status"),)

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    generator_url: Mapped[str] = mapped_column(Text, default="")
    receiver: Mapped[str] = mapped_column(String(200), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- KPI / KQI / SLA (issue 5) -----------------------------------------------------------

ROLLUP_RESOLUTIONS = ("5m", "1h", "1d")
SLA_STATUSES = ("met", "at_risk", "breached")


class Rollup(Base):
    """count/min/avg/max/p95 of one series (device, entity, metric) in one bucket.

    Every resolution is computed from raw ``samples`` (p95 does not compose); ``bucket`` is
    the bucket start in UTC epoch seconds.
    """

    __tablename__ = "rollups"
    __table_args__ = (
        CheckConstraint(_one_of("resolution", ROLLUP_RESOLUTIONS), name="resolution"),
        Index(None, "resolution", "bucket"),
    )

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    resolution: Mapped[str] = mapped_column(String(4), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    min: Mapped[float] = mapped_column(Float)
    avg: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    p95: Mapped[float] = mapped_column(Float)


class RollupState(Base):
    """Per resolution: buckets before ``watermark`` are final; samples up to ``last_sample_id``
    have been checked for late arrivals."""

    __tablename__ = "rollup_state"
    __table_args__ = (
        CheckConstraint(_one_of("resolution", ROLLUP_RESOLUTIONS), name="resolution"),
    )

    resolution: Mapped[str] = mapped_column(String(4), primary_key=True)
    watermark: Mapped[int] = mapped_column(BigInteger)
    last_sample_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class KpiPeriod(Base):
    """One reporting period's KQI/SLA computation; late data sets ``dirty``."""

    __tablename__ = "kpi_periods"

    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    end: Mapped[int] = mapped_column(BigInteger)
    evaluated_until: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[int] = mapped_column(BigInteger)
    dirty: Mapped[bool] = mapped_column(default=False)


class KqiResult(Base):
    """A KQI of one period for a district × SLA class (``*`` = all), as summable counts."""

    __tablename__ = "kqi_results"

    period_start: Mapped[int] = mapped_column(
        ForeignKey("kpi_periods.start", ondelete="CASCADE"), primary_key=True
    )
    kqi: Mapped[str] = mapped_column(String(64), primary_key=True)
    district: Mapped[str] = mapped_column(String(64), primary_key=True)
    sla_class: Mapped[str] = mapped_column(String(32), primary_key=True)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)


class UplinkKqi(Base):
    """Per-uplink KQI inputs of one period: congestion counts and the busy hour's p95."""

    __tablename__ = "uplink_kqis"

    period_start: Mapped[int] = mapped_column(
        ForeignKey("kpi_periods.start", ondelete="CASCADE"), primary_key=True
    )
    port_id: Mapped[int] = mapped_column(
        ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True
    )
    intervals: Mapped[int] = mapped_column(Integer)
    congested_intervals: Mapped[int] = mapped_column(Integer)
    busy_hour_start: Mapped[int | None] = mapped_column(BigInteger)
    busy_hour_mean: Mapped[float | None] = mapped_column(Float)
    busy_hour_p95: Mapped[float | None] = mapped_column(Float)


class _SlaValues:
    """The evaluation columns shared by ``sla_results`` and ``sla_period_results``."""

    target: Mapped[str] = mapped_column(String(100), primary_key=True)
    district: Mapped[str] = mapped_column(String(64), primary_key=True)
    kqi: Mapped[str] = mapped_column(String(64))
    sla_class: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16))
    objective: Mapped[float] = mapped_column(Float)
    period_end: Mapped[int] = mapped_column(BigInteger)
    evaluated_until: Mapped[int] = mapped_column(BigInteger)
    entities: Mapped[int | None] = mapped_column(Integer)
    sli: Mapped[float | None] = mapped_column(Float)
    up_s: Mapped[int | None] = mapped_column(BigInteger)
    down_s: Mapped[int | None] = mapped_column(BigInteger)
    unknown_s: Mapped[int | None] = mapped_column(BigInteger)
    maintenance_s: Mapped[int | None] = mapped_column(BigInteger)
    excluded_s: Mapped[int | None] = mapped_column(BigInteger)
    scheduled_s: Mapped[int | None] = mapped_column(BigInteger)
    error_budget_total: Mapped[float | None] = mapped_column(Float)
    error_budget_used: Mapped[float | None] = mapped_column(Float)
    error_budget_remaining: Mapped[float | None] = mapped_column(Float)
    error_budget_remaining_ratio: Mapped[float | None] = mapped_column(Float)
    burn_rate: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))


class SlaResult(_SlaValues, Base):
    """One SLA target evaluated for one period and district (``*`` = network-wide)."""

    __tablename__ = "sla_results"
    __table_args__ = (CheckConstraint(_one_of("status", SLA_STATUSES), name="status"),)

    period_start: Mapped[int] = mapped_column(
        ForeignKey("kpi_periods.start", ondelete="CASCADE"), primary_key=True, sort_order=-1
    )


class SlaPeriod(Base):
    """A reporting period of targets with their own ``period``/``timezone`` (not the global one).

    Keyed by kind, zone and start, so a daily and a monthly period starting at the same
    instant, or months in two zones, never share a row; late data sets ``dirty``.
    """

    __tablename__ = "sla_periods"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), primary_key=True)
    start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    end: Mapped[int] = mapped_column(BigInteger)
    evaluated_until: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[int] = mapped_column(BigInteger)
    dirty: Mapped[bool] = mapped_column(default=False)


class SlaPeriodResult(_SlaValues, Base):
    """One target evaluated for one of its own periods (``sla_periods``) and district."""

    __tablename__ = "sla_period_results"
    __table_args__ = (
        CheckConstraint(_one_of("status", SLA_STATUSES), name="status"),
        ForeignKeyConstraint(
            ["period_kind", "timezone", "period_start"],
            ["sla_periods.kind", "sla_periods.timezone", "sla_periods.start"],
            name="fk_sla_period_results_sla_periods",
            ondelete="CASCADE",
        ),
    )

    period_kind: Mapped[str] = mapped_column(String(8), primary_key=True, sort_order=-3)
    timezone: Mapped[str] = mapped_column(String(64), primary_key=True, sort_order=-2)
    period_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, sort_order=-1)


class LineKpi(Base):
    """The latest per-line KPIs (stability class, MTBR/MTBE, rate attainment)."""

    __tablename__ = "line_kpis"

    line_id: Mapped[int] = mapped_column(
        ForeignKey("lines.id", ondelete="CASCADE"), primary_key=True
    )
    computed_at: Mapped[int] = mapped_column(BigInteger)
    stability: Mapped[str | None] = mapped_column(String(16))
    mtbr_24h_s: Mapped[float | None] = mapped_column(Float)
    mtbr_7d_s: Mapped[float | None] = mapped_column(Float)
    mtbe_24h_s: Mapped[float | None] = mapped_column(Float)
    mtbe_7d_s: Mapped[float | None] = mapped_column(Float)
    excluded_bins: Mapped[int] = mapped_column(Integer, default=0)
    actual_down_bps: Mapped[float | None] = mapped_column(Float)
    rate_attainment_down_ratio: Mapped[float | None] = mapped_column(Float)
    attains_plan_down: Mapped[bool | None] = mapped_column()
    headroom_down_bps: Mapped[float | None] = mapped_column(Float)


# --- tickets, roster, outbound webhooks (issue 7) ----------------------------------------

TICKET_KINDS = ("fault", "installation", "complaint")
TICKET_STATES = (
    "new",
    "acknowledged",
    "dispatched",
    "on_site",
    "taken_back",
    "resolved",
    "signed_off",
    "callback_done",
    "closed",
    "cancelled",
)
TICKET_PRIORITIES = ("P1", "P2", "P3", "P4")
WEBHOOK_OUTBOX_STATES = ("pending", "delivered", "dead")


class TicketRow(Base):
    """A ticket's current state; its history is ``ticket_events`` (one row per version).

    ``fields`` is the workflow fields as JSON (datetimes as ``{"$dt": iso}``). The columns
    after ``version`` are derived at write time for searches, metrics and the timer job.
    """

    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(_one_of("kind", TICKET_KINDS), name="kind"),
        CheckConstraint(_one_of("state", TICKET_STATES), name="state"),
        CheckConstraint(_one_of("priority", TICKET_PRIORITIES), name="priority"),
        Index(None, "state", "district"),
        Index(None, "created_at"),
        Index(None, "incident_key"),
        Index(None, "next_deadline_at"),
        Index(None, "technician"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(2))
    district: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text, default="")
    customer_id: Mapped[str | None] = mapped_column(String(64))
    side: Mapped[str | None] = mapped_column(String(16))
    hold: Mapped[str | None] = mapped_column(String(64))
    incident_key: Mapped[str | None] = mapped_column(String(420))
    lines: Mapped[list[str]] = mapped_column(JSON, default=list)
    linked_tickets: Mapped[list[str]] = mapped_column(JSON, default=list)
    fields: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    classification: Mapped[dict[str, object] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    technician: Mapped[str | None] = mapped_column(String(64))
    next_deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    arrived_on_time: Mapped[bool | None] = mapped_column()
    callback_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    callback_done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_suggested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TicketEventRow(Base):
    """One audit-trail line; ``(ticket_id, version)`` is unique, so two writers of the same
    version cannot both commit (the database backs the optimistic check)."""

    __tablename__ = "ticket_events"
    __table_args__ = (UniqueConstraint("ticket_id", "version"), Index(None, "at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text, default="")
    from_state: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    hold: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(2))
    fields: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    details: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class TicketCommentRow(Base):
    """A free-text comment on a ticket (not a workflow field)."""

    __tablename__ = "ticket_comments"
    __table_args__ = (Index(None, "ticket_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    text: Mapped[str] = mapped_column(Text)


class TechnicianRow(Base):
    """A field technician of one district, with skills (``dispatch.Skill`` values)."""

    __tablename__ = "technicians"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(64), index=True)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)


class TechnicianShiftRow(Base):
    """A recurring shift: weekdays (0 = Monday) and local start/end ``HH:MM``."""

    __tablename__ = "technician_shifts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    technician_id: Mapped[str] = mapped_column(
        ForeignKey("technicians.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    days: Mapped[list[int]] = mapped_column(JSON)
    start: Mapped[str] = mapped_column(String(5))
    end: Mapped[str] = mapped_column(String(5))


class IdempotencyKeyRow(Base):
    """A create request's ``Idempotency-Key`` per token: the request hash and the response."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index(None, "created_at"),)

    actor: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookSubscriptionRow(Base):
    """An outbound webhook receiver. ``secret`` signs the bodies (HMAC needs it in clear);
    repositories expose it only as ``SecretStr`` and the API never returns it."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every event
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookOutboxRow(Base):
    """One event for one subscription, written in the transaction of the ticket change.

    ``body`` is the exact JSON that is signed and sent on every attempt; ``event_id`` is the
    receiver's deduplication key (unique per subscription).
    """

    __tablename__ = "webhook_outbox"
    __table_args__ = (
        CheckConstraint(_one_of("state", WEBHOOK_OUTBOX_STATES), name="state"),
        UniqueConstraint("subscription_id", "event_id"),
        Index(None, "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class WebhookDeliveryRow(Base):
    """One delivery attempt (the per-subscription delivery log)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index(None, "subscription_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_outbox.id", ondelete="SET NULL")
    )
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool] = mapped_column()
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)


# --- SLA reports (issue 9) -------------------------------------------------------------------

REPORT_PERIODS = ("day", "month")
REPORT_FORMATS = ("html", "csv", "json")


class ReportRow(Base):
    """One rendered SLA report file; a run replaces every format of its (date, period, lang)."""

    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint(_one_of("period", REPORT_PERIODS), name="period"),
        CheckConstraint(_one_of("format", REPORT_FORMATS), name="format"),
        UniqueConstraint("date", "period", "lang", "format"),
        Index(None, "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    date: Mapped[str] = mapped_column(String(10))  # the report day, YYYY-MM-DD (report zone)
    period: Mapped[str] = mapped_column(String(8))
    lang: Mapped[str] = mapped_column(String(8))
    format: Mapped[str] = mapped_column(String(8))
    media_type: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- traffic model (issue 8) -------------------------------------------------------------

TRAFFIC_ANOMALY_KINDS = ("spike", "drop", "degradation")


class TrafficAnomalyRow(Base):
    """One on-line anomaly event on an uplink, the alert it raised and its lead time.

    ``lead_time_s`` is filled once a rule alert on the same device starts after the
    detection (within ``[traffic] lead_window_s``): how much earlier the anomaly warned.
    """

    __tablename__ = "traffic_anomalies"
    __table_args__ = (
        CheckConstraint(_one_of("kind", TRAFFIC_ANOMALY_KINDS), name="kind"),
        Index(None, "link", "detected_at"),
        Index(None, "detected_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)  # of the inbox alert
    link: Mapped[str] = mapped_column(String(300))  # "<device>/if:<ifIndex>"
    device: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    deviation: Mapped[float] = mapped_column(Float)  # signed robust z of the trigger
    sample_ts: Mapped[int] = mapped_column(BigInteger)  # bucket of the triggering sample
    detected_at: Mapped[int] = mapped_column(BigInteger)  # epoch s of the pass that saw it
    resolved_at: Mapped[int | None] = mapped_column(BigInteger)
    lead_time_s: Mapped[int | None] = mapped_column(BigInteger)
    lead_alert_key: Mapped[str | None] = mapped_column(String(400))
