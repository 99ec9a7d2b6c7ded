"""Inventory files: parse and validate YAML/CSV/JSON payloads, import them, export them again.

    doc = parse_inventory(text, "xihu.yaml")         # or read_inventory(path), parse_payload(data)
    problems = validate([doc])                       # pure: FILE:LINE: field: problem, no database
    result = import_documents(session, [doc], prune=False)   # validates against the DB, then writes
    text = export_yaml(session); files = export_csv(session)  # export → import is a no-op

Every problem of every file is found before anything is written; ``import_documents`` raises
``ConfigError`` carrying them all. The caller owns the transaction (commit after import).
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    ValidationError,
)
from sqlalchemy.orm import Session

from nocd.errors import ConfigError, Problem
from nocd.storage import inventory_repo as repo
from nocd.storage.inventory_repo import (
    AuthProtocol,
    CustomerRecord,
    DeviceRecord,
    DistrictRecord,
    InventorySnapshot,
    LineRecord,
    PrivProtocol,
    SnmpParams,
    SnmpVersion,
)
from nocd.storage.models import DeviceKind, SlaClass

__all__ = [
    "CSV_COLUMNS",
    "SECTIONS",
    "CustomerIn",
    "DeviceIn",
    "DistrictIn",
    "EntityCounts",
    "ImportResult",
    "InventoryDocument",
    "InventoryFormat",
    "KnownInventory",
    "LineIn",
    "Row",
    "SnmpIn",
    "export_csv",
    "export_payload",
    "export_yaml",
    "import_documents",
    "import_payload",
    "import_text",
    "load_known",
    "parse_csv",
    "parse_inventory",
    "parse_payload",
    "parse_yaml",
    "read_inventory",
    "validate",
]

SECTIONS = ("districts", "devices", "customers", "lines")
MIN_USM_KEY_CHARS = 8  # RFC 3414 §11.2: shorter USM passphrases are rejected by agents
MAX_INT32 = 2**31 - 1  # ifIndex (InterfaceIndex) and plan rates fit a signed 32-bit column


class InventoryFormat(StrEnum):
    """The two file formats an operator writes (JSON files parse as YAML)."""

    YAML = "yaml"
    CSV = "csv"


# --- row models (the trust boundary) --------------------------------------------------------


def _text(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value

    return check


_SPACE = re.compile(r"\s")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def _token(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = _text(limit)(value)
        if _SPACE.search(value):
            raise ValueError(f"{value!r} must not contain spaces")
        return value

    return check


def _label(value: str) -> str:
    # District ids become Prometheus label values and URL path segments.
    value = _text(64)(value)
    if not _LABEL.fullmatch(value):
        raise ValueError(f"{value!r} may contain only letters, digits, '_', '.', '-'")
    return value


def _in_range(low: int, high: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return check


E = TypeVar("E", bound=StrEnum)


def _none_if_empty(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _one_of(enum: type[E], what: str, hint: str = "") -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, enum):
            return value
        text = str(value).strip().lower()
        try:
            return enum(text)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            raise ValueError(f"unknown {what} {value!r}: must be one of {allowed}{hint}") from None

    return check


def _optional(enum: type[E], what: str) -> Callable[[Any], Any]:
    check = _one_of(enum, what)
    return lambda value: None if _none_if_empty(value) is None else check(value)


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


_Label = Annotated[str, AfterValidator(_label)]
_Key = Annotated[str, AfterValidator(_token(64))]
_DeviceName = Annotated[str, AfterValidator(_token(200))]
_Name = Annotated[str, AfterValidator(_text(200))]
_Optional100 = Annotated[str | None, BeforeValidator(_none_if_empty)]
_Positive32 = Annotated[int, AfterValidator(_in_range(1, MAX_INT32))]


class _In(BaseModel):
    model_config = ConfigDict(
        extra="forbid", coerce_numbers_to_str=True, str_strip_whitespace=True, frozen=True
    )


class DistrictIn(_In):
    """A ``districts`` row."""

    id: _Label
    name: _Name


class SnmpIn(_In):
    """The ``snmp`` mapping of a device (CSV: ``snmp_version``, ``community``, v3 columns)."""

    version: Annotated[
        SnmpVersion, BeforeValidator(_one_of(SnmpVersion, "SNMP version", " (SNMPv2 is 2c)"))
    ]
    community: SecretStr | None = None
    user: Annotated[str | None, BeforeValidator(_none_if_empty)] = None
    auth_protocol: Annotated[
        AuthProtocol | None, BeforeValidator(_optional(AuthProtocol, "auth protocol"))
    ] = None
    auth_key: SecretStr | None = None
    priv_protocol: Annotated[
        PrivProtocol | None, BeforeValidator(_optional(PrivProtocol, "priv protocol"))
    ] = None
    priv_key: SecretStr | None = None

    def problems(self) -> list[tuple[str, str]]:
        """(field, message) for combinations that are wrong although each field is valid."""
        found: list[tuple[str, str]] = []
        secret = {
            "community": _secret(self.community),
            "auth_key": _secret(self.auth_key),
            "priv_key": _secret(self.priv_key),
        }
        if self.version != SnmpVersion.V3:
            if not secret["community"]:
                found.append(("community", f"required for SNMPv{self.version.value}"))
            for name in ("user", "auth_protocol", "auth_key", "priv_protocol", "priv_key"):
                if getattr(self, name) is not None and (name not in secret or secret[name]):
                    found.append((name, "only used with SNMP version 3"))
            return found
        if secret["community"]:
            found.append(("community", "not used with SNMPv3 (set user, auth_*, priv_*)"))
        if not self.user:
            found.append(("user", "required for SNMPv3"))
        for kind in ("auth", "priv"):
            protocol, key = getattr(self, f"{kind}_protocol"), secret[f"{kind}_key"]
            if protocol is not None and not key:
                found.append((f"{kind}_key", f"required when {kind}_protocol is set"))
            elif key and protocol is None:
                found.append((f"{kind}_protocol", f"required when {kind}_key is set"))
            elif key and len(key) < MIN_USM_KEY_CHARS:
                found.append((f"{kind}_key", f"must be at least {MIN_USM_KEY_CHARS} characters"))
        if self.priv_protocol is not None and self.auth_protocol is None:
            found.append(("priv_protocol", "privacy needs authentication: set auth_protocol"))
        return found

    def params(self) -> SnmpParams:
        """The stored form; empty secrets are dropped."""

        def keep(value: SecretStr | None) -> SecretStr | None:
            return value if _secret(value) else None

        return SnmpParams(
            version=self.version,
            community=keep(self.community),
            user=self.user,
            auth_protocol=self.auth_protocol,
            auth_key=keep(self.auth_key),
            priv_protocol=self.priv_protocol,
            priv_key=keep(self.priv_key),
        )


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


class DeviceIn(_In):
    """A ``devices`` row. ``vendor`` and ``model`` left out keep what discovery stored."""

    name: _DeviceName
    district: _Label
    kind: Annotated[DeviceKind, BeforeValidator(_one_of(DeviceKind, "kind"))]
    address: Annotated[str, AfterValidator(_ip_address)]
    port: Annotated[int, AfterValidator(_in_range(1, 65535))] = 161
    snmp: SnmpIn
    parent: Annotated[_DeviceName | None, BeforeValidator(_none_if_empty)] = None
    vendor: _Optional100 = None
    model: _Optional100 = None


class CustomerIn(_In):
    """A ``customers`` row. ``contact`` left out keeps the stored contact."""

    id: _Key
    name: _Name
    sla_class: Annotated[SlaClass, BeforeValidator(_one_of(SlaClass, "SLA class"))] = (
        SlaClass.RESIDENTIAL
    )
    contact: Annotated[str | None, BeforeValidator(_none_if_empty)] = None


class LineIn(_In):
    """A ``lines`` row: port ``ifindex`` of ``device`` sold to ``customer`` (rates in kbit/s)."""

    device: _DeviceName
    ifindex: _Positive32
    customer: _Key
    plan_down_kbps: _Positive32
    plan_up_kbps: _Positive32


_MODELS: dict[str, type[_In]] = {
    "districts": DistrictIn,
    "devices": DeviceIn,
    "customers": CustomerIn,
    "lines": LineIn,
}
_KEY_FIELD = {"districts": "id", "devices": "name", "customers": "id"}

# --- located rows and documents -----------------------------------------------------------

M = TypeVar("M", bound=_In)


@dataclass(frozen=True, slots=True)
class _Where:
    """Where a row came from, so any problem about it can say FILE:LINE: field."""

    file: str
    line: int | None
    field_lines: Mapping[str, int] = field(default_factory=dict)
    prefix: str = ""  # "devices[3]." for payload rows, which have no line
    names: Mapping[str, str] = field(default_factory=dict)  # field path → CSV column

    def problem(self, path: str, message: str) -> Problem:
        line = self.field_lines.get(path, self.field_lines.get(path.split(".")[0], self.line))
        return Problem(self.file, line, self.prefix + self.names.get(path, path), message)


@dataclass(frozen=True, slots=True)
class Row(Generic[M]):
    """A validated row and where it came from."""

    item: M
    where: _Where


@dataclass(frozen=True, slots=True, kw_only=True)
class InventoryDocument:
    """One parsed file or payload. A section is ``None`` when the source does not have it.

    ``problems`` holds what was wrong with single rows (those rows are left out); references
    between rows and to the database are checked by ``validate``.
    """

    source: str
    districts: tuple[Row[DistrictIn], ...] | None = None
    devices: tuple[Row[DeviceIn], ...] | None = None
    customers: tuple[Row[CustomerIn], ...] | None = None
    lines: tuple[Row[LineIn], ...] | None = None
    problems: tuple[Problem, ...] = ()
    # Keys of rows that failed validation, so references to them do not cascade into
    # a second, misleading "unknown device" problem.
    invalid_keys: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def sections(self) -> tuple[str, ...]:
        """The sections this document has, in import order."""
        return tuple(name for name in SECTIONS if getattr(self, name) is not None)


class _Builder:
    """Collects rows and problems for one document."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.rows: dict[str, list[Row[Any]]] = {}
        self.problems: list[Problem] = []
        self.invalid: dict[str, set[str]] = {}

    def section(self, name: str) -> None:
        self.rows.setdefault(name, [])

    def add(self, section: str, data: Any, where: _Where) -> None:
        self.section(section)
        if not isinstance(data, Mapping):
            self.problems.append(where.problem("(row)", "must be a mapping of field: value"))
            return
        try:
            item = _MODELS[section].model_validate(data)
        except ValidationError as exc:
            self.problems.extend(where.problem(path, msg) for path, msg in _messages(exc))
            key_field = _KEY_FIELD.get(section)
            if key_field and isinstance(data.get(key_field), str | int):
                self.invalid.setdefault(section, set()).add(str(data[key_field]).strip())
            return
        if isinstance(item, DeviceIn):
            snmp_problems = item.snmp.problems()
            # The row stays for reference checks; any problem stops the import anyway.
            self.problems.extend(where.problem(f"snmp.{f}", m) for f, m in snmp_problems)
        self.rows[section].append(Row(item, where))

    def document(self) -> InventoryDocument:
        sections = {name: tuple(rows) for name, rows in self.rows.items()}
        return InventoryDocument(
            source=self.source,
            problems=tuple(self.problems),
            invalid_keys={k: frozenset(v) for k, v in self.invalid.items()},
            **sections,
        )


