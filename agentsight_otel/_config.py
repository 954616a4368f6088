"""Settings: explicit arguments win over the environment, the environment over defaults."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import urlsplit

from agentsight_otel._log import logger
from agentsight_otel._redaction import Redactor, redactor_from, redactor_from_env
from agentsight_otel.exceptions import ConfigurationError, InvalidApiKeyError

ENV_API_KEY = "AGENTSIGHT_API_KEY"
ENV_ENDPOINT = "AGENTSIGHT_API_ENDPOINT"
ENV_LOG_LEVEL = "AGENTSIGHT_LOG_LEVEL"
ENV_ENVIRONMENT = "AGENTSIGHT_ENVIRONMENT"
ENV_REDACT_PII = "AGENTSIGHT_REDACT_PII"
ENV_SPOOL_DIR = "AGENTSIGHT_SPOOL_DIR"
DEFAULT_ENDPOINT = "https://api.agentsight.io"
DEFAULT_ENVIRONMENT = "production"

API_KEY_PATTERN = re.compile(r"^ags_[0-9a-f]{32}_[0-9a-f]{6}$", re.IGNORECASE)
Compression = Literal["auto", "gzip", "none"]
_COMPRESSIONS = ("auto", "gzip", "none")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ApiKey:
    """An API key whose ``repr`` and ``str`` never show it."""

    __slots__ = ("_secret",)

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def reveal(self) -> str:
        """The key itself, for the Authorization header only."""
        return self._secret

    def __repr__(self) -> str:
        return "ApiKey('ags_****')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._secret == self._secret

    def __hash__(self) -> int:
        return hash(self._secret)


def parse_api_key(value: object, source: str) -> ApiKey:
    """Check a key's shape; the error names where it came from, never the key."""
    if not isinstance(value, str):
        raise InvalidApiKeyError(f"{source} must be a string, not {type(value).__name__}")
    key = value.strip()
    if not API_KEY_PATTERN.match(key):
        raise InvalidApiKeyError(
            f"{source} is not an AgentSight API key: expected 'ags_' + 32 hex digits + '_' "
            f"+ 6 hex digits ({len(key)} characters given)"
        )
    return ApiKey(key)


@dataclass(frozen=True)
class Settings:
    """Everything the tracker, exporter and bridge read from configuration."""

    api_key: ApiKey | None = None
    endpoint: str = DEFAULT_ENDPOINT
    environment: str = DEFAULT_ENVIRONMENT
    log_level: str | None = None
    compression: Compression = "auto"
    request_timeout: float = 10.0
    export_deadline: float = 30.0
    send_timeout: float = 5.0
    max_body_bytes: int = 4 * 1024 * 1024
    verify_tls: bool = True
    # PII redaction applied by the tracker at each call (None: off).
    redact: Redactor | None = field(default=None, compare=False)
    # Undeliverable bodies go to this directory (None: counted and logged as lost instead).
    spool_dir: str | None = None
    spool_max_bytes: int = 256 * 1024 * 1024
    # What the delivery queue may hold in memory (estimated) while the backend is away.
    max_queue_bytes: int = 64 * 1024 * 1024
    key_problem: str | None = field(default=None, compare=False)

    def ingest_url(self) -> str:
        """``{endpoint}/api/ingest/``, trailing slash kept."""
        return join_url(self.endpoint, "/api/ingest/")

    def with_overrides(self, **overrides: object) -> Settings:
        """A copy with the non-None overrides applied and checked."""
        return resolve_settings(base=self, **overrides)


def join_url(endpoint: str, path: str) -> str:
    """Join a base URL and an API path exactly once at the seam."""
    return f"{endpoint.rstrip('/')}/{path.lstrip('/')}"


def resolve_settings(base: Settings | None = None, **explicit: object) -> Settings:
    """Settings from explicit values (checked, raising), then environment, then defaults."""
    unknown = set(explicit) - {f for f in Settings.__dataclass_fields__ if f != "key_problem"}
    if unknown:
        raise ConfigurationError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    given = {k: v for k, v in explicit.items() if v is not None}
    settings = base if base is not None else _from_environment()
    if "api_key" in given:
        given["api_key"] = parse_api_key(given["api_key"], "api_key")
        given["key_problem"] = None
    if "endpoint" in given:
        given["endpoint"] = check_endpoint(given["endpoint"], "endpoint")
    if "environment" in given:
        given["environment"] = check_environment(given["environment"], "environment")
    if "log_level" in given:
        given["log_level"] = check_log_level(given["log_level"], "log_level")
    if "compression" in given and given["compression"] not in _COMPRESSIONS:
        raise ConfigurationError(f"compression must be one of {', '.join(_COMPRESSIONS)}")
    for name in ("request_timeout", "export_deadline", "send_timeout"):
        if name in given:
            given[name] = _positive_number(given[name], name, allow_zero=name == "send_timeout")
    if "max_body_bytes" in given:
        given["max_body_bytes"] = _byte_count(given["max_body_bytes"], "max_body_bytes")
    _check_security(given)
    for name in ("spool_max_bytes", "max_queue_bytes"):
        if name in given:
            given[name] = int(_positive_number(given[name], name))
    if "spool_dir" in given:
        given["spool_dir"] = check_spool_dir(given["spool_dir"], "spool_dir")
    return replace(settings, **given)  # type: ignore[arg-type]


