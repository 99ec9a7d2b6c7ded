"""The settings model: defaults < TOML file < ``NOCD_<SECTION>__<KEY>`` environment variables."""

from __future__ import annotations

import os
import re
import tomllib
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from nocd.alerting_config import AlertingSettings
from nocd.errors import ConfigError, Problem
from nocd.kpi_config import KpiSettings, SlaSettings
from nocd.report_config import ReportSettings
from nocd.ticket_config import TicketSettings
from nocd.traffic_config import TrafficSettings

__all__ = [
    "ApiSettings",
    "CentralSettings",
    "DaemonSettings",
    "PollConfig",
    "Role",
    "Settings",
    "StorageSettings",
    "load_settings",
]

CONFIG_ENV = "NOCD_CONFIG"


class Role(StrEnum):
    """What a nocd process does: both tiers, the central NOC, or one district collector."""

    ALL = "all"
    CENTRAL = "central"
    DISTRICT = "district"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StorageSettings(_Section):
    """``[storage]``: where nocd keeps its data.

    url = "sqlite:///./nocd.db"                              # embedded default
    url = "postgresql+psycopg://nocd:secret@127.0.0.1/nocd"  # central at scale
    """

    url: str = "sqlite:///./nocd.db"

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            raise ValueError("must start with sqlite:// or postgresql[+driver]://")
        return value


class ApiSettings(_Section):
    """``[api]``: the HTTP listener (REST API, /metrics, /healthz)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)


class DaemonSettings(_Section):
    """``[daemon]``: role of this process, its district and the reporting time zone."""

    role: Role = Role.ALL
    district: str | None = None
    timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level


class PollConfig(_Section):
    """``[poll]``: how this process polls its devices over SNMP.

    Intervals left unset use the device profile's hints (interfaces 60 s, DSL lines 300 s,
    15-minute PM history 900 s, inventory/discovery 6 h).
    """

    enabled: bool = True
    max_concurrent: int = Field(default=64, ge=1, le=4096)  # device polls at once
    # v1/v2c requests in flight; more than ~16 overflows UDP receive buffers (lost replies).
    max_in_flight: int = Field(default=16, ge=1, le=256)
    deadline_s: float = Field(default=20.0, gt=0)  # whole-device budget per poll
    timeout_s: float = Field(default=2.0, gt=0)  # per SNMP request try
    retries: int = Field(default=1, ge=0, le=5)
    down_after_s: float = Field(default=60.0, ge=0)  # grace before a silent device is down
    backoff_max_s: float = Field(default=600.0, gt=0)
    interfaces_s: int | None = Field(default=None, ge=1)
    dsl_lines_s: int | None = Field(default=None, ge=1)
    dsl_intervals_s: int | None = Field(default=None, ge=1)
    discovery_s: int = Field(default=6 * 3600, ge=60)


class CentralSettings(_Section):
    """``[central]``: the district → central link (outbox, forwarder) and central's view of it.

    A district sets ``url`` and ``token`` (a ``district`` token bound to its district, made
    on central with ``nocd token create --role district --district ID``); central reads
    ``silent_after_s``. ``NOCD_CENTRAL__TOKEN`` keeps the token out of the file.
    """

    url: str | None = None  # central's base URL, e.g. "https://noc.example.net:8080"
    token: SecretStr | None = None
    batch_items: int = Field(default=500, ge=1, le=5000)  # items per POST /api/v1/ingest
    batch_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)  # and at most this much JSON
    retention_h: float = Field(default=72.0, gt=0)  # older unsent items are dropped (ERROR)
    quota_items: int = Field(default=5_000_000, ge=1)  # backlog bound, oldest dropped first
    quota_mb: int = Field(default=2048, ge=1)  # backlog bound in MiB of payload
    flush_interval_s: float = Field(default=1.0, gt=0)  # idle check for new items
    send_interval_s: float = Field(default=0.0, ge=0)  # pause between batches (catch-up pace)
    heartbeat_s: float = Field(default=15.0, gt=0)  # empty batch when idle: "still here"
    timeout_s: float = Field(default=30.0, gt=0)  # one POST, connect to answer
    retry_max_s: float = Field(default=60.0, gt=0)  # backoff ceiling while central is away
    # Central: a district that sent nothing for this long is silent (unset: 3 × the
    # interface poll interval, 180 s with the profile default).
    silent_after_s: float | None = Field(default=None, gt=0)
    silence_check_s: float = Field(default=10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value is not None else None


class Settings(BaseSettings):
    """The whole configuration tree of one nocd process."""

    model_config = SettingsConfigDict(
        env_prefix="NOCD_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    storage: StorageSettings = StorageSettings()
    api: ApiSettings = ApiSettings()
    daemon: DaemonSettings = DaemonSettings()
    poll: PollConfig = PollConfig()
    central: CentralSettings = CentralSettings()
    alerting: AlertingSettings = AlertingSettings()
    kpi: KpiSettings = KpiSettings()
    sla: SlaSettings = SlaSettings()
    tickets: TicketSettings = TicketSettings()
    traffic: TrafficSettings = TrafficSettings()
    report: ReportSettings = ReportSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML document arrives as init kwargs; the environment overrides it.
        return (env_settings, init_settings)


def _key_lines(text: str) -> dict[str, int]:
    """Map ``section.key`` (and ``section``) to the line where the TOML file sets it."""
    lines: dict[str, int] = {}
    section = ""
    arrays: dict[str, int] = {}  # [[array.of.tables]] (index path) -> entries so far

    def indexed(name: str) -> str:
        # "alerting.rules.levels" inside the 3rd [[alerting.rules]] -> "alerting.rules.2.levels"
        parts: list[str] = []
        for part in name.split("."):
            if parts and ".".join(parts) in arrays:
                parts.append(str(arrays[".".join(parts)] - 1))
            parts.append(part)
        return ".".join(parts)

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if header := re.match(rf"^\[\[\s*({_DOTTED})\s*\]\]", line):
            path = indexed(_dotted(header.group(1)))
            arrays[path] = arrays.get(path, 0) + 1
            section = f"{path}.{arrays[path] - 1}"
            lines.setdefault(section, number)
        elif header := re.match(rf"^\[\s*({_DOTTED})\s*\]", line):
            section = indexed(_dotted(header.group(1)))
            lines.setdefault(section, number)
        elif key := re.match(rf"^({_DOTTED})\s*=", line):
            # A dotted key (`api.port = 1`) also sets every table on its way.
            path = section
            for part in _dotted(key.group(1)).split("."):
                path = f"{path}.{part}" if path else part
                lines.setdefault(path, number)
    return lines


# A TOML key: bare or quoted parts joined by dots (`port`, `api.port`, `"api" . 'port'`).
_KEY_PART = r"""[\w\-]+|"[^"]*"|'[^']*'"""
_DOTTED = rf"(?:{_KEY_PART})(?:\s*\.\s*(?:{_KEY_PART}))*"