def _messages(exc: ValidationError) -> list[tuple[str, str]]:
    found = []
    # include_input=False: a rejected value may be a community string or a USM key.
    for error in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in error["loc"]) or "(row)"
        kind = error["type"]
        if kind == "missing":
            message = "required"
        elif kind == "extra_forbidden":
            message = "unknown field"
        elif kind.startswith("int_"):
            message = "must be a whole number"
        elif kind == "value_error":
            message = str(error.get("ctx", {}).get("error", error["msg"]))
        elif kind in {"model_type", "model_attributes_type", "dict_type"}:
            message = "must be a mapping"
        elif kind == "string_type":
            message = "must be text"
        else:
            message = error["msg"]
        found.append((path, message))
    return found


# --- YAML -------------------------------------------------------------------------------------

_NULLS = {"", "~", "null", "Null", "NULL"}
# The base loader resolves no implicit tags (``_plain`` keeps scalars as text anyway), and
# libyaml's C composer is ~10x faster than the pure-Python one on 100k-row files; both keep
# the node marks this parser needs.
_Loader: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


_MAX_DEPTH = 32  # a row nests a few levels (devices[].snmp.version); aliases may loop


class _Unusable(ValueError):
    """Raised by ``_plain`` for YAML that has no plain value: loops, alias bombs, odd keys."""

    def __init__(self, node: yaml.Node, message: str) -> None:
        self.node = node
        super().__init__(message)


