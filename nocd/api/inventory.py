"""``/api/v1`` inventory: districts, devices, customers, lines; bulk import and export.

Reads need a token of any role, writes a token with role ``operator``. Single-record
writes go through the same validation as a file import, so the API cannot store what
``nocd inventory import`` would refuse.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import replace
from enum import StrEnum
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import SecretStr, ValidationError
from sqlalchemy.orm import Session

from nocd import inventory as inv
from nocd.api.deps import Offset, ReadAccess, SessionDep, WriteAccess
from nocd.api.schemas import (
    REDACTED,
    CustomerIn,
    CustomerOut,
    DeviceIn,
    DeviceOut,
    DistrictIn,
    DistrictOut,
    ImportRequest,
    ImportResult,
    LineIn,
    LineOut,
    PageOut,
    SectionCounts,
)
from nocd.errors import ConfigError
from nocd.inventory import InventoryDocument
from nocd.storage import inventory_repo as repo
from nocd.storage.inventory_repo import DeviceKind, SlaClass

__all__ = ["MAX_PAGE_SIZE", "router"]

MAX_PAGE_SIZE = 1000

router = APIRouter(prefix="/api/v1", tags=["inventory"])
# IF-MIB InterfaceIndex: 1..2^31-1 (a bigger number overflowed the database driver: 500)
IfIndex = Annotated[int, Path(ge=1, le=2**31 - 1, description="ifIndex")]

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="items per page")]


def _not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")


# --- districts -----------------------------------------------------------------------------


@router.get("/districts", summary="List districts")
def list_districts(
    session: SessionDep,
    _token: ReadAccess,
    limit: Limit = repo.DEFAULT_PAGE_SIZE,
    offset: Offset = 0,
) -> PageOut[DistrictOut]:
    """Districts ordered by id."""
    page = repo.list_districts(session, limit=limit, offset=offset)
    return PageOut(
        items=[DistrictOut.of(r) for r in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
    )


@router.get("/districts/{district_id}", summary="Get one district")
def get_district(session: SessionDep, _token: ReadAccess, district_id: str) -> DistrictOut:
    """The district, or 404."""
    record = repo.get_district(session, district_id)
    if record is None:
        raise _not_found(f"district {district_id!r}")
    return DistrictOut.of(record)


# --- devices -------------------------------------------------------------------------------


@router.get("/devices", summary="List devices")
def list_devices(
    session: SessionDep,
    _token: ReadAccess,
    district: str | None = None,
    kind: DeviceKind | None = None,
    name_prefix: Annotated[str | None, Query(description="literal prefix of the name")] = None,
    parent: Annotated[str | None, Query(description="name of the parent device")] = None,
    limit: Limit = repo.DEFAULT_PAGE_SIZE,
    offset: Offset = 0,
) -> PageOut[DeviceOut]:
    """Devices ordered by name; every given filter must match. SNMP secrets are redacted."""
    page = repo.list_devices(
        session,
        district=district,
        kind=kind,
        name_prefix=name_prefix,
        parent=parent,
        limit=limit,
        offset=offset,
    )
    return PageOut(
        items=[DeviceOut.of(r) for r in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
    )


@router.get("/devices/{name}", summary="Get one device")
def get_device(session: SessionDep, _token: ReadAccess, name: str) -> DeviceOut:
    """The device, or 404. SNMP secrets are redacted."""
    record = repo.get_device(session, name)
    if record is None:
        raise _not_found(f"device {name!r}")
    return DeviceOut.of(record)


# --- customers -----------------------------------------------------------------------------


@router.get("/customers", summary="List customers")
def list_customers(
    session: SessionDep,
    _token: ReadAccess,
    sla_class: SlaClass | None = None,
    name_prefix: Annotated[str | None, Query(description="literal prefix of the name")] = None,
    limit: Limit = repo.DEFAULT_PAGE_SIZE,
    offset: Offset = 0,
) -> PageOut[CustomerOut]:
    """Customers ordered by id; every given filter must match."""
    page = repo.list_customers(
        session, sla_class=sla_class, name_prefix=name_prefix, limit=limit, offset=offset
    )
    return PageOut(
        items=[CustomerOut.of(r) for r in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
    )


@router.get("/customers/{customer_id}", summary="Get one customer")
def get_customer(session: SessionDep, _token: ReadAccess, customer_id: str) -> CustomerOut:
    """The customer, or 404."""
    record = repo.get_customer(session, customer_id)
    if record is None:
        raise _not_found(f"customer {customer_id!r}")
    return CustomerOut.of(record)


# --- lines ---------------------------------------------------------------------------------


@router.get("/lines", summary="List lines")
def list_lines(
    session: SessionDep,
    _token: ReadAccess,
    device: str | None = None,
    customer: str | None = None,
    district: str | None = None,
    limit: Limit = repo.DEFAULT_PAGE_SIZE,
    offset: Offset = 0,
) -> PageOut[LineOut]:
    """Lines ordered by device name and ifIndex; every given filter must match."""
    page = repo.list_lines(
        session, device=device, customer=customer, district=district, limit=limit, offset=offset
    )
    return PageOut(
        items=[LineOut.of(r) for r in page.items],
        total=page.total,
        limit=limit,
        offset=offset,
    )


@router.get("/lines/{device}/{ifindex}", summary="Get one line")
def get_line(session: SessionDep, _token: ReadAccess, device: str, ifindex: IfIndex) -> LineOut:
    """The line on port ``ifindex`` of ``device``, or 404."""
    record = repo.get_line(session, device, ifindex)
    if record is None:
        raise _not_found(f"line {device}/{ifindex}")
    return LineOut.of(record)


# --- writes: every one goes through nocd.inventory's validation ------------------------------

_SECRET_FIELDS = ("community", "auth_key", "priv_key")


def _fill_redacted(session: Session, doc: InventoryDocument) -> InventoryDocument:
    """Replace ``"***"`` secrets (what GET and export return) with the stored ones.

    So a client may GET a device, change its address and PUT it back, or re-import an API
    export, without ever holding the community. A ``"***"`` with nothing stored behind it
    is a problem at that row, never a literal community.
    """
    rows = doc.devices or ()
    marked = [row for row in rows if _redacted_fields(row.item.snmp)]
    if not marked:
        return doc
    stored = repo.devices_by_name(session, {row.item.name for row in marked})
    problems = list(doc.problems)
    new_rows = []
    for row in rows:
        fields = _redacted_fields(row.item.snmp)
        if not fields:
            new_rows.append(row)
            continue
        old_snmp: inv.SnmpIn = row.item.snmp
        old = stored.get(row.item.name)
        updates: dict[str, SecretStr] = {}
        unresolved: set[str] = set()
        for name in fields:
            kept = getattr(old.snmp, name) if old is not None else None
            if kept is None:
                unresolved.add(name)
                problems.append(
                    row.where.problem(
                        f"snmp.{name}", f"{REDACTED!r} keeps the stored secret, but none is stored"
                    )
                )
                updates[name] = SecretStr("")
            else:
                updates[name] = kept
        new_snmp = old_snmp.model_copy(update=updates)
        # The parser judged the placeholder (e.g. "too short for a USM key"); judge the
        # real secret instead.
        for stale in (row.where.problem(f"snmp.{f}", m) for f, m in old_snmp.problems()):
            if stale in problems:
                problems.remove(stale)
        problems.extend(
            row.where.problem(f"snmp.{f}", m)
            for f, m in new_snmp.problems()
            if f not in unresolved  # already reported, more precisely
        )
        new_rows.append(inv.Row(row.item.model_copy(update={"snmp": new_snmp}), row.where))
    return replace(doc, devices=tuple(new_rows), problems=tuple(problems))


def _redacted_fields(snmp: inv.SnmpIn) -> list[str]:
    return [
        name
        for name in _SECRET_FIELDS
        if (value := getattr(snmp, name)) is not None and value.get_secret_value() == REDACTED
    ]


def _import(session: Session, doc: InventoryDocument, *, prune: bool = False) -> inv.ImportResult:
    """Validate and write ``doc`` in the request's transaction; ConfigError → 422."""
    result = inv.import_documents(session, [_fill_redacted(session, doc)], prune=prune)
    session.commit()
    return result


