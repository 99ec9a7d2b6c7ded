"""``[report]`` settings: when the nightly SLA report runs, which periods and languages.

    [report]
    at = "02:00"                     # local time ([daemon] timezone) of the nightly run
    periods = ["day", "month"]       # the day just ended, and its month to date
    languages = ["en", "zh-CN"]
    catch_up_days = 3                # at start, redo runs missed over the last N nights
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nocd.report.labels import Lang

__all__ = ["ReportSettings"]


class ReportSettings(BaseModel):
    """``[report]``: the nightly SLA report of the central (or all-in-one) nocd."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    at: str = "02:00"
    periods: list[str] = Field(default_factory=lambda: ["day", "month"], min_length=1)
    languages: list[Lang] = Field(default_factory=lambda: [Lang.EN, Lang.ZH_CN], min_length=1)
    catch_up_days: int = Field(default=3, ge=0, le=31)

    @field_validator("at")
    @classmethod
    def _clock(cls, value: str) -> str:
        match = re.fullmatch(r"(\d{2}):(\d{2})", value)
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise ValueError("must be HH:MM (24-hour clock)")
        return value

    @field_validator("periods")
    @classmethod
    def _periods(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - {"day", "month"})
        if unknown:
            raise ValueError(f"unknown periods {unknown}; use day and/or month")
        return list(dict.fromkeys(value))

    @property
    def hour(self) -> int:
        """Hour of the nightly run."""
        return int(self.at[:2])

    @property
    def minute(self) -> int:
        """Minute of the nightly run."""
        return int(self.at[3:])
