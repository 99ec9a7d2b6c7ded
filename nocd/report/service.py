"""Runs and stores SLA reports: on demand (CLI), nightly (scheduler) and as catch-up at start.

    service = ReportService(settings=settings, sessions=sessions)
    service.run_sync(date(2024, 6, 30), "month", now=now)   # gather → build → render → store
    await service.run_nightly()                              # scheduler job body (clock read here)
    await service.catch_up()                                 # at start: runs missed while down
    service.catch_up_sync(now)                               # the same with an injected clock

A run replaces the stored report of its (date, period, language): re-running is safe.
Which runs a catch-up makes is the pure :func:`due_report_dates`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from kpi.intervals import epoch_s
from nocd.config import Settings
from nocd.report.gather import gather
from nocd.report.labels import Lang
from nocd.report.model import Report, build_report
from nocd.report.render import render_csv_zip, render_html, render_json
from nocd.storage import report_repo
from nocd.storage.report_repo import ReportFile

__all__ = ["ReportRun", "ReportService", "due_report_dates", "render_files"]

_logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportRun:
    """What one run produced: the report and its files per language."""

    report: Report
    files: dict[str, list[ReportFile]]  # lang → files


def due_report_dates(
    now: datetime, *, time_zone: str, hour: int, minute: int, catch_up_days: int
) -> list[date]:
    """Report days whose nightly run was due at or before ``now``, newest ``catch_up_days``.

    The run at HH:MM on local day X reports day X − 1. At 03:00 with runs at 02:00 the
    newest due day is yesterday; at 01:00 it is the day before yesterday.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(ZoneInfo(time_zone))
    run_day = local.date()
    if local.time() < time(hour, minute):
        run_day -= timedelta(days=1)
    newest = run_day - timedelta(days=1)
    return [newest - timedelta(days=k) for k in range(catch_up_days - 1, -1, -1)]


def _name(report: Report, lang: str, extension: str) -> str:
    return f"nocd-sla-{report.period}-{report.date}-{lang}.{extension}"


def render_files(
    report: Report, langs: Sequence[str], progress: Progress | None = None
) -> dict[str, list[ReportFile]]:
    """HTML per language; JSON and the CSV zip (language-independent) stored with each."""
    tell = progress or (lambda _step: None)
    json_bytes = render_json(report)
    tell("json")
    csv_zip = render_csv_zip(report)
    tell("csv")
    out: dict[str, list[ReportFile]] = {}
    for lang in langs:
        html_bytes = render_html(report, Lang(lang))
        tell(f"html {lang}")
        out[lang] = [
            ReportFile(
                format="html",
                media_type="text/html; charset=utf-8",
                filename=_name(report, lang, "html"),
                content=html_bytes,
            ),
            ReportFile(
                format="json",
                media_type="application/json",
                filename=_name(report, lang, "json"),
                content=json_bytes,
            ),
            ReportFile(
                format="csv",
                media_type="application/zip",
                filename=_name(report, lang, "csv.zip"),
                content=csv_zip,
            ),
        ]
    return out


class ReportService:
    """Produces reports from storage and stores them (the scheduler's and the CLI's entry)."""

    def __init__(self, *, settings: Settings, sessions: Callable[[], Session]) -> None:
        self.settings = settings
        self._sessions = sessions

    def run_sync(
        self,
        day: date,
        kind: str,
        *,
        now: datetime,
        langs: Sequence[str] | None = None,
        store: bool = True,
        progress: Progress | None = None,
    ) -> ReportRun:
        """Gather, build, render and (``store``) replace the stored report of ``day``."""
        tell = progress or (lambda _step: None)
        if langs is None:
            langs = [str(x) for x in self.settings.report.languages]
        # Read, render and write in separate transactions: a write at the end of a long read
        # transaction fails at once on SQLite (its snapshot is stale once anyone else wrote).
        with self._sessions() as session:
            inputs = gather(session, self.settings, day=day, kind=kind, now=epoch_s(now))
        tell("gather")
        report = build_report(inputs)
        tell("build")
        files = render_files(report, langs, progress)
        if store:
            with self._sessions() as session:
                for lang, lang_files in files.items():
                    report_repo.replace_report(
                        session,
                        date=report.date,
                        period=kind,
                        lang=lang,
                        files=lang_files,
                        now=now,
                    )
                session.commit()
        tell("store")
        _logger.info("SLA report %s (%s) for %s stored", report.date, kind, ", ".join(langs))
        return ReportRun(report=report, files=files)

    def nightly_sync(self, now: datetime) -> list[ReportRun]:
        """The nightly run: every configured period and language of the day before ``now``."""
        local = now.astimezone(ZoneInfo(self.settings.daemon.timezone))
        day = local.date() - timedelta(days=1)
        return [self.run_sync(day, kind, now=now) for kind in self.settings.report.periods]

    def catch_up_sync(self, now: datetime) -> list[tuple[date, str]]:
        """Runs missed while the daemon was down (within ``catch_up_days``); returns them."""
        cfg = self.settings.report
        days = due_report_dates(
            now,
            time_zone=self.settings.daemon.timezone,
            hour=cfg.hour,
            minute=cfg.minute,
            catch_up_days=cfg.catch_up_days,
        )
        with self._sessions() as session:
            have = report_repo.existing_reports(session, [d.isoformat() for d in days])
        done: list[tuple[date, str]] = []
        for day in days:
            for kind in cfg.periods:
                missing = [
                    str(lang)
                    for lang in cfg.languages
                    if (day.isoformat(), kind, str(lang)) not in have
                ]
                if missing:
                    _logger.info("catching up the missed %s report of %s", kind, day)
                    self.run_sync(day, kind, now=now, langs=missing)
                    done.append((day, kind))
        return done

    async def run_nightly(self) -> None:
        """Scheduler entry (cron): the nightly run, off the event loop."""
        await asyncio.to_thread(self.nightly_sync, datetime.now(UTC))

    async def catch_up(self) -> None:
        """Scheduler entry (once at start): missed runs, off the event loop."""
        await asyncio.to_thread(self.catch_up_sync, datetime.now(UTC))