def _import_one(session: Session, section: str, data: dict[str, object]) -> None:
    """Import one record; problems name the body field (``address``, not ``devices[0].address``)."""
    doc = inv.parse_payload({section: [data]}, source="request")
    try:
        _import(session, doc)
    except ConfigError as exc:
        prefix = f"{section}[0]."
        raise ConfigError(
            [replace(p, field=p.field.removeprefix(prefix)) for p in exc.problems]
        ) from exc


def _conflict(what: str) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, f"{what} already exists; PUT replaces it")


def _path_mismatch(field: str, body: object, path: object) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        f"{field} in the body ({body!r}) differs from the path ({path!r})",
    )


@router.post("/districts", status_code=status.HTTP_201_CREATED, summary="Create a district")
def create_district(session: SessionDep, _token: WriteAccess, body: DistrictIn) -> DistrictOut:
    """Create; 409 when the id exists."""
    if body.id is None:
        raise _path_mismatch("id", None, "(required on POST)")
    if repo.get_district(session, body.id) is not None:
        raise _conflict(f"district {body.id!r}")
    _import_one(session, "districts", body.model_dump(exclude_unset=True))
    return get_district(session, _token, body.id)


@router.put("/districts/{district_id}", summary="Create or replace a district")
def put_district(
    session: SessionDep, _token: WriteAccess, district_id: str, body: DistrictIn
) -> DistrictOut:
    """Create or replace the district ``district_id``."""
    if body.id is not None and body.id != district_id:
        raise _path_mismatch("id", body.id, district_id)
    _import_one(session, "districts", body.model_dump(exclude_unset=True) | {"id": district_id})
    return get_district(session, _token, district_id)


