"""The one exception hierarchy of nocd.

```
NocdError
├── ConfigError            bad TOML/env/inventory; CLI exit 2; message names file:line:field
├── StorageUnavailable     the database cannot be reached or its schema is out of date
└── DeliveryFailed         outbox / webhook / Alertmanager push
```
SNMP errors (``CollectorError`` and children) live in ``collectors/errors.py`` with their own
root, because ``collectors`` never imports ``nocd``; the CLI and app catch both roots.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem in an input file: ``file:line: field: message``."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}"


class NocdError(Exception):
    """Base of every error nocd raises on purpose."""


class ConfigError(NocdError):
    """Raised when a config, inventory or other input file is invalid; carries every problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StorageUnavailable(NocdError):
    """Raised when the database is unreachable or its schema is not at the current revision."""


class DeliveryFailed(NocdError):
    """Raised when an outbox batch, webhook or Alertmanager push could not be delivered."""
