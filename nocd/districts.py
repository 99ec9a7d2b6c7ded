"""Central's watch over its districts: a district that sends nothing is silent, its devices unknown.

    watch = DistrictWatch(sessions=sessions, silent_after_s=180.0, started_at=time.time())
    await watch.check()        # from the scheduler, every [central] silence_check_s

Silence is central's blindness, not a fault of the equipment: the district's devices become
``unknown`` (never ``down``), with state events so that SLA reports show unknown time. When
the district sends again its data drives the states again; central asks it for a snapshot of
its verdicts (``resync``) so devices whose state did not change meanwhile leave ``unknown``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from nocd.config import Settings
from nocd.errors import StorageUnavailable
from nocd.storage import district_repo
from nocd.storage.district_repo import SilentDistrict

__all__ = ["DistrictWatch", "silent_after_s"]

_logger = logging.getLogger(__name__)

DEFAULT_INTERFACES_S = 60  # the profile default of the interface poll interval


def silent_after_s(settings: Settings) -> float:
    """``[central] silent_after_s``, else three interface poll intervals."""
    configured = settings.central.silent_after_s
    return (
        configured
        if configured is not None
        else 3.0 * (settings.poll.interfaces_s or DEFAULT_INTERFACES_S)
    )


@dataclass(slots=True)
class DistrictWatch:
    """Marks silent districts; one ERROR log line per district going silent."""

    sessions: Callable[[], Session]
    silent_after_s: float
    started_at: float
    wall_clock: Callable[[], float] = time.time
    _failing: bool = field(default=False)

    async def check(self) -> list[SilentDistrict]:
        """One pass (off the event loop); the database being away is logged once."""
        try:
            silent = await asyncio.to_thread(self._check)
        except (SQLAlchemyError, StorageUnavailable) as exc:
            if not self._failing:
                _logger.warning("district silence check skipped: %s", exc)
            self._failing = True
            return []
        self._failing = False
        for district in silent:
            _logger.error(
                "district %s silent: nothing received for more than %.0f s; its %d devices "
                "are unknown (not down) until it sends again",
                district.district,
                self.silent_after_s,
                district.devices,
            )
        return silent

    def _check(self) -> list[SilentDistrict]:
        with self.sessions() as session, session.begin():
            return district_repo.mark_silent(
                session,
                now=int(self.wall_clock()),
                silent_after_s=self.silent_after_s,
                started_at=int(self.started_at),
            )