@router.delete(
    "/districts/{district_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a district",
)
def delete_district(session: SessionDep, _token: WriteAccess, district_id: str) -> None:
    """Delete; 404 when unknown, 409 while devices are still in it."""
    if repo.get_district(session, district_id) is None:
        raise _not_found(f"district {district_id!r}")
    devices = repo.devices_by_district(session, {district_id}).get(district_id, [])
    if devices:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"district {district_id!r} still has {len(devices)} device(s); delete them first",
        )
    repo.delete_district(session, district_id)
    session.commit()


@router.post("/devices", status_code=status.HTTP_201_CREATED, summary="Create a device")
def create_device(session: SessionDep, _token: WriteAccess, body: DeviceIn) -> DeviceOut:
    """Create; 409 when the name exists. Secrets are write-only."""
    if body.name is None:
        raise _path_mismatch("name", None, "(required on POST)")
    if repo.get_device(session, body.name) is not None:
        raise _conflict(f"device {body.name!r}")
    _import_one(session, "devices", body.model_dump(exclude_unset=True))
    return get_device(session, _token, body.name)


@router.put("/devices/{name}", summary="Create or replace a device")
def put_device(session: SessionDep, _token: WriteAccess, name: str, body: DeviceIn) -> DeviceOut:
    """Create or replace; a secret sent as ``"***"`` keeps the stored one."""
    if body.name is not None and body.name != name:
        raise _path_mismatch("name", body.name, name)
    _import_one(session, "devices", body.model_dump(exclude_unset=True) | {"name": name})
    return get_device(session, _token, name)


@router.delete("/devices/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a device")
def delete_device(session: SessionDep, _token: WriteAccess, name: str) -> None:
    """Delete; 404 when unknown, 409 while it has lines or child devices."""
    if repo.get_device(session, name) is None:
        raise _not_found(f"device {name!r}")
    lines = repo.lines_by_device(session, {name}).get(name, 0)
    children = repo.list_devices(session, parent=name, limit=1).total
    if lines or children:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"device {name!r} still has {lines} line(s) and {children} child device(s)",
        )
    repo.delete_device(session, name)
    session.commit()


@router.post("/customers", status_code=status.HTTP_201_CREATED, summary="Create a customer")
def create_customer(session: SessionDep, _token: WriteAccess, body: CustomerIn) -> CustomerOut:
    """Create; 409 when the id exists."""
    if body.id is None:
        raise _path_mismatch("id", None, "(required on POST)")
    if repo.get_customer(session, body.id) is not None:
        raise _conflict(f"customer {body.id!r}")
    _import_one(session, "customers", body.model_dump(exclude_unset=True))
    return get_customer(session, _token, body.id)


