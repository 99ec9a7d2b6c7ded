"""Inventory repository: districts, devices, customers and lines in and out as frozen dataclasses.

Every function takes a ``Session`` and never commits: the caller owns the transaction.

    page = list_devices(session, district="xihu", kind=DeviceKind.DSLAM, limit=50)
    page.items, page.total                       # one page, and how many match in all
    device = get_device(session, "xihu-dslam-01")
    counts = upsert_devices(session, [DeviceRecord(...), ...])
    deleted = prune_devices(session, keep={"xihu-dslam-01", ...})
    snapshot = export_all(session)

Devices and lines are addressed by their natural keys (device name; device name + ifIndex);
surrogate ``id`` values appear on records read back, for code that stores samples by id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Generic, TypeAlias, TypeVar

from pydantic import SecretStr
from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from nocd.storage.models import Customer, Device, DeviceKind, District, Line, SlaClass

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "AuthProtocol",
    "CustomerRecord",
    "DeviceKind",
    "DeviceRecord",
    "DistrictRecord",
    "InventorySnapshot",
    "LineRecord",
    "Page",
    "PrivProtocol",
    "SlaClass",
    "SnmpParams",
    "SnmpVersion",
    "UnknownReferenceError",
    "UpsertCounts",
    "count_devices",
    "customer_ids",
    "customers_by_id",
    "delete_customer",
    "delete_device",
    "delete_district",
    "delete_line",
    "device_parents",
    "devices_by_district",
    "devices_by_name",
    "district_ids",
    "export_all",
    "get_customer",
    "get_device",
    "get_district",
    "get_line",
    "lines_by_customer",
    "lines_by_device",
    "list_customers",
    "list_devices",
    "list_districts",
    "list_lines",
    "prune_customers",
    "prune_devices",
    "prune_districts",
    "prune_lines",
    "upsert_customers",
    "upsert_devices",
    "upsert_districts",
    "upsert_lines",
]

DEFAULT_PAGE_SIZE = 100
_CHUNK = 500  # keys per IN (...) list; SQLite caps bound parameters per statement

T = TypeVar("T")
# A SELECT of any columns (SQLAlchemy 2.1 types rows as a variadic tuple).
_Select: TypeAlias = "Select[*tuple[Any, ...]]"


class SnmpVersion(StrEnum):
    """SNMP protocol version as operators write it."""

    V1 = "1"
    V2C = "2c"
    V3 = "3"


class AuthProtocol(StrEnum):
    """SNMPv3 USM authentication protocols (RFC 3414, RFC 7860)."""

    MD5 = "md5"
    SHA = "sha"
    SHA224 = "sha224"
    SHA256 = "sha256"
    SHA384 = "sha384"
    SHA512 = "sha512"


class PrivProtocol(StrEnum):
    """SNMPv3 USM privacy protocols; ``aes`` is AES-128 (RFC 3826)."""

    DES = "des"
    AES = "aes"
    AES128 = "aes128"
    AES192 = "aes192"
    AES256 = "aes256"


class UnknownReferenceError(LookupError):
    """Raised by an upsert when a record names a device or customer that does not exist."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SnmpParams:
    """How to talk SNMP to one device. Secrets are ``SecretStr``: a repr shows ``'**********'``.

    SnmpParams(version=SnmpVersion.V2C, community=SecretStr("public"))
    SnmpParams(version=SnmpVersion.V3, user="noc", auth_protocol=AuthProtocol.SHA,
               auth_key=SecretStr("..."), priv_protocol=PrivProtocol.AES, priv_key=SecretStr("..."))
    """

    version: SnmpVersion
    community: SecretStr | None = None
    user: str | None = None
    auth_protocol: AuthProtocol | None = None
    auth_key: SecretStr | None = None
    priv_protocol: PrivProtocol | None = None
    priv_key: SecretStr | None = None

    def to_json(self) -> dict[str, str]:
        """The stored form (secrets in clear: the database column is the one place they live)."""
        data: dict[str, str] = {"version": self.version.value}
        for name in ("community", "user", "auth_protocol", "auth_key", "priv_protocol", "priv_key"):
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                data[name] = value.get_secret_value()
            elif value is not None:
                data[name] = str(value)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SnmpParams:
        """Inverse of ``to_json``."""

        def secret(name: str) -> SecretStr | None:
            value = data.get(name)
            return SecretStr(str(value)) if value is not None else None

        auth = data.get("auth_protocol")
        priv = data.get("priv_protocol")
        return cls(
            version=SnmpVersion(str(data.get("version", "2c"))),
            community=secret("community"),
            user=data.get("user"),
            auth_protocol=AuthProtocol(auth) if auth else None,
            auth_key=secret("auth_key"),
            priv_protocol=PrivProtocol(priv) if priv else None,
            priv_key=secret("priv_key"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DistrictRecord:
    """A district: the unit of maintenance (and of a district nocd)."""

    id: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRecord:
    """A managed device, addressed by ``name``; ``district`` and ``parent`` are keys too.

    ``vendor``, ``model`` and ``sys_object_id`` are usually filled in by discovery.
    ``id`` is set on records read from the database and ignored by upserts.
    """

    name: str
    district: str
    kind: DeviceKind
    address: str
    port: int = 161
    snmp: SnmpParams
    parent: str | None = None
    vendor: str | None = None
    model: str | None = None
    sys_object_id: str | None = None
    id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerRecord:
    """A customer and the SLA class they bought."""

    id: str
    name: str
    sla_class: SlaClass = SlaClass.RESIDENTIAL
    contact: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LineRecord:
    """A DSL line: port ``ifindex`` of ``device``, sold to ``customer`` at plan rates (kbit/s)."""

    device: str
    ifindex: int
    customer: str | None
    plan_down_kbps: int | None
    plan_up_kbps: int | None
    id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing: ``items`` at ``offset``, and ``total`` matching rows in all."""

    items: tuple[T, ...]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UpsertCounts:
    """What an upsert did, per record."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class InventorySnapshot:
    """The whole inventory, each section sorted by key (what ``export`` writes)."""

    districts: tuple[DistrictRecord, ...]
    devices: tuple[DeviceRecord, ...]
    customers: tuple[CustomerRecord, ...]
    lines: tuple[LineRecord, ...]


# --- reading -------------------------------------------------------------------------------


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_page(limit: int, offset: int) -> None:
    if limit < 0:
        raise ValueError("limit must be >= 0")
    if offset < 0:
        raise ValueError("offset must be >= 0")


def _page(
    session: Session, stmt: _Select, order: Sequence[Any], limit: int, offset: int
) -> tuple[list[Any], int]:
    _check_page(limit, offset)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(session.execute(stmt.order_by(*order).limit(limit).offset(offset)))
    return rows, total


def _district(row: Any) -> DistrictRecord:
    return DistrictRecord(id=row.id, name=row.name)


def list_districts(
    session: Session, *, limit: int = DEFAULT_PAGE_SIZE, offset: int = 0
) -> Page[DistrictRecord]:
    """Districts ordered by id."""
    stmt = select(District.id, District.name)
    rows, total = _page(session, stmt, [District.id], limit, offset)
    return Page(tuple(_district(row) for row in rows), total, limit, offset)


def get_district(session: Session, district_id: str) -> DistrictRecord | None:
    """The district ``district_id``, or ``None``."""
    row = session.execute(
        select(District.id, District.name).where(District.id == district_id)
    ).one_or_none()
    return _district(row) if row is not None else None


_Parent = aliased(Device, name="parent")


def _device_select() -> _Select:
    return select(
        Device.id,
        Device.name,
        Device.district_id,
        Device.kind,
        Device.address,
        Device.port,
        Device.snmp,
        Device.vendor,
        Device.model,
        Device.sys_object_id,
        _Parent.name.label("parent_name"),
    ).outerjoin(_Parent, Device.parent_id == _Parent.id)


def _device(row: Any) -> DeviceRecord:
    return DeviceRecord(
        id=row.id,
        name=row.name,
        district=row.district_id,
        kind=DeviceKind(row.kind),
        address=row.address,
        port=row.port,
        snmp=SnmpParams.from_json(row.snmp or {}),
        parent=row.parent_name,
        vendor=row.vendor,
        model=row.model,
        sys_object_id=row.sys_object_id,
    )


def list_devices(
    session: Session,
    *,
    district: str | None = None,
    kind: DeviceKind | str | None = None,
    name_prefix: str | None = None,
    parent: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    offset: int = 0,
) -> Page[DeviceRecord]:
    """Devices ordered by name; every given filter must match (``name_prefix`` is literal)."""
    stmt = _device_select()
    if district is not None:
        stmt = stmt.where(Device.district_id == district)
    if kind is not None:
        stmt = stmt.where(Device.kind == str(kind))
    if name_prefix:
        stmt = stmt.where(Device.name.startswith(name_prefix, autoescape=True))
    if parent is not None:
        stmt = stmt.where(_Parent.name == parent)
    rows, total = _page(session, stmt, [Device.name], limit, offset)
    return Page(tuple(_device(row) for row in rows), total, limit, offset)


def get_device(session: Session, name: str) -> DeviceRecord | None:
    """The device called ``name``, or ``None``."""
    row = session.execute(_device_select().where(Device.name == name)).one_or_none()
    return _device(row) if row is not None else None


def _customer(row: Any) -> CustomerRecord:
    return CustomerRecord(
        id=row.id, name=row.name, sla_class=SlaClass(row.sla_class), contact=row.contact
    )


def _customer_select() -> _Select:
    return select(Customer.id, Customer.name, Customer.sla_class, Customer.contact)


def list_customers(
    session: Session,
    *,
    sla_class: SlaClass | str | None = None,
    name_prefix: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    offset: int = 0,
) -> Page[CustomerRecord]:
    """Customers ordered by id; ``name_prefix`` matches the customer's name literally."""
    stmt = _customer_select()
    if sla_class is not None:
        stmt = stmt.where(Customer.sla_class == str(sla_class))
    if name_prefix:
        stmt = stmt.where(Customer.name.startswith(name_prefix, autoescape=True))
    rows, total = _page(session, stmt, [Customer.id], limit, offset)
    return Page(tuple(_customer(row) for row in rows), total, limit, offset)


def get_customer(session: Session, customer_id: str) -> CustomerRecord | None:
    """The customer ``customer_id``, or ``None``."""
    row = session.execute(_customer_select().where(Customer.id == customer_id)).one_or_none()
    return _customer(row) if row is not None else None


def _line_select() -> _Select:
    return select(
        Line.id,
        Device.name.label("device_name"),
        Line.ifindex,
        Line.customer_id,
        Line.plan_down_kbps,
        Line.plan_up_kbps,
    ).join(Device, Line.device_id == Device.id)


def _line(row: Any) -> LineRecord:
    return LineRecord(
        id=row.id,
        device=row.device_name,
        ifindex=row.ifindex,
        customer=row.customer_id,
        plan_down_kbps=row.plan_down_kbps,
        plan_up_kbps=row.plan_up_kbps,
    )


def list_lines(
    session: Session,
    *,
    device: str | None = None,
    customer: str | None = None,
    district: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    offset: int = 0,
) -> Page[LineRecord]:
    """Lines ordered by device name and ifIndex; every given filter must match."""
    stmt = _line_select()
    if device is not None:
        stmt = stmt.where(Device.name == device)
    if customer is not None:
        stmt = stmt.where(Line.customer_id == customer)
    if district is not None:
        stmt = stmt.where(Device.district_id == district)
    rows, total = _page(session, stmt, [Device.name, Line.ifindex], limit, offset)
    return Page(tuple(_line(row) for row in rows), total, limit, offset)


def get_line(session: Session, device: str, ifindex: int) -> LineRecord | None:
    """The line on ``device`` port ``ifindex``, or ``None``."""
    row = session.execute(
        _line_select().where(Device.name == device, Line.ifindex == ifindex)
    ).one_or_none()
    return _line(row) if row is not None else None


def export_all(session: Session) -> InventorySnapshot:
    """Every district, device, customer and line, each sorted by key."""
    return InventorySnapshot(
        districts=tuple(
            _district(row)
            for row in session.execute(select(District.id, District.name).order_by(District.id))
        ),
        devices=tuple(
            _device(row) for row in session.execute(_device_select().order_by(Device.name))
        ),
        customers=tuple(
            _customer(row) for row in session.execute(_customer_select().order_by(Customer.id))
        ),
        lines=tuple(
            _line(row)
            for row in session.execute(_line_select().order_by(Device.name, Line.ifindex))
        ),
    )


# --- key sets and usage, for validating an import against what is stored ------------------


def devices_by_name(session: Session, names: Collection[str]) -> dict[str, DeviceRecord]:
    """The stored devices among ``names``, by name."""
    found: dict[str, DeviceRecord] = {}
    for chunk in _chunks(sorted(names)):
        stmt = _device_select().where(Device.name.in_(chunk))
        found.update({row.name: _device(row) for row in session.execute(stmt)})
    return found


def customers_by_id(session: Session, ids: Collection[str]) -> dict[str, CustomerRecord]:
    """The stored customers among ``ids``, by id."""
    found: dict[str, CustomerRecord] = {}
    for chunk in _chunks(sorted(ids)):
        stmt = _customer_select().where(Customer.id.in_(chunk))
        found.update({row.id: _customer(row) for row in session.execute(stmt)})
    return found


def district_ids(session: Session) -> set[str]:
    """Every district id."""
    return set(session.scalars(select(District.id)))


def customer_ids(session: Session) -> set[str]:
    """Every customer id."""
    return set(session.scalars(select(Customer.id)))


def device_parents(session: Session) -> dict[str, str | None]:
    """Every device name mapped to its parent's name (``None`` for a root)."""
    stmt = select(Device.name, _Parent.name).outerjoin(_Parent, Device.parent_id == _Parent.id)
    return {name: parent for name, parent in session.execute(stmt)}


def devices_by_district(session: Session, districts: Collection[str]) -> dict[str, list[str]]:
    """For each of ``districts`` that has devices, their names (sorted)."""
    found: dict[str, list[str]] = defaultdict(list)
    for chunk in _chunks(sorted(districts)):
        stmt = (
            select(Device.district_id, Device.name)
            .where(Device.district_id.in_(chunk))
            .order_by(Device.name)
        )
        for district, name in session.execute(stmt):
            found[district].append(name)
    return dict(found)


def lines_by_device(session: Session, devices: Collection[str]) -> dict[str, int]:
    """For each of ``devices`` that has lines, how many."""
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(devices)):
        stmt = (
            select(Device.name, func.count(Line.id))
            .join(Line, Line.device_id == Device.id)
            .where(Device.name.in_(chunk))
            .group_by(Device.name)
        )
        found.update({name: count for name, count in session.execute(stmt)})
    return found


def lines_by_customer(session: Session, customers: Collection[str]) -> dict[str, int]:
    """For each of ``customers`` that has lines, how many."""
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(customers)):
        stmt = (
            select(Line.customer_id, func.count(Line.id))
            .where(Line.customer_id.in_(chunk))
            .group_by(Line.customer_id)
        )
        found.update({str(customer): count for customer, count in session.execute(stmt)})
    return found