def _plain(node: yaml.Node, budget: list[int], depth: int = 0) -> Any:
    """Node → Python with every scalar kept as text (``00123`` stays a string, ``no`` is not
    ``False``); pydantic converts numbers where a field wants one.

    ``budget`` holds how many more nodes may be produced: without aliases a document has at
    most one node per character, so running out means aliases multiply it (a "billion
    laughs" file); an alias to an enclosing node is a loop and ends at ``_MAX_DEPTH``.
    """
    budget[0] -= 1
    if budget[0] < 0:
        raise _Unusable(node, "aliases expand to more nodes than the file has characters")
    if depth > _MAX_DEPTH:
        raise _Unusable(node, f"nested more than {_MAX_DEPTH} levels (or an alias loop)")
    if isinstance(node, yaml.ScalarNode):
        if node.style is None and node.value in _NULLS:
            return None
        return node.value
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, budget, depth + 1) for item in node.value]
    if isinstance(node, yaml.MappingNode):
        plain: dict[Any, Any] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise _Unusable(key, "a key must be plain text, not a list or mapping")
            plain[_plain(key, budget, depth + 1)] = _plain(value, budget, depth + 1)
        return plain
    raise TypeError(f"unexpected YAML node {node!r}")  # pragma: no cover


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _key_lines(node: yaml.MappingNode, prefix: str, into: dict[str, int]) -> list[tuple[str, int]]:
    """Record the line of every key (nested mappings as ``snmp.version``); return duplicates."""
    duplicates = []
    for key, value in node.value:
        path = prefix + str(key.value)
        if path in into:
            duplicates.append((path, _line(key)))
        into.setdefault(path, _line(key))
        if isinstance(value, yaml.MappingNode):
            duplicates.extend(_key_lines(value, path + ".", into))
    return duplicates