@router.put("/customers/{customer_id}", summary="Create or replace a customer")
def put_customer(
    session: SessionDep, _token: WriteAccess, customer_id: str, body: CustomerIn
) -> CustomerOut:
    """Create or replace the customer ``customer_id``."""
    if body.id is not None and body.id != customer_id:
        raise _path_mismatch("id", body.id, customer_id)
    _import_one(session, "customers", body.model_dump(exclude_unset=True) | {"id": customer_id})
    return get_customer(session, _token, customer_id)


@router.delete(
    "/customers/{customer_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a customer",
)
def delete_customer(session: SessionDep, _token: WriteAccess, customer_id: str) -> None:
    """Delete; 404 when unknown, 409 while lines still name the customer."""
    if repo.get_customer(session, customer_id) is None:
        raise _not_found(f"customer {customer_id!r}")
    lines = repo.lines_by_customer(session, {customer_id}).get(customer_id, 0)
    if lines:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"customer {customer_id!r} still has {lines} line(s)"
        )
    repo.delete_customer(session, customer_id)
    session.commit()


@router.post("/lines", status_code=status.HTTP_201_CREATED, summary="Create a line")
def create_line(session: SessionDep, _token: WriteAccess, body: LineIn) -> LineOut:
    """Create; 409 when the device already has a line at that ifIndex."""
    if body.device is None or body.ifindex is None:
        raise _path_mismatch("device/ifindex", None, "(required on POST)")
    if repo.get_line(session, body.device, body.ifindex) is not None:
        raise _conflict(f"line {body.device}/{body.ifindex}")
    _import_one(session, "lines", body.model_dump(exclude_unset=True))
    return get_line(session, _token, body.device, body.ifindex)


@router.put("/lines/{device}/{ifindex}", summary="Create or replace a line")
def put_line(
    session: SessionDep, _token: WriteAccess, device: str, ifindex: IfIndex, body: LineIn
) -> LineOut:
    """Create or replace the line on port ``ifindex`` of ``device``."""
    if body.device is not None and body.device != device:
        raise _path_mismatch("device", body.device, device)
    if body.ifindex is not None and body.ifindex != ifindex:
        raise _path_mismatch("ifindex", body.ifindex, ifindex)
    data = body.model_dump(exclude_unset=True) | {"device": device, "ifindex": ifindex}
    _import_one(session, "lines", data)
    return get_line(session, _token, device, ifindex)


@router.delete(
    "/lines/{device}/{ifindex}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a line",
)
def delete_line(session: SessionDep, _token: WriteAccess, device: str, ifindex: IfIndex) -> None:
    """Delete; 404 when unknown."""
    if not repo.delete_line(session, device, ifindex):
        raise _not_found(f"line {device}/{ifindex}")
    session.commit()


# --- bulk import and export ------------------------------------------------------------------

_TEXT_TYPES = {
    "application/yaml": inv.InventoryFormat.YAML,
    "application/x-yaml": inv.InventoryFormat.YAML,
    "text/yaml": inv.InventoryFormat.YAML,
    "text/x-yaml": inv.InventoryFormat.YAML,
    "text/csv": inv.InventoryFormat.CSV,
}
_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ImportRequest"}},
            "application/yaml": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/inventory/import",
    summary="Import an inventory (YAML, CSV or JSON); all or nothing",
    openapi_extra=_IMPORT_BODY,
    responses={
        422: {"description": "problems, each FILE:LINE: field: message; nothing was written"}
    },
)
async def import_inventory(
    request: Request,
    session: SessionDep,
    _token: WriteAccess,
    prune: Annotated[
        bool, Query(description="with a YAML/CSV body: delete what it no longer lists")
    ] = False,
    filename: Annotated[
        str | None, Query(max_length=200, description="with a YAML/CSV body: name in problems")
    ] = None,
) -> ImportResult:
    """Validate the whole inventory, then upsert it (and prune with ``prune``).

    JSON bodies follow ``ImportRequest``; a YAML or CSV file may be sent as is, with its
    ``Content-Type``. Any problem → 422 listing all of them, and the database is unchanged.
    """
    raw = await request.body()
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in _TEXT_TYPES:
        text = _decode(raw)
        source = filename or ("inventory.csv" if media == "text/csv" else "inventory.yaml")
        doc = inv.parse_inventory(text, source, _TEXT_TYPES[media])
    elif media in ("application/json", ""):
        payload = _import_request(raw)
        prune = payload.prune
        doc = _document_of(payload)
    else:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"send application/json, application/yaml or text/csv, not {media}",
        )
    result = await run_in_threadpool(_import, session, doc, prune=prune)
    return ImportResult(
        changed=result.changed,
        counts={name: SectionCounts(**counts) for name, counts in result.as_dict().items()},
    )


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RequestValidationError(
            [{"type": "unicode_decode", "loc": ("body",), "msg": f"not UTF-8: {exc.reason}"}]
        ) from exc