def _dotted(key: str) -> str:
    """``"api" . 'port'`` → ``api.port`` (quotes and spaces around the dots removed)."""
    return ".".join(part.strip("\"'") for part in re.findall(_KEY_PART, key))


def _problems(exc: ValidationError, file: str, text: str) -> list[Problem]:
    lines = _key_lines(text)
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        field = ".".join(loc) or "(file)"
        # the key's own line, else the nearest enclosing table that is in the file
        prefixes = (".".join(loc[:n]) for n in range(len(loc), 0, -1))
        line = next((lines[p] for p in prefixes if p in lines), None)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        from_env = _env_name(loc) in os.environ
        problems.append(
            Problem(
                file=f"environment {_env_name(loc)}" if from_env else file,
                line=None if from_env else line,
                field=field,
                message=message,
            )
        )
    return problems


def _env_name(loc: list[str]) -> str:
    return "NOCD_" + "__".join(part.upper() for part in loc)


def load_settings(path: str | Path | None = None, *, role: Role | None = None) -> Settings:
    """Read the TOML file (argument, else ``$NOCD_CONFIG``, else none) and the environment.

    ``role`` (``nocd run --role``) overrides both. Raises ``ConfigError`` listing every
    problem as ``FILE:LINE: section.key: problem``.
    """
    if path is None and os.environ.get(CONFIG_ENV):
        path = os.environ[CONFIG_ENV]
    text, data, file = "", {}, "(defaults)"
    if path is not None:
        file = str(path)
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError([Problem(file, None, "(file)", exc.strerror or str(exc))]) from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            message = f"not UTF-8 text: {exc.reason} at byte {exc.start}"
            raise ConfigError([Problem(file, line, "(file)", message)]) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"at line (\d+)", str(exc))
            # "at end of document" names no line: the last one is where the document ended.
            line = int(match.group(1)) if match else max(1, len(text.splitlines()))
            raise ConfigError([Problem(file, line, "toml", str(exc))]) from exc
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, file, text)) from exc
    if role is not None:
        settings.daemon = settings.daemon.model_copy(update={"role": role})
    if problems := _role_problems(settings, file, text):
        raise ConfigError(problems)
    return settings


def _role_problems(settings: Settings, file: str, text: str) -> list[Problem]:
    """What the role needs and the file lacks: a district id, and central's URL and token."""
    if settings.daemon.role is not Role.DISTRICT:
        return []
    lines = _key_lines(text)
    line = lines.get("daemon.role")
    needed = 'required when role = "district"'
    problems = []
    if not settings.daemon.district:
        problems.append(Problem(file, line, "daemon.district", needed))
    for key in ("url", "token"):
        if getattr(settings.central, key) is None:
            problems.append(Problem(file, lines.get("central") or line, f"central.{key}", needed))
    return problems