def parse_yaml(text: str, source: str) -> InventoryDocument:
    """Parse a YAML (or JSON) inventory; problems point at the line of the row or field."""
    builder = _Builder(source)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # libyaml marks the end of a truncated stream one line past the last one
        last = text.count("\n") + 1
        line = min(int(mark.line) + 1, last) if mark is not None else last
        builder.problems.append(Problem(source, line, "yaml", str(exc.problem or exc)))
        return builder.document()
    except yaml.YAMLError as exc:
        # ReaderError (a control character) has a character position, not a mark.
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else 1
        builder.problems.append(Problem(source, line, "yaml", str(exc)))
        return builder.document()
    finally:
        loader.dispose()
    expected = ", ".join(SECTIONS)
    if root is None:
        builder.problems.append(Problem(source, 1, "(file)", f"empty; expected {expected}"))
        return builder.document()
    if not isinstance(root, yaml.MappingNode):
        builder.problems.append(
            Problem(source, _line(root), "(file)", f"must be a mapping with {expected}")
        )
        return builder.document()
    seen: set[str] = set()
    budget = [len(text) + 1]
    for key, value in root.value:
        name = str(key.value)
        if name not in SECTIONS:
            builder.problems.append(
                Problem(source, _line(key), name, f"unknown section; expected {expected}")
            )
            continue
        if name in seen:
            builder.problems.append(Problem(source, _line(key), name, "section appears twice"))
            continue
        seen.add(name)
        builder.section(name)
        if isinstance(value, yaml.ScalarNode) and value.style is None and value.value in _NULLS:
            continue  # `devices:` with nothing under it: an empty section
        if not isinstance(value, yaml.SequenceNode):
            builder.problems.append(Problem(source, _line(value), name, "must be a list"))
            continue
        for row in value.value:
            try:
                data = _plain(row, budget)
            except _Unusable as exc:
                builder.problems.append(Problem(source, _line(exc.node), name, str(exc)))
                if budget[0] < 0:
                    break
                continue
            lines: dict[str, int] = {}
            if isinstance(row, yaml.MappingNode):
                for path, line in _key_lines(row, "", lines):
                    builder.problems.append(Problem(source, line, path, "duplicate key"))
            builder.add(name, data, _Where(source, _line(row), lines))
    return builder.document()


# --- CSV --------------------------------------------------------------------------------------

# (required columns, optional columns) per entity; a header is recognised when it holds all
# required columns of an entity and nothing outside that entity's columns.
CSV_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "districts": (("id", "name"), ()),
    "devices": (
        ("name", "district", "kind", "address", "port", "snmp_version", "community", "parent"),
        ("user", "auth_protocol", "auth_key", "priv_protocol", "priv_key", "vendor", "model"),
    ),
    "customers": (("id", "name", "sla_class"), ("contact",)),
    "lines": (("device", "ifindex", "customer", "plan_down_kbps", "plan_up_kbps"), ()),
}
_SNMP_COLUMNS = {
    "snmp_version": "version",
    "community": "community",
    "user": "user",
    "auth_protocol": "auth_protocol",
    "auth_key": "auth_key",
    "priv_protocol": "priv_protocol",
    "priv_key": "priv_key",
}
_DEVICE_NAMES = {f"snmp.{inner}": column for column, inner in _SNMP_COLUMNS.items()} | {
    "snmp": "snmp_version"
}
# Present-but-empty clears these; for every other column an empty cell means "not given".
_CLEARABLE = {"vendor", "model", "contact"}


def _recognise(header: list[str]) -> tuple[str | None, str]:
    columns = set(header)
    for entity, (required, optional) in CSV_COLUMNS.items():
        if set(required) <= columns <= set(required) | set(optional):
            return entity, ""
    matches = [e for e, (required, _) in CSV_COLUMNS.items() if set(required) <= columns]
    if matches:
        entity = max(matches, key=lambda e: len(CSV_COLUMNS[e][0]))
        allowed = set(CSV_COLUMNS[entity][0]) | set(CSV_COLUMNS[entity][1])
        unknown = ", ".join(c for c in header if c not in allowed)
        return None, f"unknown column(s) {unknown} for a {entity} file"
    closest = max(CSV_COLUMNS, key=lambda e: len(columns & set(CSV_COLUMNS[e][0])))
    if columns & set(CSV_COLUMNS[closest][0]):
        missing = ", ".join(c for c in CSV_COLUMNS[closest][0] if c not in columns)
        return None, f"looks like a {closest} file but lacks column(s) {missing}"
    known = "; ".join(f"{e}: {','.join(req)}" for e, (req, _) in CSV_COLUMNS.items())
    return None, f"not a known inventory header (expected {known})"


