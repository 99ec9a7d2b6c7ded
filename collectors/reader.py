"""The SNMP reader the poller uses: v1/v2c through the fast path, v3 through pysnmp.

The fast path (``collectors.fast_client``) returns exactly what the pysnmp engine returns
(the differential and recording tests prove it) at a fraction of the CPU; pysnmp stays the
engine for SNMPv3 and for discovery.
"""

from __future__ import annotations

from collections.abc import Sequence

from collectors.engine import SnmpClient, SnmpTarget
from collectors.fast_client import FastSnmpClient
from collectors.values import Row, Table

__all__ = ["RoutingReader"]


class RoutingReader:
    """``get``/``walk`` routed by SNMP version; satisfies ``device_poll.SnmpReader``."""

    def __init__(self, engine: SnmpClient, fast: FastSnmpClient) -> None:
        self.engine = engine
        self.fast = fast

    def _pick(self, target: SnmpTarget) -> SnmpClient | FastSnmpClient:
        return self.engine if target.version == "3" else self.fast

    async def get(self, target: SnmpTarget, oids: Sequence[str]) -> Row:
        """One GET with many varbinds."""
        return await self._pick(target).get(target, oids)

    async def walk(
        self, target: SnmpTarget, columns: Sequence[str], max_repetitions: int = 25
    ) -> Table:
        """A multi-column GETBULK walk."""
        return await self._pick(target).walk(target, columns, max_repetitions)
