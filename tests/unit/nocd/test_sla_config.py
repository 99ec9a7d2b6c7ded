"""``[[sla.targets]]``: excluded downtimes are validated with FILE:LINE and reach the SLA target."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kpi.intervals import TimeWindow
from nocd.config import load_settings
from nocd.errors import ConfigError

TARGET = """\
[sla]
period = "month"

[[sla.targets]]
name = "bank-availability"
kqi = "line_availability_ratio"
sla_class = "enterprise"
scope = "external"
objective = 0.999
"""


def _epoch(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nocd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_excluded_downtimes_become_utc_windows_of_the_target(tmp_path: Path) -> None:
    """Local 2024-06-03 02:00–04:00 in Asia/Shanghai (UTC+8, no DST) is 18:00–20:00 UTC the
    day before; an entry with an offset is taken as written. The target keeps them sorted."""
    path = write(
        tmp_path,
        TARGET
        + """
[[sla.targets.excluded]]
start = 2024-06-10T00:00:00Z
end = 2024-06-10T01:30:00Z
reason = "force majeure: flood"

[[sla.targets.excluded]]
start = 2024-06-03T02:00:00
end = 2024-06-03T04:00:00
reason = "customer's own building work"
""",
    )
    settings = load_settings(path)
    config = settings.sla.targets[0]
    assert [e.reason for e in config.excluded] == [
        "force majeure: flood",
        "customer's own building work",
    ]
    target = config.to_target(settings.sla.reporting_period(settings.daemon.timezone))
    assert target.exclusions == (
        TimeWindow(start=_epoch(2024, 6, 2, 18), end=_epoch(2024, 6, 2, 20)),
        TimeWindow(start=_epoch(2024, 6, 10, 0), end=_epoch(2024, 6, 10, 1, 30)),
    )


def test_local_exclusions_follow_the_reporting_time_zone(tmp_path: Path) -> None:
    """The same local 02:00–04:00 in Europe/Berlin in June (CEST, UTC+2) is 00:00–02:00 UTC."""
    path = write(
        tmp_path,
        '[daemon]\ntimezone = "Europe/Berlin"\n\n'
        + TARGET
        + "\n[[sla.targets.excluded]]\nstart = 2024-06-03T02:00:00\nend = 2024-06-03T04:00:00\n",
    )
    settings = load_settings(path)
    target = settings.sla.targets[0].to_target(
        settings.sla.reporting_period(settings.daemon.timezone)
    )
    assert target.exclusions == (
        TimeWindow(start=_epoch(2024, 6, 3, 0), end=_epoch(2024, 6, 3, 2)),
    )


@pytest.mark.parametrize(
    ("entry", "expected", "description"),
    [
        (
            "start = 2024-06-03T04:00:00\nend = 2024-06-03T02:00:00\n",
            ":11: sla.targets.0.excluded.0: Value error, end 2024-06-03T02:00:00 is not after",
            "end before start, on the entry's header line",
        ),
        (
            "start = 2024-06-03T02:00:00\nend = 2024-06-03T02:00:00\n",
            ":11: sla.targets.0.excluded.0: Value error, end",
            "empty window",
        ),
        (
            "start = 2024-06-03T02:00:00Z\nend = 2024-06-03T04:00:00\n",
            ":11: sla.targets.0.excluded.0: Value error, start and end must both",
            "one with an offset, one without",
        ),
        (
            'start = "yesterday"\nend = 2024-06-03T04:00:00\n',
            ":12: sla.targets.0.excluded.0.start: Input should be a valid datetime",
            "not a date-time, on its own line",
        ),
        (
            "start = 2024-06-03T02:00:00\n",
            ":11: sla.targets.0.excluded.0.end: Field required",
            "missing end",
        ),
        (
            "start = 2024-06-03T02:00:00\nend = 2024-06-03T04:00:00\nwhy = 1\n",
            ":14: sla.targets.0.excluded.0.why: unknown setting",
            "typo in a key",
        ),
        (
            "start = 2200-01-01T00:00:00\nend = 2200-01-02T00:00:00\n",
            ":11: sla.targets.0.excluded.0: Value error, 2200-01-01T00:00:00 is outside",
            "beyond 2106",
        ),
    ],
)
def test_bad_exclusions_are_refused_naming_file_line_and_field(
    tmp_path: Path, entry: str, expected: str, description: str
) -> None:
    path = write(tmp_path, TARGET + "\n[[sla.targets.excluded]]\n" + entry)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert f"{path}{expected}" in str(caught.value), (description, str(caught.value))