def _csv_record(entity: str, cells: Mapping[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    snmp: dict[str, Any] = {}
    for column, value in cells.items():
        if not value:
            if column in _CLEARABLE or column == "parent":
                data[column] = None
            continue
        if entity == "devices" and column in _SNMP_COLUMNS:
            snmp[_SNMP_COLUMNS[column]] = value
        else:
            data[column] = value
    if entity == "devices":
        data["snmp"] = snmp
    return data


def parse_csv(text: str, source: str) -> InventoryDocument:
    """Parse one CSV file; the entity is recognised by its header (see ``CSV_COLUMNS``)."""
    builder = _Builder(source)
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    rows = _numbered(reader)
    header_line, header = next(rows, (1, []))
    header = [column.strip().lower() for column in header]
    if not any(header):
        builder.problems.append(Problem(source, header_line, "header", "empty file"))
        return builder.document()
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        builder.problems.append(
            Problem(source, header_line, "header", f"duplicate column(s) {', '.join(duplicates)}")
        )
        return builder.document()
    entity, why = _recognise(header)
    if entity is None:
        builder.problems.append(Problem(source, header_line, "header", why))
        return builder.document()
    builder.section(entity)
    names = _DEVICE_NAMES if entity == "devices" else {}
    try:
        for line, cells in rows:
            where = _Where(source, line, names=names)
            if len(cells) != len(header):
                builder.problems.append(
                    where.problem("(row)", f"expected {len(header)} columns, found {len(cells)}")
                )
                continue
            record = dict(zip(header, (cell.strip() for cell in cells), strict=True))
            builder.add(entity, _csv_record(entity, record), where)
    except csv.Error as exc:
        builder.problems.append(Problem(source, reader.line_num, "csv", str(exc)))
    return builder.document()


def _numbered(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, cells) for every non-blank row."""
    start = 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            yield start, cells
        start = reader.line_num + 1


# --- entry points for files and payloads ------------------------------------------------------


def _format_of(source: str, text: str) -> InventoryFormat:
    suffix = Path(source).suffix.lower()
    if suffix == ".csv":
        return InventoryFormat.CSV
    if suffix in {".yaml", ".yml", ".json"}:
        return InventoryFormat.YAML
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")), "")
    return InventoryFormat.YAML if ":" in first or first.startswith("{") else InventoryFormat.CSV


def parse_inventory(
    text: str, source: str, fmt: InventoryFormat | str | None = None
) -> InventoryDocument:
    """Parse ``text`` (named ``source`` in problems) as YAML or CSV.

    The format is ``fmt``, else the file extension (.yaml/.yml/.json, .csv), else sniffed.
    Row problems are in ``document.problems``; call ``validate`` for the complete list.
    """
    chosen = InventoryFormat(fmt) if fmt is not None else _format_of(source, text)
    return parse_csv(text, source) if chosen == InventoryFormat.CSV else parse_yaml(text, source)


def read_inventory(path: str | Path) -> InventoryDocument:
    """Read and parse one file; an unreadable file is a document with one problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        problem = Problem(
            source, line, "(file)", f"not UTF-8 text: {exc.reason} at byte {exc.start}"
        )
        return InventoryDocument(source=source, problems=(problem,))
    except OSError as exc:
        problem = Problem(source, None, "(file)", exc.strerror or str(exc))
        return InventoryDocument(source=source, problems=(problem,))
    return parse_inventory(text, source)


def parse_payload(data: Any, source: str = "request") -> InventoryDocument:
    """Parse an already-decoded mapping (a JSON request body, ``export_payload`` output).

    Rows have no line numbers, so fields are named ``devices[3].address``.
    """
    builder = _Builder(source)
    if not isinstance(data, Mapping):
        builder.problems.append(Problem(source, None, "(body)", "must be an object"))
        return builder.document()
    for name, rows in data.items():
        if name not in SECTIONS:
            builder.problems.append(
                Problem(source, None, str(name), f"unknown section; expected {', '.join(SECTIONS)}")
            )
            continue
        builder.section(name)
        if rows is None:
            continue
        if not isinstance(rows, list):
            builder.problems.append(Problem(source, None, name, "must be a list"))
            continue
        for index, row in enumerate(rows):
            builder.add(name, row, _Where(source, None, prefix=f"{name}[{index}]."))
    return builder.document()


# --- validation across rows, files and the database ---------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class KnownInventory:
    """Keys already stored, which a file may refer to (``load_known`` reads them)."""

    districts: frozenset[str] = frozenset()
    devices: Mapping[str, str | None] = field(default_factory=dict)  # name → parent name
    customers: frozenset[str] = frozenset()


def load_known(session: Session) -> KnownInventory:
    """The stored districts, devices (with parents) and customers."""
    return KnownInventory(
        districts=frozenset(repo.district_ids(session)),
        devices=repo.device_parents(session),
        customers=frozenset(repo.customer_ids(session)),
    )


@dataclass(slots=True)
class _Merged:
    """All documents' sections together, as one import sees them."""

    present: set[str]
    rows: dict[str, list[Row[Any]]]
    invalid: dict[str, set[str]]
    first_source: dict[str, str]


def _merge(documents: Sequence[InventoryDocument]) -> _Merged:
    merged = _Merged(set(), {name: [] for name in SECTIONS}, {n: set() for n in SECTIONS}, {})
    for doc in documents:
        for name in doc.sections():
            merged.present.add(name)
            merged.first_source.setdefault(name, doc.source)
            merged.rows[name].extend(getattr(doc, name))
        for name, keys in doc.invalid_keys.items():
            merged.invalid[name] |= keys
    return merged


def _where_text(where: _Where) -> str:
    return f"{where.file}:{where.line}" if where.line is not None else where.file + where.prefix


def validate(
    documents: Sequence[InventoryDocument],
    known: KnownInventory | None = None,
    *,
    prune: bool = False,
) -> list[Problem]:
    """Every problem of ``documents`` together: row problems, duplicates, references, cycles.

    References resolve against the documents and ``known`` (the database); with ``prune``,
    stored keys of a section that the documents carry are about to go, so they do not count.
    Pure: no database access.
    """
    known = known or KnownInventory()
    merged = _merge(documents)
    problems = [problem for doc in documents for problem in doc.problems]

    def stored(section: str, keys: Iterable[str]) -> set[str]:
        return set() if prune and section in merged.present else set(keys)

    def first_rows(
        section: str, key: Callable[[Any], Any], field_name: str, shown: Callable[[Any], str]
    ) -> dict[Any, Row[Any]]:
        first: dict[Any, Row[Any]] = {}
        for row in merged.rows[section]:
            value = key(row.item)
            if value in first:
                where = _where_text(first[value].where)
                problems.append(
                    row.where.problem(field_name, f"duplicate {shown(value)} (first at {where})")
                )
            else:
                first[value] = row
        return first

    districts = first_rows("districts", lambda d: d.id, "id", lambda k: f"district {k!r}")
    devices = first_rows("devices", lambda d: d.name, "name", lambda k: f"device {k!r}")
    customers = first_rows("customers", lambda c: c.id, "id", lambda k: f"customer {k!r}")
    first_rows(
        "lines",
        lambda ln: (ln.device, ln.ifindex),
        "ifindex",
        lambda k: f"line {k[0]!r} ifindex {k[1]}",
    )

    district_keys = districts.keys() | merged.invalid["districts"]
    all_districts = district_keys | stored("districts", known.districts)
    stored_devices = stored("devices", known.devices)
    device_keys = devices.keys() | merged.invalid["devices"] | stored_devices
    customer_keys = (
        customers.keys() | merged.invalid["customers"] | stored("customers", known.customers)
    )
    pruned_note = " and is not listed, so --prune would delete it"

    for row in merged.rows["devices"]:
        device: DeviceIn = row.item
        if device.district not in all_districts:
            note = pruned_note if device.district in known.districts else ""
            problems.append(
                row.where.problem("district", f"unknown district {device.district!r}{note}")
            )
        if device.parent is not None:
            if device.parent == device.name:
                problems.append(row.where.problem("parent", "a device cannot be its own parent"))
            elif device.parent not in device_keys:
                note = pruned_note if device.parent in known.devices else ""
                problems.append(
                    row.where.problem("parent", f"unknown parent device {device.parent!r}{note}")
                )
    problems.extend(
        _cycles(devices, {k: v for k, v in known.devices.items() if k in stored_devices})
    )
    for row in merged.rows["lines"]:
        line: LineIn = row.item
        if line.device not in device_keys:
            note = pruned_note if line.device in known.devices else ""
            problems.append(row.where.problem("device", f"unknown device {line.device!r}{note}"))
        if line.customer not in customer_keys:
            note = pruned_note if line.customer in known.customers else ""
            problems.append(
                row.where.problem("customer", f"unknown customer {line.customer!r}{note}")
            )
    order = {doc.source: index for index, doc in enumerate(documents)}
    problems.sort(key=lambda p: (order.get(p.file, len(order)), p.line or 0))
    return problems


def _cycles(devices: Mapping[str, Row[Any]], stored: Mapping[str, str | None]) -> list[Problem]:
    """One problem per parent cycle, at the row of the cycle's first device in the file."""
    parents: dict[str, str | None] = dict(stored)
    parents.update({name: row.item.parent for name, row in devices.items()})
    problems = []
    done: set[str] = set()
    for start in devices:
        path: list[str] = []
        position: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in done and node not in position:
            position[node] = len(path)
            path.append(node)
            node = parents.get(node)
        if node is not None and node in position:
            cycle = path[position[node] :]
            if len(cycle) > 1:  # a self-parent is reported on its own
                first = min(
                    (devices[name] for name in cycle if name in devices),
                    key=lambda row: row.where.line or 0,
                )
                start_at = cycle.index(first.item.name)
                ring = [*cycle[start_at:], *cycle[:start_at], first.item.name]
                problems.append(first.where.problem("parent", "parent cycle: " + " → ".join(ring)))
        done.update(path)
    return problems


# --- import -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityCounts:
    """What an import did to one section."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportResult:
    """Counts per section the import touched, in import order."""

    counts: Mapping[str, EntityCounts]

    @property
    def changed(self) -> bool:
        """Whether the import changed anything."""
        return any(c.created or c.updated or c.deleted for c in self.counts.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        """JSON-ready: ``{"devices": {"created": 1, "updated": 0, ...}, ...}``."""
        return {
            name: {
                "created": c.created,
                "updated": c.updated,
                "unchanged": c.unchanged,
                "deleted": c.deleted,
            }
            for name, c in self.counts.items()
        }


def _prune_blockers(session: Session, merged: _Merged) -> list[Problem]:
    """Prune never reaches into a section the import does not carry: it refuses instead."""
    problems = []

    def refuse(section: str, message: str) -> None:
        problems.append(Problem(merged.first_source[section], None, section, message))

    def sample(names: Sequence[str]) -> str:
        return ", ".join(names[:3]) + (", …" if len(names) > 3 else "")

    if "districts" in merged.present and "devices" not in merged.present:
        listed = {row.item.id for row in merged.rows["districts"]} | merged.invalid["districts"]
        doomed = repo.district_ids(session) - listed
        for district, names in sorted(repo.devices_by_district(session, doomed).items()):
            refuse(
                "districts",
                f"cannot prune district {district!r}: {len(names)} device(s) still in it "
                f"({sample(names)}); list the district, or import its devices with --prune",
            )
    if "lines" not in merged.present:
        if "devices" in merged.present:
            listed = {row.item.name for row in merged.rows["devices"]} | merged.invalid["devices"]
            doomed = set(repo.device_parents(session)) - listed
            for device, count in sorted(repo.lines_by_device(session, doomed).items()):
                refuse(
                    "devices",
                    f"cannot prune device {device!r}: it has {count} line(s); list the device, "
                    "or import the lines too with --prune",
                )
        if "customers" in merged.present:
            listed = {row.item.id for row in merged.rows["customers"]} | merged.invalid["customers"]
            doomed = repo.customer_ids(session) - listed
            for customer, count in sorted(repo.lines_by_customer(session, doomed).items()):
                refuse(
                    "customers",
                    f"cannot prune customer {customer!r}: {count} line(s) still name it; list "
                    "the customer, or import the lines too with --prune",
                )
    return problems


def import_documents(
    session: Session, documents: Sequence[InventoryDocument], *, prune: bool = False
) -> ImportResult:
    """Validate ``documents`` against the database, then upsert them (and prune with ``prune``).

    Raises ``ConfigError`` with every problem before writing anything. The caller commits;
    ``prune`` deletes only within the sections the documents carry.
    """
    merged = _merge(documents)
    problems = validate(documents, load_known(session), prune=prune)
    if prune:
        problems.extend(_prune_blockers(session, merged))
    if problems:
        raise ConfigError(problems)
    rows = merged.rows
    counts: dict[str, EntityCounts] = {}
    upserts: dict[str, repo.UpsertCounts] = {}
    if "districts" in merged.present:
        records = [DistrictRecord(id=r.item.id, name=r.item.name) for r in rows["districts"]]
        upserts["districts"] = repo.upsert_districts(session, records)
    if "customers" in merged.present:
        upserts["customers"] = repo.upsert_customers(session, _customers(session, rows))
    if "devices" in merged.present:
        upserts["devices"] = repo.upsert_devices(session, _devices(session, rows))
    if "lines" in merged.present:
        records_l = [
            LineRecord(
                device=r.item.device,
                ifindex=r.item.ifindex,
                customer=r.item.customer,
                plan_down_kbps=r.item.plan_down_kbps,
                plan_up_kbps=r.item.plan_up_kbps,
            )
            for r in rows["lines"]
        ]
        upserts["lines"] = repo.upsert_lines(session, records_l)
    deleted: dict[str, int] = {}
    if prune:
        # Dependents first: lines, then devices, customers, districts.
        if "lines" in merged.present:
            keep = {(r.item.device, r.item.ifindex) for r in rows["lines"]}
            deleted["lines"] = repo.prune_lines(session, keep)
        if "devices" in merged.present:
            deleted["devices"] = repo.prune_devices(session, {r.item.name for r in rows["devices"]})
        if "customers" in merged.present:
            deleted["customers"] = repo.prune_customers(
                session, {r.item.id for r in rows["customers"]}
            )
        if "districts" in merged.present:
            deleted["districts"] = repo.prune_districts(
                session, {r.item.id for r in rows["districts"]}
            )
    session.flush()
    for name in SECTIONS:
        if name in merged.present:
            up = upserts[name]
            counts[name] = EntityCounts(
                created=up.created,
                updated=up.updated,
                unchanged=up.unchanged,
                deleted=deleted.get(name, 0),
            )
    return ImportResult(counts=counts)


def _customers(session: Session, rows: Mapping[str, list[Row[Any]]]) -> list[CustomerRecord]:
    stored = repo.customers_by_id(session, {r.item.id for r in rows["customers"]})
    records = []
    for row in rows["customers"]:
        item: CustomerIn = row.item
        contact = item.contact
        if "contact" not in item.model_fields_set and item.id in stored:
            contact = stored[item.id].contact
        records.append(
            CustomerRecord(id=item.id, name=item.name, sla_class=item.sla_class, contact=contact)
        )
    return records


def _devices(session: Session, rows: Mapping[str, list[Row[Any]]]) -> list[DeviceRecord]:
    stored = repo.devices_by_name(session, {r.item.name for r in rows["devices"]})
    records = []
    for row in rows["devices"]:
        item: DeviceIn = row.item
        old = stored.get(item.name)
        given = item.model_fields_set
        records.append(
            DeviceRecord(
                name=item.name,
                district=item.district,
                kind=item.kind,
                address=item.address,
                port=item.port,
                snmp=item.snmp.params(),
                parent=item.parent,
                # Discovery fills these; a file that does not mention them leaves them be.
                vendor=item.vendor if "vendor" in given or old is None else old.vendor,
                model=item.model if "model" in given or old is None else old.model,
                sys_object_id=old.sys_object_id if old is not None else None,
            )
        )
    return records


def import_text(
    session: Session,
    text: str,
    source: str,
    *,
    fmt: InventoryFormat | str | None = None,
    prune: bool = False,
) -> ImportResult:
    """``import_documents`` for one file's text (an upload); the caller commits."""
    return import_documents(session, [parse_inventory(text, source, fmt)], prune=prune)


def import_payload(
    session: Session, data: Any, *, source: str = "request", prune: bool = False
) -> ImportResult:
    """``import_documents`` for a decoded JSON body; the caller commits."""
    return import_documents(session, [parse_payload(data, source)], prune=prune)


# --- export -----------------------------------------------------------------------------------


def _device_payload(device: DeviceRecord) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": device.name,
        "district": device.district,
        "kind": device.kind.value,
        "address": device.address,
        "port": device.port,
        "snmp": device.snmp.to_json(),
    }
    for name in ("parent", "vendor", "model"):
        value = getattr(device, name)
        if value is not None:
            row[name] = value
    return row


def _payload(snapshot: InventorySnapshot) -> dict[str, list[dict[str, Any]]]:
    return {
        "districts": [{"id": d.id, "name": d.name} for d in snapshot.districts],
        "devices": [_device_payload(d) for d in snapshot.devices],
        "customers": [
            {"id": c.id, "name": c.name, "sla_class": c.sla_class.value}
            | ({"contact": c.contact} if c.contact is not None else {})
            for c in snapshot.customers
        ],
        "lines": [
            {
                key: value
                for key, value in (
                    ("device", ln.device),
                    ("ifindex", ln.ifindex),
                    ("customer", ln.customer),
                    ("plan_down_kbps", ln.plan_down_kbps),
                    ("plan_up_kbps", ln.plan_up_kbps),
                )
                if value is not None
            }
            for ln in snapshot.lines
        ],
    }


def export_payload(session: Session) -> dict[str, list[dict[str, Any]]]:
    """The whole inventory as plain data (SNMP secrets in clear); ``parse_payload`` reads it."""
    return _payload(repo.export_all(session))


_EXPORT_HEADER = (
    "# nocd inventory export. It contains SNMP communities and USM keys: keep it private.\n"
)


def export_yaml(session: Session) -> str:
    """The whole inventory as one YAML document (re-importing it changes nothing)."""
    body = yaml.safe_dump(
        export_payload(session), sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return _EXPORT_HEADER + body


def export_csv(session: Session) -> dict[str, str]:
    """The whole inventory as CSV files: ``{"districts.csv": text, "devices.csv": ..., ...}``."""
    snapshot = repo.export_all(session)
    files: dict[str, str] = {}
    for entity, (required, optional) in CSV_COLUMNS.items():
        header = [*required, *optional]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for record in getattr(snapshot, entity):
            cells = _csv_cells(entity, record)
            writer.writerow(["" if cells.get(c) is None else cells[c] for c in header])
        files[f"{entity}.csv"] = buffer.getvalue()
    return files


def _csv_cells(entity: str, record: Any) -> dict[str, Any]:
    if entity == "devices":
        device: DeviceRecord = record
        cells = _device_payload(device)
        snmp = cells.pop("snmp")
        cells.update({column: snmp.get(inner) for column, inner in _SNMP_COLUMNS.items()})
        return cells
    if entity == "customers":
        customer: CustomerRecord = record
        return {
            "id": customer.id,
            "name": customer.name,
            "sla_class": customer.sla_class.value,
            "contact": customer.contact,
        }
    if entity == "lines":
        line: LineRecord = record
        return {
            "device": line.device,
            "ifindex": line.ifindex,
            "customer": line.customer,
            "plan_down_kbps": line.plan_down_kbps,
            "plan_up_kbps": line.plan_up_kbps,
        }
    district: DistrictRecord = record
    return {"id": district.id, "name": district.name}
