"""HOST-RESOURCES-MIB (RFC 2790): hrProcessorLoad and the RAM row of hrStorageTable."""

from __future__ import annotations

from collectors.mibs._values import as_int, as_oid, column
from collectors.samples import HostResources
from collectors.values import Table

__all__ = [
    "COLUMNS",
    "HR_PROCESSOR_LOAD",
    "HR_STORAGE_ALLOCATION_UNITS",
    "HR_STORAGE_RAM",
    "HR_STORAGE_SIZE",
    "HR_STORAGE_TYPE",
    "HR_STORAGE_USED",
    "parse_host_resources",
]

HR_PROCESSOR_LOAD = "1.3.6.1.2.1.25.3.3.1.2"  # Integer32 0..100, % over the last minute
_HR_STORAGE = "1.3.6.1.2.1.25.2.3.1"
HR_STORAGE_TYPE = f"{_HR_STORAGE}.2"
HR_STORAGE_ALLOCATION_UNITS = f"{_HR_STORAGE}.4"  # bytes per unit
HR_STORAGE_SIZE = f"{_HR_STORAGE}.5"  # units
HR_STORAGE_USED = f"{_HR_STORAGE}.6"  # units
HR_STORAGE_RAM = "1.3.6.1.2.1.25.2.1.2"  # hrStorageRam

COLUMNS: tuple[str, ...] = (
    HR_PROCESSOR_LOAD,
    HR_STORAGE_TYPE,
    HR_STORAGE_ALLOCATION_UNITS,
    HR_STORAGE_SIZE,
    HR_STORAGE_USED,
)
_I32_MAX = 2**31 - 1


def parse_host_resources(table: Table) -> HostResources:
    """Mean processor load and RAM use; None where the agent has no such rows.

    Several RAM rows (one per memory pool) are summed. A row whose size or allocation
    unit is missing or not positive is skipped rather than counted as zero.
    """
    loads = [
        load
        for value in column(table, HR_PROCESSOR_LOAD).values()
        if (load := as_int(value, lo=0, hi=100)) is not None
    ]
    used_total = size_total = 0
    found = False
    for idx, storage_type in column(table, HR_STORAGE_TYPE).items():
        if as_oid(storage_type) != HR_STORAGE_RAM:
            continue
        unit = as_int(column(table, HR_STORAGE_ALLOCATION_UNITS).get(idx), lo=1, hi=_I32_MAX)
        size = as_int(column(table, HR_STORAGE_SIZE).get(idx), lo=1, hi=_I32_MAX)
        used = as_int(column(table, HR_STORAGE_USED).get(idx), lo=0, hi=_I32_MAX)
        if unit is None or size is None or used is None or used > size:
            continue
        found = True
        used_total += used * unit
        size_total += size * unit
    return HostResources(
        cpu_load_percent=sum(loads) / len(loads) if loads else None,
        memory_used_bytes=used_total if found else None,
        memory_total_bytes=size_total if found else None,
        memory_used_percent=100 * used_total / size_total if found else None,
    )
