"""Type-checked access to walked SNMP values: a wrong type or a special code becomes None.

Agents break their MIBs in small ways (Nokia ISAM answers a Counter64 as an OCTET STRING,
DrayTek pads strings with NULs); every parser reads values through these helpers, so that
a surprise costs one field, never the poll.
"""

from __future__ import annotations

from collections.abc import Iterable

from collectors.values import SnmpValue, Table

__all__ = ["as_int", "as_oid", "as_text", "column", "indexes", "scaled", "split_index"]


def as_int(value: SnmpValue, *, lo: int | None = None, hi: int | None = None) -> int | None:
    """``value`` when it is an integer within ``[lo, hi]``, else None (wrong type, special code)."""
    # bool is an int subclass; an agent never sends one, a careless test might.
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    if lo is not None and value < lo:
        return None
    if hi is not None and value > hi:
        return None
    return value


def scaled(value: SnmpValue, *, lo: int, hi: int, divisor: int = 10) -> float | None:
    """A tenth-unit integer (e.g. 0.1 dB) as a float, or None when outside ``[lo, hi]``."""
    raw = as_int(value, lo=lo, hi=hi)
    return None if raw is None else raw / divisor


def as_text(value: SnmpValue) -> str | None:
    """A DisplayString as text: bytes decoded as UTF-8 (invalid bytes replaced), NULs stripped."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    return value.replace("\x00", "").strip()


def as_oid(value: SnmpValue) -> str | None:
    """An OBJECT IDENTIFIER value as a dotted string without a leading dot, else None."""
    if not isinstance(value, str):
        return None
    oid = value.strip().lstrip(".")
    if not oid or not all(part.isdigit() for part in oid.split(".")):
        return None
    return oid


def column(table: Table, oid: str) -> dict[str, SnmpValue]:
    """The walked column ``oid`` (index suffix → value), empty when it was not walked."""
    return table.get(oid, {})


def indexes(table: Table, columns: Iterable[str]) -> list[str]:
    """Every index suffix that appears in any of ``columns``, in numeric order."""
    seen: set[str] = set()
    for oid in columns:
        seen.update(table.get(oid, {}))
    return sorted(seen, key=_numeric_key)


def split_index(suffix: str) -> tuple[int, ...] | None:
    """``"7.3"`` → ``(7, 3)``; None when the suffix is not all decimal sub-identifiers."""
    parts = suffix.split(".")
    if not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)


def _numeric_key(suffix: str) -> tuple[int, ...]:
    return split_index(suffix) or ()