def _import_request(raw: bytes) -> ImportRequest:
    """Parse the JSON body the way FastAPI would, with FastAPI's 422 shape on errors."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ]
        ) from exc
    try:
        return ImportRequest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from exc


def _document_of(payload: ImportRequest) -> InventoryDocument:
    source = payload.filename or "request"
    if payload.inventory is not None:
        if payload.content is not None:
            raise _one_of_content()
        return inv.parse_payload(payload.inventory, source=source)
    if payload.content is None:
        raise _one_of_content()
    return inv.parse_inventory(payload.content, source, payload.format)


def _one_of_content() -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": ("body",),
                "msg": "give exactly one of `content` (YAML/CSV text) and `inventory` (JSON)",
            }
        ]
    )


class ExportFormat(StrEnum):
    """What ``/inventory/export`` writes."""

    YAML = "yaml"
    CSV = "csv"


class Section(StrEnum):
    """One inventory section (a CSV file)."""

    DISTRICTS = "districts"
    DEVICES = "devices"
    CUSTOMERS = "customers"
    LINES = "lines"


@router.get(
    "/inventory/export",
    summary="Export the inventory (SNMP secrets redacted)",
    response_class=Response,
    responses={
        200: {
            "content": {"application/yaml": {}, "text/csv": {}, "application/zip": {}},
            "description": "YAML; one CSV with `section`; a zip of all CSV files without",
        }
    },
)
def export_inventory(
    session: SessionDep,
    _token: ReadAccess,
    format: ExportFormat = ExportFormat.YAML,
    section: Annotated[Section | None, Query(description="with format=csv: one file")] = None,
) -> Response:
    """The whole inventory, re-importable through ``/inventory/import``.

    Secrets come out as ``"***"``; importing ``"***"`` keeps the stored secret. The one
    export with secrets in clear is ``nocd inventory export`` on the host.
    """
    payload = _redact_payload(inv.export_payload(session))
    if format == ExportFormat.YAML:
        body = yaml.safe_dump(payload, sort_keys=False, allow_unicode=True)
        return Response(body, media_type="application/yaml")
    files = {name: _csv(name, rows) for name, rows in payload.items()}
    if section is not None:
        return Response(
            files[section.value],
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{section.value}.csv"'},
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(f"{name}.csv", text)
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="inventory-csv.zip"'},
    )


def _redact_payload(
    payload: dict[str, list[dict[str, Any]]],
) -> dict[str, list[dict[str, Any]]]:
    for device in payload.get("devices", []):
        snmp = device.get("snmp", {})
        for name in _SECRET_FIELDS:
            if snmp.get(name) is not None:
                snmp[name] = REDACTED
    return payload


_CSV_SNMP = (
    {"snmp_version": "version"}
    | {name: name for name in ("community", "user", "auth_protocol", "auth_key", "priv_protocol")}
    | {"priv_key": "priv_key"}
)


def _csv(section: str, rows: list[dict[str, Any]]) -> str:
    required, optional = inv.CSV_COLUMNS[section]
    header = [*required, *optional]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        cells = dict(row)
        if section == "devices":
            snmp = cells.pop("snmp", {})
            cells |= {column: snmp.get(key) for column, key in _CSV_SNMP.items()}
        writer.writerow(["" if cells.get(column) is None else cells[column] for column in header])
    return buffer.getvalue()
