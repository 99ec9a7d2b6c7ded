"""Stored SLA reports: one row per rendered file, replaced as a whole per (date, period, lang).

    replace_report(session, date="2024-06-30", period="month", lang="en", files=[...], now=…)
    list_reports(session, limit=50)          # newest first, without content
    get_report(session, 7)                   # with content
    sibling(session, 7, "csv")               # the same report in another format

The caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from nocd.storage.models import ReportRow

__all__ = [
    "ReportFile",
    "ReportRecord",
    "existing_reports",
    "get_report",
    "list_reports",
    "replace_report",
    "sibling",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportFile:
    """One rendered file of a report, to store."""

    format: str  # html | csv | json
    media_type: str
    filename: str
    content: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportRecord:
    """A stored report file (``content`` is empty in listings)."""

    id: int
    date: str
    period: str
    lang: str
    format: str
    media_type: str
    filename: str
    size: int
    created_at: datetime
    content: bytes = b""


def _record(row: ReportRow, *, content: bool) -> ReportRecord:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return ReportRecord(
        id=row.id,
        date=row.date,
        period=row.period,
        lang=row.lang,
        format=row.format,
        media_type=row.media_type,
        filename=row.filename,
        size=row.size,
        created_at=created,
        content=bytes(row.content) if content else b"",
    )


def replace_report(
    session: Session,
    *,
    date: str,
    period: str,
    lang: str,
    files: Iterable[ReportFile],
    now: datetime,
) -> list[int]:
    """Store a report's files, replacing every earlier file of the same date/period/lang."""
    session.execute(
        delete(ReportRow).where(
            ReportRow.date == date, ReportRow.period == period, ReportRow.lang == lang
        )
    )
    session.flush()
    created = now.astimezone(UTC)  # SQLite keeps the wall time only: store UTC everywhere
    rows = [
        ReportRow(
            date=date,
            period=period,
            lang=lang,
            format=f.format,
            media_type=f.media_type,
            filename=f.filename,
            content=f.content,
            size=len(f.content),
            created_at=created,
        )
        for f in files
    ]
    session.add_all(rows)
    session.flush()
    return [r.id for r in rows]


def list_reports(
    session: Session,
    *,
    date: str | None = None,
    period: str | None = None,
    lang: str | None = None,
    report_format: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[ReportRecord], int]:
    """A page of stored files, newest report date first, and how many match."""
    conditions = []
    if date is not None:
        conditions.append(ReportRow.date == date)
    if period is not None:
        conditions.append(ReportRow.period == period)
    if lang is not None:
        conditions.append(ReportRow.lang == lang)
    if report_format is not None:
        conditions.append(ReportRow.format == report_format)
    total = int(
        session.scalar(select(func.count()).select_from(ReportRow).where(*conditions)) or 0
    )
    # Listing without loading content: select the columns, not the entity.
    query = (
        select(
            ReportRow.id,
            ReportRow.date,
            ReportRow.period,
            ReportRow.lang,
            ReportRow.format,
            ReportRow.media_type,
            ReportRow.filename,
            ReportRow.size,
            ReportRow.created_at,
        )
        .where(*conditions)
        .order_by(
            ReportRow.date.desc(), ReportRow.period, ReportRow.lang, ReportRow.format
        )
        .limit(limit)
        .offset(offset)
    )
    records = [
        ReportRecord(
            id=i,
            date=d,
            period=p,
            lang=lg,
            format=f,
            media_type=m,
            filename=fn,
            size=s,
            created_at=c if c.tzinfo else c.replace(tzinfo=UTC),
        )
        for i, d, p, lg, f, m, fn, s, c in session.execute(query).all()
    ]
    return records, total


def get_report(session: Session, report_id: int) -> ReportRecord | None:
    """One stored file with its content."""
    row = session.get(ReportRow, report_id)
    return None if row is None else _record(row, content=True)


def sibling(session: Session, report_id: int, report_format: str) -> ReportRecord | None:
    """The file of the same date/period/lang as ``report_id`` in ``report_format``."""
    row = session.get(ReportRow, report_id)
    if row is None:
        return None
    other = session.scalars(
        select(ReportRow).where(
            ReportRow.date == row.date,
            ReportRow.period == row.period,
            ReportRow.lang == row.lang,
            ReportRow.format == report_format,
        )
    ).first()
    return None if other is None else _record(other, content=True)


def existing_reports(session: Session, dates: Sequence[str]) -> set[tuple[str, str, str]]:
    """``(date, period, lang)`` of the given dates that have a stored report."""
    if not dates:
        return set()
    rows = session.execute(
        select(ReportRow.date, ReportRow.period, ReportRow.lang)
        .where(ReportRow.date.in_(list(dates)))
        .distinct()
    )
    return {(d, p, lg) for d, p, lg in rows}