def count_devices(session: Session) -> dict[str, dict[str, int]]:
    """district → kind → number of devices; districts without devices map to ``{}``."""
    counts: dict[str, dict[str, int]] = {district: {} for district in district_ids(session)}
    stmt = select(Device.district_id, Device.kind, func.count(Device.id)).group_by(
        Device.district_id, Device.kind
    )
    for district, kind, count in session.execute(stmt):
        counts.setdefault(district, {})[kind] = count
    return counts


# --- writing -------------------------------------------------------------------------------


def upsert_districts(session: Session, records: Iterable[DistrictRecord]) -> UpsertCounts:
    """Create or update districts by id."""
    records = list(records)
    existing: dict[str, DistrictRecord] = {}
    for chunk in _chunks([r.id for r in records]):
        stmt = select(District.id, District.name).where(District.id.in_(chunk))
        existing.update({row.id: _district(row) for row in session.execute(stmt)})
    new = [r for r in records if r.id not in existing]
    changed = [r for r in records if r.id in existing and existing[r.id] != r]
    if new:
        session.execute(insert(District), [{"id": r.id, "name": r.name} for r in new])
    if changed:
        session.execute(update(District), [{"id": r.id, "name": r.name} for r in changed])
    return UpsertCounts(
        created=len(new), updated=len(changed), unchanged=len(records) - len(new) - len(changed)
    )