def _from_environment() -> Settings:
    """Defaults overlaid with the AGENTSIGHT_* environment; bad values are logged, not raised."""
    settings = Settings()
    raw_key = os.environ.get(ENV_API_KEY, "").strip()
    if raw_key:
        try:
            settings = replace(settings, api_key=parse_api_key(raw_key, ENV_API_KEY))
        except InvalidApiKeyError as exc:
            settings = replace(settings, key_problem=str(exc))
    for env, name, check in (
        (ENV_ENDPOINT, "endpoint", check_endpoint),
        (ENV_ENVIRONMENT, "environment", check_environment),
        (ENV_LOG_LEVEL, "log_level", check_log_level),
        (ENV_REDACT_PII, "redact", redactor_from_env),
        (ENV_SPOOL_DIR, "spool_dir", check_spool_dir),
    ):
        raw = os.environ.get(env, "").strip()
        if raw:
            try:
                settings = replace(settings, **{name: check(raw, env)})  # type: ignore[arg-type]
            except ConfigurationError as exc:
                logger.error("ignoring %s: %s", env, exc)
    return settings


def check_endpoint(value: object, source: str) -> str:
    """An http(s) base URL without query, fragment or credentials, with a usable host."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{source} must be a non-empty URL string")
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(f"{source} must be an http:// or https:// base URL")
    # Never echo the value: a key pasted into the wrong variable would land in the log.
    # isprintable is False for control characters and for the lone surrogates undecodable
    # environment bytes become.
    if not url.isprintable() or " " in url:
        raise ConfigurationError(f"{source} must not contain spaces or control characters")
    if "@" in parts.netloc:
        # requests would send them as Basic auth in place of the Api-Key header.
        raise ConfigurationError(f"{source} must not contain credentials (user:password@)")
    try:
        _ = parts.port  # ValueError when out of range
    except ValueError:
        raise ConfigurationError(f"{source} has an invalid port") from None
    if not parts.hostname:
        raise ConfigurationError(f"{source} has no host")
    return url.rstrip("/")


def check_environment(value: object, source: str) -> str:
    """A non-empty environment slug; the backend's list is checked at export time."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{source} must be a non-empty string such as 'production'")
    slug = value.strip().lower()
    if API_KEY_PATTERN.match(slug):
        # It would be logged, exported to every backend and shown in transcripts.
        raise ConfigurationError(f"{source} looks like an API key, not an environment name")
    return {"prod": "production", "dev": "development"}.get(slug, slug)


def check_spool_dir(value: object, source: str) -> str:
    """A directory path (created when the spool opens)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{source} must be a non-empty directory path")
    return os.path.abspath(os.path.expanduser(value.strip()))


def check_log_level(value: object, source: str) -> str:
    """One of the standard logging level names."""
    if not isinstance(value, str) or value.strip().upper() not in _LOG_LEVELS:
        raise ConfigurationError(f"{source} must be one of {', '.join(_LOG_LEVELS)}")
    return value.strip().upper()


def _check_security(given: dict[str, object]) -> None:
    """TLS verification is a real bool (0 or "no" must not pass); redaction options, built."""
    if "verify_tls" in given and not isinstance(given["verify_tls"], bool):
        raise ConfigurationError("verify_tls must be True or False")
    if "redact" in given:
        given["redact"] = redactor_from(given["redact"], "redact")


def _byte_count(value: object, name: str) -> int:
    """A whole number of bytes, at least one."""
    count = int(_positive_number(value, name))
    if count < 1:
        raise ConfigurationError(f"{name} must be at least 1 byte")
    return count


def _positive_number(value: object, name: str, *, allow_zero: bool = False) -> float:
    """A finite number above zero (or zero when allowed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        raise ConfigurationError(f"{name} must be finite") from None
    if not math.isfinite(number):
        raise ConfigurationError(f"{name} must be finite")
    if number < 0 or (number == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be greater than zero")
    return number


def apply_log_level(settings: Settings) -> None:
    """Set the library logger's level (never its handlers) when a level is configured."""
    if settings.log_level:
        logger.setLevel(settings.log_level)
