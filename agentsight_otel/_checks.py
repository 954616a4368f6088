"""The checks settings go through: each takes a value and where it came from, returns the value
to keep or raises ``ConfigurationError`` naming the source (never echoing a secret)."""

from __future__ import annotations

import math
import os
import re
import threading
from urllib.parse import urlsplit

from agentsight_otel.exceptions import ConfigurationError, InvalidApiKeyError

API_KEY_PATTERN = re.compile(r"^ags_[0-9a-f]{32}_[0-9a-f]{6}$", re.IGNORECASE)
COMPRESSIONS = ("auto", "gzip", "none")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The largest count a setting or an id may hold: a signed 64-bit integer (SQLite's too).
MAX_COUNT = 2**63 - 1


# Any run this long of the key is masked wherever the key might be echoed back (a backend's
# error body, a proxy's page): shorter than the 12 characters that would narrow a guess.
_KEY_RUN = 8


class ApiKey:
    """An API key whose ``repr`` and ``str`` never show it."""

    __slots__ = ("_runs", "_secret")

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._runs: re.Pattern[str] | None = None

    def reveal(self) -> str:
        """The key itself, for the Authorization header only."""
        return self._secret

    def scrub(self, text: str) -> str:
        """``text`` with every run of the key (``_KEY_RUN`` characters or more) masked."""
        if self._runs is None:
            secret = self._secret
            grams = {secret[i : i + _KEY_RUN] for i in range(len(secret) - _KEY_RUN + 1)}
            alternatives = "|".join(sorted(map(re.escape, grams)))
            self._runs = re.compile(f"(?=({alternatives}))", re.IGNORECASE)
        spans: list[list[int]] = []
        for match in self._runs.finditer(text):
            start = match.start()
            if spans and start <= spans[-1][1]:
                spans[-1][1] = start + _KEY_RUN
            else:
                spans.append([start, start + _KEY_RUN])
        for start, end in reversed(spans):
            text = f"{text[:start]}ags_****{text[end:]}"
        return text

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
    if not isinstance(value, str) or value.strip().upper() not in LOG_LEVELS:
        raise ConfigurationError(f"{source} must be one of {', '.join(LOG_LEVELS)}")
    return value.strip().upper()


def check_compression(value: object, source: str) -> str:
    """One of the compression choices."""
    if value not in COMPRESSIONS:
        raise ConfigurationError(f"{source} must be one of {', '.join(COMPRESSIONS)}")
    return str(value)


_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def bool_from_env(raw: str, source: str) -> bool:
    """An environment switch: 1/true/yes/on or 0/false/no/off."""
    word = raw.strip().lower()
    if word in _TRUE_WORDS or word in _FALSE_WORDS:
        return word in _TRUE_WORDS
    raise ConfigurationError(f"{source} must be one of 1, 0, true, false, yes, no, on, off")


def check_bool(value: object, source: str) -> bool:
    """A real bool: 0 or "no" must not pass for False."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{source} must be True or False")
    return value


def positive_seconds(value: object, source: str) -> float:
    """A finite number of seconds above zero that a thread can wait for."""
    seconds = positive_number(value, source)
    # Beyond TIMEOUT_MAX every wait on the setting would raise OverflowError at run time.
    if seconds > threading.TIMEOUT_MAX:
        raise ConfigurationError(f"{source} must be at most {threading.TIMEOUT_MAX:.0f} seconds")
    return seconds


def positive_int(value: object, source: str) -> int:
    """A whole number above zero that fits a signed 64-bit count."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{source} must be a positive integer")
    if value > MAX_COUNT:
        raise ConfigurationError(f"{source} must be at most {MAX_COUNT}")
    return value


def seconds_from_env(value: object, source: str) -> float:
    """A variable's text as a positive number of seconds."""
    return positive_seconds(_number_text(value, source, "seconds"), source)


def _number_text(value: object, source: str, unit: str) -> float:
    """A variable's text as a number (its range is checked by the caller)."""
    try:
        return float(str(value))
    except ValueError:
        raise ConfigurationError(f"{source} must be a number of {unit}") from None


def seconds_or_zero(value: object, source: str) -> float:
    """A finite number of seconds, zero allowed."""
    return positive_number(value, source, allow_zero=True)


def milliseconds(value: object, source: str) -> int:
    """A whole number of milliseconds, zero allowed."""
    return round(positive_number(value, source, allow_zero=True))


def milliseconds_from_env(value: object, source: str) -> int:
    """A variable's text as a whole number of milliseconds, zero allowed."""
    return milliseconds(_number_text(value, source, "milliseconds"), source)


def byte_limit(value: object, source: str) -> int:
    """A size in bytes from a positive number (whole bytes)."""
    return int(positive_number(value, source))


def byte_count(value: object, source: str) -> int:
    """A whole number of bytes, at least one."""
    count = int(positive_number(value, source))
    if count < 1:
        raise ConfigurationError(f"{source} must be at least 1 byte")
    return count


def positive_number(value: object, name: str, *, allow_zero: bool = False) -> float:
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
