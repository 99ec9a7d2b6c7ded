"""One poll of one device with its profile → a typed ``DevicePoll``; rates between two polls.

The profile says which tables to walk; the MIB parsers turn the walked values into rows and
``collectors.counters`` turns two polls into rates. Nothing here writes storage: the caller
(poller, ``nocd poll``) gets the whole device result at once.

Each table is walked on its own (one multi-column GETBULK walk per table), so a vendor's
mis-sorted subtree ends only the columns it affects (``Quirks.non_increasing_oids``).
Response times come from an injected monotonic clock in nanoseconds: the interface rows are
stamped when their walk finished, which is what the counter arithmetic divides by.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from collectors.counters import InterfaceRates, interface_rates
from collectors.engine import SnmpTarget
from collectors.mibs import (
    adsl_line_mib,
    host_resources_mib,
    if_mib,
    snmpv2_mib,
    vdsl2_line_mib,
    vendor_resources,
)
from collectors.profiles import DeviceProfile, MibTable, columns_for, read_metrics
from collectors.samples import DslLineRow, HostResources, InterfaceRow, SystemInfo
from collectors.values import Row, Table

__all__ = [
    "DEFAULT_MAX_REPETITIONS",
    "DevicePoll",
    "SnmpReader",
    "poll_device",
    "rates_between",
]

DEFAULT_MAX_REPETITIONS = 25
# Interval history tables hold 96 bins per line and unit: walked on their own schedule.
HISTORY_TABLES = frozenset({MibTable.ADSL_INTERVALS, MibTable.VDSL2_INTERVALS})


class SnmpReader(Protocol):
    """What a poll needs from an SNMP client (``collectors.engine.SnmpClient`` has it)."""

    async def get(self, target: SnmpTarget, oids: Sequence[str]) -> Row: ...

    async def walk(
        self, target: SnmpTarget, columns: Sequence[str], max_repetitions: int = ...
    ) -> Table: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DevicePoll:
    """Everything one poll of one device returned, parsed.

    ``interfaces_at_ns`` is the monotonic time (ns) at which the interface walk's last
    response arrived; ``sys_uptime_ticks`` (in ``system``) was read just before it.
    """

    host: str
    profile: str
    system: SystemInfo
    interfaces: tuple[InterfaceRow, ...] = ()
    interfaces_at_ns: int = 0
    dsl_lines: tuple[DslLineRow, ...] = ()
    resources: HostResources | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    walked: frozenset[MibTable] = frozenset()


async def poll_device(
    client: SnmpReader,
    target: SnmpTarget,
    profile: DeviceProfile,
    *,
    tables: Collection[MibTable] | None = None,
    clock: Callable[[], int] = time.monotonic_ns,
) -> DevicePoll:
    """Poll ``profile``'s tables (or only ``tables``; history tables only when named).

    Raises DeviceUnreachable / SnmpProtocolError from the client; a table a device does not
    have simply comes back empty.
    """
    wanted = set(profile.tables - HISTORY_TABLES) if tables is None else set(tables)
    wanted &= profile.tables
    repetitions = profile.quirks.max_repetitions or DEFAULT_MAX_REPETITIONS
    per_table = columns_for(profile)

    async def walk(*groups: MibTable) -> Table:
        columns = [c for g in groups if g in wanted for c in per_table[g]]
        return await client.walk(target, columns, repetitions) if columns else {}

    system = snmpv2_mib.parse_system(await client.get(target, snmpv2_mib.SCALARS))

    interfaces: list[InterfaceRow] = []
    interfaces_at_ns = 0
    if MibTable.IF in wanted:
        interfaces = if_mib.parse_interfaces(await walk(MibTable.IF))
        interfaces_at_ns = clock()

    stack = None
    if MibTable.IF_STACK in wanted:
        stack = if_mib.parse_if_stack(await walk(MibTable.IF_STACK))

    adsl: list[DslLineRow] = []
    if wanted & {MibTable.ADSL, MibTable.ADSL_INTERVALS}:
        adsl = adsl_line_mib.parse_adsl_lines(
            await walk(MibTable.ADSL, MibTable.ADSL_INTERVALS),
            stack=stack,
            db_unit_tenths=profile.quirks.adsl_db_unit_tenths,
        )
    vdsl2: list[DslLineRow] = []
    if wanted & {MibTable.VDSL2, MibTable.VDSL2_INTERVALS}:
        vdsl2 = vdsl2_line_mib.parse_vdsl2_lines(
            await walk(MibTable.VDSL2, MibTable.VDSL2_INTERVALS)
        )
    dsl_lines = vdsl2_line_mib.merge_dsl_lines(vdsl2, adsl) if vdsl2 else adsl

    resources = None
    if profile.resources is not None:
        table = await client.walk(target, profile.resources.columns(), repetitions)
        resources = vendor_resources.parse_vendor_resources(table, profile.resources)
    elif MibTable.HOST_RESOURCES in wanted:
        resources = host_resources_mib.parse_host_resources(await walk(MibTable.HOST_RESOURCES))

    metrics: dict[str, dict[str, float]] = {}
    if profile.metrics:
        table = await client.walk(target, [m.column for m in profile.metrics], repetitions)
        metrics = read_metrics(profile.metrics, table)

    return DevicePoll(
        host=target.host,
        profile=profile.name,
        system=system,
        interfaces=tuple(interfaces),
        interfaces_at_ns=interfaces_at_ns,
        dsl_lines=tuple(dsl_lines),
        resources=resources,
        metrics=metrics,
        walked=frozenset(wanted),
    )


def rates_between(prev: DevicePoll, curr: DevicePoll) -> dict[int, InterfaceRates]:
    """Per-ifIndex rates between two polls of one device (interfaces present in both)."""
    before = {row.ifindex: row for row in prev.interfaces}
    return {
        row.ifindex: interface_rates(
            before[row.ifindex],
            row,
            prev_at_ns=prev.interfaces_at_ns,
            curr_at_ns=curr.interfaces_at_ns,
            prev_uptime_ticks=prev.system.sys_uptime_ticks,
            curr_uptime_ticks=curr.system.sys_uptime_ticks,
        )
        for row in curr.interfaces
        if row.ifindex in before
    }
