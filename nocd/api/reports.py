"""``/api/v1/reports``: stored SLA reports, listed and downloadable (any token role).

    GET /api/v1/reports?date=2024-06-30&period=month&lang=zh-CN&format=html
    GET /api/v1/reports/{id}                    # that file
    GET /api/v1/reports/{id}?format=json        # the same report in another format
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel

from nocd.api.deps import Offset, ReadAccess, RowId, SessionDep
from nocd.api.schemas import PageOut
from nocd.storage import report_repo
from nocd.storage.report_repo import ReportRecord

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


class ReportFormat(StrEnum):
    """A stored report format: printable HTML, JSON, or a zip of one CSV per table."""

    HTML = "html"
    CSV = "csv"
    JSON = "json"


class ReportPeriod(StrEnum):
    """The reporting period of a report."""

    DAY = "day"
    MONTH = "month"


class ReportOut(BaseModel):
    """A stored report file (download it from ``url``)."""

    id: int
    date: str
    period: str
    lang: str
    format: str
    media_type: str
    filename: str
    size: int
    created_at: datetime
    url: str

    @classmethod
    def of(cls, record: ReportRecord) -> ReportOut:
        return cls(
            id=record.id,
            date=record.date,
            period=record.period,
            lang=record.lang,
            format=record.format,
            media_type=record.media_type,
            filename=record.filename,
            size=record.size,
            created_at=record.created_at,
            url=f"/api/v1/reports/{record.id}",
        )


@router.get("", summary="List stored SLA reports")
def list_reports(
    session: SessionDep,
    _token: ReadAccess,
    date: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
    period: ReportPeriod | None = None,
    lang: str | None = None,
    report_format: Annotated[ReportFormat | None, Query(alias="format")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> PageOut[ReportOut]:
    """Report files, newest report date first."""
    items, total = report_repo.list_reports(
        session,
        date=date,
        period=period.value if period else None,
        lang=lang,
        report_format=report_format.value if report_format else None,
        limit=limit,
        offset=offset,
    )
    return PageOut(items=[ReportOut.of(r) for r in items], total=total, limit=limit, offset=offset)


@router.get(
    "/{report_id}",
    summary="Download a stored SLA report",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/html": {},
                "application/json": {},
                "application/zip": {},
            },
            "description": "the report file",
        },
        404: {"description": "no such report (or not in that format)"},
    },
)
def get_report(
    session: SessionDep,
    _token: ReadAccess,
    report_id: RowId,
    report_format: Annotated[
        ReportFormat | None,
        Query(alias="format", description="the same report in this format (default: as stored)"),
    ] = None,
) -> Response:
    """The file's bytes with its media type; CSV comes as a zip of one CSV per table."""
    record = (
        report_repo.get_report(session, report_id)
        if report_format is None
        else report_repo.sibling(session, report_id, report_format.value)
    )
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no report {report_id} in that format")
    disposition = "attachment" if record.format == "csv" else "inline"
    return Response(
        content=record.content,
        media_type=record.media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{record.filename}"'},
    )
