"""Vendor CPU/memory tables (Huawei, H3C, Cisco, Juniper, ZTE…) read from a declarative spec.

A profile names the columns in a ``ResourceColumns``; this module averages them. Vendors
put placeholder rows in these tables (a Huawei SmartAX empty slot answers -1, chassis
entities without a CPU answer 0): ``ignore_values`` lists such codes, and ``skip_zero``
drops 0 rows when the vendor uses 0 for "no CPU here".
"""

from __future__ import annotations

from dataclasses import dataclass

from collectors.mibs._values import as_int, column
from collectors.samples import HostResources
from collectors.values import Table

__all__ = ["ResourceColumns", "parse_vendor_resources"]

_U32_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceColumns:
    """Where a vendor MIB keeps CPU and memory figures; every column is optional.

    ``ResourceColumns(cpu_percent="1.3.6.1.4.1.2011.5.25.31.1.1.1.1.5", skip_zero=True)``
    """

    cpu_percent: str | None = None  # 0..100 per entity / board / processor
    memory_percent: str | None = None  # 0..100
    memory_used: str | None = None  # in memory_unit_bytes
    memory_free: str | None = None  # in memory_unit_bytes (total = used + free)
    memory_unit_bytes: int = 1
    ignore_values: frozenset[int] = frozenset()
    skip_zero: bool = False

    def columns(self) -> tuple[str, ...]:
        """The columns to walk."""
        return tuple(
            c
            for c in (self.cpu_percent, self.memory_percent, self.memory_used, self.memory_free)
            if c is not None
        )


def parse_vendor_resources(table: Table, spec: ResourceColumns) -> HostResources:
    """Mean CPU and memory use over the rows that carry a real value."""
    cpu = _percents(table, spec.cpu_percent, spec)
    mem_pct = _percents(table, spec.memory_percent, spec)
    used_bytes = total_bytes = None
    if spec.memory_used is not None and spec.memory_free is not None:
        used_sum = free_sum = 0
        found = False
        for idx, value in column(table, spec.memory_used).items():
            used = as_int(value, lo=0, hi=_U32_MAX)
            free = as_int(column(table, spec.memory_free).get(idx), lo=0, hi=_U32_MAX)
            if used is None or free is None or used + free == 0:
                continue
            found = True
            used_sum += used
            free_sum += free
        if found:
            used_bytes = used_sum * spec.memory_unit_bytes
            total_bytes = (used_sum + free_sum) * spec.memory_unit_bytes
            if not mem_pct:
                mem_pct = [100 * used_sum / (used_sum + free_sum)]
    return HostResources(
        cpu_load_percent=sum(cpu) / len(cpu) if cpu else None,
        memory_used_bytes=used_bytes,
        memory_total_bytes=total_bytes,
        memory_used_percent=sum(mem_pct) / len(mem_pct) if mem_pct else None,
    )


def _percents(table: Table, oid: str | None, spec: ResourceColumns) -> list[float]:
    if oid is None:
        return []
    out: list[float] = []
    for value in column(table, oid).values():
        raw = as_int(value)
        if raw is None or raw in spec.ignore_values or (spec.skip_zero and raw == 0):
            continue
        if 0 <= raw <= 100:
            out.append(float(raw))
    return out
