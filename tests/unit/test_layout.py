"""House rules enforced on the source tree: import direction and no SNMP SET anywhere."""

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


SET_PATTERN = re.compile(r"\b(set_cmd|setCmd|SetRequestPDU|SetRequest)\b")


def test_no_snmp_set_anywhere() -> None:
    """nocd only reads from the network; a SET in the code base is a security bug."""
    hits = [
        f"{path.relative_to(REPO)}:{number}"
        for package in PACKAGES
        for path in source_files(package)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SET_PATTERN.search(line)
    ]
    assert not hits, f"SNMP SET found: {hits}"
