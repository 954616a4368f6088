"""The settings table: explicit arguments win over the environment, the environment over defaults.

Each setting is declared once, as a field of ``Settings``: its variable, default, check, where
it is a keyword argument and a one-line doc (docs/configuration.md's table is checked against it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from agentsight_otel._checks import (
    API_KEY_PATTERN,
    ApiKey,
    bool_from_env,
    byte_count,
    byte_limit,
    check_bool,
    check_compression,
    check_endpoint,
    check_environment,
    check_log_level,
    check_spool_dir,
    milliseconds,
    milliseconds_from_env,
    parse_api_key,
    positive_seconds,
    seconds_from_env,
    seconds_or_zero,
)
from agentsight_otel._log import logger
from agentsight_otel._params import Param, arguments_of, checked, from_environment, setting, table
from agentsight_otel._redaction import Redactor, redactor_from, redactor_from_env
from agentsight_otel.exceptions import ConfigurationError

__all__ = [
    "API_KEY_PATTERN",
    "DEFAULT_ENDPOINT",
    "ENV_API_KEY",
    "SETTINGS",
    "ApiKey",
    "Settings",
    "apply_log_level",
    "given_arguments",
    "join_url",
    "parse_api_key",
    "resolve_settings",
]

ENV_API_KEY = "AGENTSIGHT_API_KEY"
ENV_ENDPOINT = "AGENTSIGHT_API_ENDPOINT"
ENV_LOG_LEVEL = "AGENTSIGHT_LOG_LEVEL"
DEFAULT_ENDPOINT = "https://api.agentsight.io"
MIB = 1024 * 1024
# Where a setting is a keyword argument: ``configure()`` (and the tracker's constructor, a subset)
# and ``AgentSightSpanExporter()``.
CONFIGURE, EXPORTER = "configure", "exporter"
BOTH = (CONFIGURE, EXPORTER)

Compression = Literal["auto", "gzip", "none"]


@dataclass(frozen=True)
class Settings:
    """Everything the tracker, exporter and bridge read from configuration."""

    api_key: ApiKey | None = setting(
        None,
        env=ENV_API_KEY,
        check=parse_api_key,
        arguments=BOTH,
        doc="AgentSight API key; without one spans are tracked, not delivered (a warning says so)",
    )
    endpoint: str = setting(
        DEFAULT_ENDPOINT,
        env=ENV_ENDPOINT,
        check=check_endpoint,
        arguments=BOTH,
        doc="AgentSight base URL (`http://` allowed)",
    )
    environment: str = setting(
        "production",
        env="AGENTSIGHT_ENVIRONMENT",
        check=check_environment,
        arguments=(CONFIGURE,),
        doc="environment of conversations that name none",
    )
    log_level: str | None = setting(
        None,
        env=ENV_LOG_LEVEL,
        check=check_log_level,
        arguments=(CONFIGURE,),
        shown_default="the logger's level is left alone",
        doc="level of the `agentsight_otel` logger (no handlers are added)",
    )
    compression: Compression = setting(
        "auto",
        check=check_compression,
        arguments=BOTH,
        doc="`gzip`, `none`, or `auto`: gzip when `/api/me/` advertises `gzip-ingest`",
    )
    request_timeout: float = setting(
        10.0,
        check=positive_seconds,
        arguments=(EXPORTER,),
        doc="seconds one HTTP request may take",
    )
    export_deadline: float = setting(
        30.0,
        check=positive_seconds,
        arguments=(EXPORTER,),
        doc="seconds a batch is retried before it is spooled or counted as lost",
    )
    send_timeout: float = setting(
        5.0,
        check=seconds_or_zero,
        arguments=(CONFIGURE,),
        doc="seconds `send_tracked_data` waits for the backend's answer",
    )
    max_body_bytes: int = setting(
        4 * MIB,
        check=byte_count,
        arguments=(EXPORTER,),
        shown_default="4 MiB",
        doc="largest ingest body; bigger batches are split by conversation",
    )
    verify_tls: bool = setting(
        True,
        check=check_bool,
        arguments=(EXPORTER,),
        doc="verify the backend's TLS certificate (`False` only by this argument)",
    )
    redact: Redactor | None = setting(
        None,
        env="AGENTSIGHT_REDACT_PII",
        check=redactor_from,
        from_env=redactor_from_env,
        arguments=(CONFIGURE,),
        compare=False,
        shown_default="off",
        doc="PII redaction: `True`, a `Redactor` or a text callable; the variable takes `1`/`0`",
    )
    spool_dir: str | None = setting(
        None,
        env="AGENTSIGHT_SPOOL_DIR",
        check=check_spool_dir,
        arguments=BOTH,
        shown_default="none: what cannot be delivered is counted and logged as lost",
        doc="directory where undeliverable batches wait for the backend, across restarts too",
    )
    spool_max_bytes: int = setting(
        256 * MIB,
        check=byte_limit,
        arguments=BOTH,
        shown_default="256 MiB",
        doc="most bytes the spool holds on disk",
    )
    max_queue_bytes: int = setting(
        64 * MIB,
        check=byte_limit,
        arguments=BOTH,
        shown_default="64 MiB",
        doc="most bytes (estimated) waiting for delivery in memory",
    )
    idle_timeout: float = setting(
        1800.0,
        env="AGENTSIGHT_IDLE_TIMEOUT",
        check=positive_seconds,
        from_env=seconds_from_env,
        arguments=(CONFIGURE,),
        shown_default="1800 (30 minutes)",
        doc="seconds an interaction may go untracked before it ends, incomplete (`abandoned`), "
        "and is delivered",
    )
    set_global_provider: bool = setting(
        True,
        env="AGENTSIGHT_SET_GLOBAL_PROVIDER",
        check=check_bool,
        from_env=bool_from_env,
        arguments=(CONFIGURE,),
        doc="with no SDK provider set, the tracker's own becomes the global one, so GenAI "
        "instrumentations' spans are delivered; the variable takes `1`/`0`",
    )
    log_grace_ms: int = setting(
        2000,
        env="AGENTSIGHT_LOG_GRACE_MS",
        check=milliseconds,
        from_env=milliseconds_from_env,
        arguments=(EXPORTER,),
        shown_default="2000 (2 s)",
        doc="milliseconds a trace whose model calls write their messages as log records waits "
        "for those records after its root ends (`AgentSightLogExporter`, the bridge's `/v1/logs`)",
    )
    # Not a setting: why an API key from the environment was refused (delivery stays off).
    key_problem: str | None = field(default=None, compare=False)

    def no_key_reason(self) -> str:
        """Why nothing is delivered without a key: the variable's problem, or that it is unset."""
        if self.key_problem:
            return f"the API key is refused: {self.key_problem}"
        return f"no AgentSight API key is configured (set {ENV_API_KEY})"

    def ingest_url(self) -> str:
        """``{endpoint}/api/ingest/``, trailing slash kept."""
        return join_url(self.endpoint, "/api/ingest/")

    def with_overrides(self, **overrides: object) -> Settings:
        """A copy with the non-None overrides applied and checked."""
        return resolve_settings(base=self, **overrides)


