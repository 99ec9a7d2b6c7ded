"""Request and response schemas of the inventory API (pydantic: the trust boundary).

SNMP secrets (community, USM keys) are write-only: responses carry ``"***"`` where a secret
is set and ``null`` where none is, so nothing secret ever leaves through the API.
"""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from nocd.storage.inventory_repo import (
    CustomerRecord,
    DeviceKind,
    DeviceRecord,
    DistrictRecord,
    LineRecord,
    SlaClass,
    SnmpParams,
    SnmpVersion,
)

__all__ = [
    "REDACTED",
    "CustomerIn",
    "CustomerOut",
    "DeviceIn",
    "DeviceOut",
    "DistrictIn",
    "DistrictOut",
    "ImportRequest",
    "ImportResult",
    "LineIn",
    "LineOut",
    "PageOut",
    "SectionCounts",
    "SnmpIn",
    "SnmpOut",
]

REDACTED = "***"  # stands for a secret that is set; also accepted on PUT as "keep it"

T = TypeVar("T")

# Request schemas check shapes and types only; values (addresses, references, parent
# cycles, SNMP combinations) are checked by ``nocd.inventory``, the same rules as a file.
Key = Annotated[str, Field(min_length=1, max_length=64)]
DeviceName = Annotated[str, Field(min_length=1, max_length=200)]
Secret = Annotated[str, Field(max_length=256)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageOut(BaseModel, Generic[T]):
    """One page of a listing and how many items match in all."""

    items: list[T]
    total: int = Field(description="items matching the filters, over all pages")
    limit: int
    offset: int


class DistrictOut(BaseModel):
    """A district."""

    id: str
    name: str

    @classmethod
    def of(cls, record: DistrictRecord) -> DistrictOut:
        return cls(id=record.id, name=record.name)


class DistrictIn(_In):
    """A district to create (POST) or replace (PUT, ``id`` from the path)."""

    id: Key | None = Field(default=None, description="required on POST; PUT takes it from the path")
    name: str = Field(max_length=200)


def _redact(secret: object) -> Literal["***"] | None:
    return "***" if secret is not None else None


class SnmpOut(BaseModel):
    """SNMP parameters with every secret replaced by ``"***"``."""

    version: SnmpVersion
    community: Literal["***"] | None = None
    user: str | None = None
    auth_protocol: str | None = None
    auth_key: Literal["***"] | None = None
    priv_protocol: str | None = None
    priv_key: Literal["***"] | None = None

    @classmethod
    def of(cls, snmp: SnmpParams) -> SnmpOut:
        return cls(
            version=snmp.version,
            community=_redact(snmp.community),
            user=snmp.user,
            auth_protocol=snmp.auth_protocol.value if snmp.auth_protocol else None,
            auth_key=_redact(snmp.auth_key),
            priv_protocol=snmp.priv_protocol.value if snmp.priv_protocol else None,
            priv_key=_redact(snmp.priv_key),
        )


class SnmpIn(_In):
    """SNMP parameters as written: v1/v2c need ``community``, v3 needs ``user`` (+ USM keys).

    On PUT, a secret that is omitted or sent as ``"***"`` keeps the stored value.
    """

    version: str = Field(default="2c", description="1, 2c or 3")
    community: Secret | None = None
    user: str | None = Field(default=None, max_length=64)
    auth_protocol: str | None = None
    auth_key: Secret | None = None
    priv_protocol: str | None = None
    priv_key: Secret | None = None


class DeviceOut(BaseModel):
    """A device; its SNMP secrets are redacted."""

    id: int | None
    name: str
    district: str
    kind: DeviceKind
    address: str
    port: int
    parent: str | None
    vendor: str | None
    model: str | None
    sys_object_id: str | None
    snmp: SnmpOut

    @classmethod
    def of(cls, record: DeviceRecord) -> DeviceOut:
        return cls(
            id=record.id,
            name=record.name,
            district=record.district,
            kind=record.kind,
            address=record.address,
            port=record.port,
            parent=record.parent,
            vendor=record.vendor,
            model=record.model,
            sys_object_id=record.sys_object_id,
            snmp=SnmpOut.of(record.snmp),
        )


class DeviceIn(_In):
    """A device to create (POST) or replace (PUT, ``name`` from the path)."""

    name: DeviceName | None = Field(default=None, description="required on POST")
    district: Key
    kind: str = Field(description="dslam, access_switch, aggregation or bras")
    address: str = Field(max_length=64, description="IPv4 or IPv6 address")
    port: int = 161
    snmp: SnmpIn
    parent: DeviceName | None = None
    vendor: str | None = Field(default=None, max_length=100)
    model: str | None = Field(default=None, max_length=100)


class CustomerOut(BaseModel):
    """A customer."""

    id: str
    name: str
    sla_class: SlaClass
    contact: str | None

    @classmethod
    def of(cls, record: CustomerRecord) -> CustomerOut:
        return cls(
            id=record.id, name=record.name, sla_class=record.sla_class, contact=record.contact
        )


class CustomerIn(_In):
    """A customer to create (POST) or replace (PUT, ``id`` from the path)."""

    id: Key | None = Field(default=None, description="required on POST")
    name: str = Field(max_length=200)
    sla_class: str = Field(default="residential", description="residential, business, enterprise")
    contact: str | None = Field(default=None, max_length=400)


class LineOut(BaseModel):
    """A DSL line: port ``ifindex`` of ``device``; plan rates in kbit/s."""

    id: int | None
    device: str
    ifindex: int
    customer: str | None
    plan_down_kbps: int | None
    plan_up_kbps: int | None

    @classmethod
    def of(cls, record: LineRecord) -> LineOut:
        return cls(
            id=record.id,
            device=record.device,
            ifindex=record.ifindex,
            customer=record.customer,
            plan_down_kbps=record.plan_down_kbps,
            plan_up_kbps=record.plan_up_kbps,
        )


class LineIn(_In):
    """A line to create (POST) or replace (PUT, ``device``/``ifindex`` from the path)."""

    device: DeviceName | None = Field(default=None, description="required on POST")
    ifindex: int | None = Field(default=None, description="required on POST")
    customer: Key
    plan_down_kbps: int = Field(description="plan rate downstream, kbit/s")
    plan_up_kbps: int = Field(description="plan rate upstream, kbit/s")


class ImportRequest(_In):
    """An inventory import as JSON: file text (YAML or CSV) or the parsed document itself.

    {"format": "yaml", "content": "districts: [...]", "prune": false}
    {"format": "csv", "content": "name,district,kind,...\\n...", "filename": "devices.csv"}
    {"inventory": {"districts": [...], "devices": [...]}, "prune": true}
    """

    format: Literal["yaml", "csv"] | None = Field(
        default=None, description="format of `content`; not used with `inventory`"
    )
    content: str | None = Field(default=None, description="the file text")
    filename: str | None = Field(
        default=None, max_length=200, description="named in problems (default: request)"
    )
    inventory: dict[str, list[dict[str, object]]] | None = Field(
        default=None, description="sections districts/devices/customers/lines as JSON"
    )
    prune: bool = Field(default=False, description="delete what the import no longer lists")


class SectionCounts(BaseModel):
    """What an import did to one section."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


class ImportResult(BaseModel):
    """Whether the import changed anything, and per-section counts of the sections it carried."""

    changed: bool
    counts: dict[str, SectionCounts]
