"""``[[sla.targets]]`` ``period`` / ``timezone``: defaults, overrides, FILE:LINE errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kpi.intervals import TimeWindow
from kpi.sla import PeriodKind, ReportingPeriod
from nocd.config import load_settings
from nocd.errors import ConfigError
from tests.unit.nocd.test_sla_config import TARGET, write

GLOBAL = ReportingPeriod(kind=PeriodKind.MONTH, time_zone="Asia/Shanghai")


@pytest.mark.parametrize(
    ("extra", "expected", "own"),
    [
        ("", GLOBAL, False),
        ('period = "month"\ntimezone = "Asia/Shanghai"\n', GLOBAL, False),
        (
            'period = "week"\n',
            ReportingPeriod(kind=PeriodKind.WEEK, time_zone="Asia/Shanghai"),
            True,
        ),
        ('timezone = "UTC"\n', ReportingPeriod(kind=PeriodKind.MONTH, time_zone="UTC"), True),
        (
            'period = "day"\ntimezone = "Europe/Berlin"\n',
            ReportingPeriod(kind=PeriodKind.DAY, time_zone="Europe/Berlin"),
            True,
        ),
    ],
)
def test_a_target_reports_on_its_own_period_or_the_global_one(
    tmp_path: Path, extra: str, expected: ReportingPeriod, own: bool
) -> None:
    settings = load_settings(write(tmp_path, TARGET + extra))
    default = settings.sla.reporting_period(settings.daemon.timezone)
    assert default == GLOBAL
    config = settings.sla.targets[0]
    assert config.to_target(default).period == expected
    groups = settings.sla.own_periods(settings.daemon.timezone)
    assert groups == ({expected: [config]} if own else {})


def test_local_exclusions_are_read_in_the_targets_own_zone(tmp_path: Path) -> None:
    """Local 2024-06-03 02:00–04:00: in UTC for this target (the daemon's zone is Shanghai)."""
    text = TARGET + 'timezone = "UTC"\n\n[[sla.targets.excluded]]\n'
    text += "start = 2024-06-03T02:00:00\nend = 2024-06-03T04:00:00\n"
    settings = load_settings(write(tmp_path, text))
    target = settings.sla.targets[0].to_target(GLOBAL)
    start = int(datetime(2024, 6, 3, 2, tzinfo=UTC).timestamp())
    assert target.exclusions == (TimeWindow(start=start, end=start + 7200),)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            'timezone = "Mars/Olympus"\n',
            ":10: sla.targets.0.timezone: Value error, unknown time zone",
        ),
        ('period = "quarter"\n', ":10: sla.targets.0.period: Input should be 'day', 'week' or"),
        ("timezone = 8\n", ":10: sla.targets.0.timezone: Input should be a valid string"),
    ],
)
def test_bad_period_or_zone_is_refused_naming_file_line_and_field(
    tmp_path: Path, extra: str, expected: str
) -> None:
    path = write(tmp_path, TARGET + extra)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert f"{path}{expected}" in str(caught.value), str(caught.value)