SETTINGS: tuple[Param, ...] = table(Settings)


def join_url(endpoint: str, path: str) -> str:
    """Join a base URL and an API path exactly once at the seam."""
    return f"{endpoint.rstrip('/')}/{path.lstrip('/')}"


def resolve_settings(base: Settings | None = None, **explicit: object) -> Settings:
    """Settings from explicit values (checked, raising), then environment, then defaults."""
    given = checked(SETTINGS, explicit, "setting")
    if "api_key" in given:
        given["key_problem"] = None
    settings = base if base is not None else _from_environment()
    return replace(settings, **given)


def given_arguments(where: str, values: dict[str, Any]) -> dict[str, Any]:
    """The settings a ``configure`` or exporter call was given (from its ``locals()``)."""
    return arguments_of(SETTINGS, where, values)


def _from_environment() -> Settings:
    """Defaults overlaid with the AGENTSIGHT_* environment; bad values are logged, not raised."""
    refused: list[str] = []

    def ignore(row: Param, problem: ConfigurationError) -> None:
        if row.name == "api_key":  # delivery stays off and says why, once it starts
            refused.append(str(problem))
        else:
            logger.error("ignoring %s: %s", row.env, problem)

    settings = Settings(**from_environment(SETTINGS, on_error=ignore))
    return replace(settings, key_problem=refused[0]) if refused else settings


def apply_log_level(settings: Settings) -> None:
    """Set the library logger's level (never its handlers) when a level is configured."""
    if settings.log_level:
        logger.setLevel(settings.log_level)
