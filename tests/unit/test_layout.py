"""House rules enforced on the source tree: import direction and no SNMP SET anywhere
(no SET entry point named in the code, and the BER codec encodes read requests only)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("nocd", "collectors", "kpi", "alerting")

# package → top-level packages it must never import
FORBIDDEN = {
    "kpi": {"nocd", "collectors", "alerting"},
    "collectors": {"nocd", "kpi", "alerting"},
    "alerting": {"nocd", "collectors"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def source_files(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_the_right_way(package: str) -> None:
    wrong = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in source_files(package)
        for name in imports_of(path)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert not wrong, "\n".join(wrong)


def test_only_app_and_cli_import_api_or_cli() -> None:
    allowed_dirs = {REPO / "nocd" / "api", REPO / "nocd" / "cli"}
    wrong = []
    for package in PACKAGES:
        for path in source_files(package):
            if path == REPO / "nocd" / "app.py" or path.parent in allowed_dirs:
                continue
            for name in imports_of(path):
                if name.startswith(("nocd.api", "nocd.cli")):
                    wrong.append(f"{path.relative_to(REPO)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_only_engine_imports_pysnmp() -> None:
    engine = REPO / "collectors" / "engine.py"
    wrong = [
        str(path.relative_to(REPO))
        for package in PACKAGES
        for path in source_files(package)
        if path != engine and any(n.split(".")[0] == "pysnmp" for n in imports_of(path))
    ]
    assert not wrong, f"pysnmp imported outside collectors/engine.py: {wrong}"


# pysnmp's SET entry points (v7 snake_case and v4 camelCase, hlapi and the old cmdgen) and
# the PDU class; the Net-SNMP tool, should a script shell out to it.
SET_PATTERN = re.compile(
    r"\b(set_cmd|setCmd|SetCommandGenerator|SetRequestPDU|SetRequest|snmpset|SET_REQUEST)\b"
)
SET_SCANNED = (*PACKAGES, "bench")


def test_no_snmp_set_anywhere() -> None:
    """nocd only reads from the network; a SET in the code base is a security bug."""
    hits = [
        f"{path.relative_to(REPO)}:{number}"
        for package in SET_SCANNED
        for path in source_files(package)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SET_PATTERN.search(line)
    ]
    assert not hits, f"SNMP SET found: {hits}"


BER_READ_PDU_TAGS = {0xA0, 0xA1, 0xA5}  # GetRequest, GetNextRequest, GetBulkRequest
SET_REQUEST_TAG = 0xA3


def test_ber_codec_never_encodes_a_set_request() -> None:
    """collectors/ber.py (the fast path's own encoder) has no SetRequest tag and no encoder
    besides the three read requests; each of them emits a read PDU tag."""
    from collectors import ber

    for name in ("ber.py", "fast_client.py"):
        tree = ast.parse((REPO / "collectors" / name).read_text(encoding="utf-8"))
        constants = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and type(node.value) is int
        }
        assert SET_REQUEST_TAG not in constants, f"collectors/{name} holds 0xA3 (SetRequest)"
    encoders = {name for name in ber.__all__ if name.startswith("encode_")}
    assert encoders == {"encode_get", "encode_get_next", "encode_get_bulk", "encode_oid"}
    oids = ["1.3.6.1.2.1.1.1.0"]
    messages = [
        ber.encode_get(ber.VERSION_V2C, b"c", 1, oids),
        ber.encode_get(ber.VERSION_V1, b"c", 1, oids),
        ber.encode_get_next(ber.VERSION_V2C, b"c", 1, oids),
        ber.encode_get_bulk(b"c", 1, oids),
    ]
    for message in messages:
        # 30 LL | 02 01 vv | 04 01 'c' | PDU tag
        assert message[0] == 0x30 and message[2:5] == bytes((0x02, 0x01, message[4]))
        assert message[5:8] == b"\x04\x01c"
        assert message[8] in BER_READ_PDU_TAGS, hex(message[8])