def upsert_customers(session: Session, records: Iterable[CustomerRecord]) -> UpsertCounts:
    """Create or update customers by id."""
    records = list(records)
    existing = customers_by_id(session, {r.id for r in records})

    def values(r: CustomerRecord) -> dict[str, Any]:
        return {"id": r.id, "name": r.name, "sla_class": r.sla_class.value, "contact": r.contact}

    new = [r for r in records if r.id not in existing]
    changed = [r for r in records if r.id in existing and existing[r.id] != r]
    if new:
        session.execute(insert(Customer), [values(r) for r in new])
    if changed:
        session.execute(update(Customer), [values(r) for r in changed])
    return UpsertCounts(
        created=len(new), updated=len(changed), unchanged=len(records) - len(new) - len(changed)
    )


def _device_ids(session: Session, names: Collection[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in _chunks(sorted(names)):
        ids.update(
            {
                name: id_
                for name, id_ in session.execute(
                    select(Device.name, Device.id).where(Device.name.in_(chunk))
                )
            }
        )
    return ids


def upsert_devices(session: Session, records: Iterable[DeviceRecord]) -> UpsertCounts:
    """Create or update devices by name, parents included (within the batch or stored).

    Raises ``UnknownReferenceError`` when a parent is neither in ``records`` nor stored; an
    unknown district fails on the foreign key (``IntegrityError``).
    """
    records = [replace(r, id=None) for r in records]
    existing = devices_by_name(session, {r.name for r in records})

    def values(r: DeviceRecord) -> dict[str, Any]:
        return {
            "name": r.name,
            "district_id": r.district,
            "kind": r.kind.value,
            "address": r.address,
            "port": r.port,
            "snmp": r.snmp.to_json(),
            "vendor": r.vendor,
            "model": r.model,
            "sys_object_id": r.sys_object_id,
        }

    new = [r for r in records if r.name not in existing]
    changed = [r for r in records if r.name in existing and existing[r.name] != r]
    # Two passes: rows first, then parent links, so a parent may come later in the batch.
    if new:
        session.execute(insert(Device), [values(r) | {"parent_id": None} for r in new])
    ids = _device_ids(
        session,
        {r.name for r in [*new, *changed]}
        | {r.parent for r in [*new, *changed] if r.parent is not None},
    )
    if changed:
        session.execute(update(Device), [values(r) | {"id": ids[r.name]} for r in changed])
    links = []
    for r in [*new, *changed]:
        if r.parent is not None and r.parent not in ids:
            raise UnknownReferenceError(f"device {r.name!r}: parent {r.parent!r} does not exist")
        links.append({"id": ids[r.name], "parent_id": ids[r.parent] if r.parent else None})
    if links:
        session.execute(update(Device), links)
    return UpsertCounts(
        created=len(new), updated=len(changed), unchanged=len(records) - len(new) - len(changed)
    )


def upsert_lines(session: Session, records: Iterable[LineRecord]) -> UpsertCounts:
    """Create or update lines by (device, ifindex).

    Raises ``UnknownReferenceError`` for an unknown device; an unknown customer fails on the
    foreign key (``IntegrityError``).
    """
    records = [replace(r, id=None) for r in records]
    device_ids = _device_ids(session, {r.device for r in records})
    missing = sorted({r.device for r in records} - device_ids.keys())
    if missing:
        raise UnknownReferenceError(f"lines name unknown devices: {', '.join(missing[:10])}")
    existing: dict[tuple[str, int], LineRecord] = {}
    for chunk in _chunks(sorted(device_ids)):
        for row in session.execute(_line_select().where(Device.name.in_(chunk))):
            line = _line(row)
            existing[(line.device, line.ifindex)] = line

    def values(r: LineRecord) -> dict[str, Any]:
        return {
            "device_id": device_ids[r.device],
            "ifindex": r.ifindex,
            "customer_id": r.customer,
            "plan_down_kbps": r.plan_down_kbps,
            "plan_up_kbps": r.plan_up_kbps,
        }

    new = [r for r in records if (r.device, r.ifindex) not in existing]
    changed = [
        r for r in records if (old := existing.get((r.device, r.ifindex))) is not None and old != r
    ]
    if new:
        session.execute(insert(Line), [values(r) for r in new])
    if changed:
        session.execute(
            update(Line),
            [values(r) | {"id": existing[(r.device, r.ifindex)].id} for r in changed],
        )
    return UpsertCounts(
        created=len(new), updated=len(changed), unchanged=len(records) - len(new) - len(changed)
    )


def _delete_ids(session: Session, model: Any, ids: Sequence[Any]) -> int:
    for chunk in _chunks(ids):
        session.execute(delete(model).where(model.id.in_(chunk)))
    return len(ids)


def prune_districts(session: Session, keep: Collection[str]) -> int:
    """Delete every district not in ``keep``; returns how many. Devices must be gone first."""
    doomed = sorted(set(session.scalars(select(District.id))) - set(keep))
    return _delete_ids(session, District, doomed)


def prune_customers(session: Session, keep: Collection[str]) -> int:
    """Delete every customer not in ``keep``; their lines keep existing without a customer."""
    doomed = sorted(set(session.scalars(select(Customer.id))) - set(keep))
    return _delete_ids(session, Customer, doomed)


def prune_devices(session: Session, keep: Collection[str]) -> int:
    """Delete every device not in ``keep``; their ports and lines go with them."""
    keep = set(keep)
    doomed = sorted(
        id_ for name, id_ in session.execute(select(Device.name, Device.id)) if name not in keep
    )
    return _delete_ids(session, Device, doomed)


def prune_lines(session: Session, keep: Collection[tuple[str, int]]) -> int:
    """Delete every line whose (device, ifindex) is not in ``keep``."""
    keep = set(keep)
    stmt = select(Line.id, Device.name, Line.ifindex).join(Device, Line.device_id == Device.id)
    doomed = sorted(
        id_ for id_, device, ifindex in session.execute(stmt) if (device, ifindex) not in keep
    )
    return _delete_ids(session, Line, doomed)


def delete_district(session: Session, district_id: str) -> bool:
    """Delete one district; ``False`` if there is none. Its devices must be gone first."""
    ids = list(session.scalars(select(District.id).where(District.id == district_id)))
    return _delete_ids(session, District, ids) > 0


def delete_device(session: Session, name: str) -> bool:
    """Delete one device (its ports and lines go with it, children lose their parent)."""
    ids = list(session.scalars(select(Device.id).where(Device.name == name)))
    return _delete_ids(session, Device, ids) > 0


def delete_customer(session: Session, customer_id: str) -> bool:
    """Delete one customer; their lines stay, without a customer."""
    ids = list(session.scalars(select(Customer.id).where(Customer.id == customer_id)))
    return _delete_ids(session, Customer, ids) > 0


def delete_line(session: Session, device: str, ifindex: int) -> bool:
    """Delete the line on ``device`` port ``ifindex``; ``False`` if there is none."""
    stmt = select(Line.id).join(Device, Line.device_id == Device.id)
    ids = list(session.scalars(stmt.where(Device.name == device, Line.ifindex == ifindex)))
    return _delete_ids(session, Line, ids) > 0
