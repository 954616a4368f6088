"""Turning the caller's ``started_at``/``ended_at``/``duration_ms`` into span times."""

from __future__ import annotations

import datetime as dt

from agentsight_otel.exceptions import ValidationError

# 2554-01-01T00:00:00Z: OTLP carries span times as unsigned 64-bit nanoseconds, which end in
# July 2554, so a later time would make every OTLP exporter on the provider drop the batch.
MAX_EPOCH_SECONDS = 18_429_292_800
YEARS = "the years 1970 to 2553"


def to_ns(value: object, name: str) -> int:
    """A datetime or ISO-8601 text (naive means UTC), or epoch seconds, as ns since the epoch."""
    if isinstance(value, str):  # what the 0.0.x SDK took
        value = _parse_iso(value, name)
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
        seconds = aware.timestamp()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value
    else:
        raise ValidationError(
            f"{name} must be a datetime, ISO-8601 text or epoch seconds, not {type(value).__name__}"
        )
    # Outside what OTLP (and the wire's ISO-8601) can carry, a time would fail the whole batch.
    # (Comparing, not math.isfinite: NaN fails it too, and a huge int cannot become a float.)
    if not 0 <= seconds < MAX_EPOCH_SECONDS:
        raise ValidationError(f"{name} must be a time in {YEARS}")
    if isinstance(value, dt.datetime):
        return round(seconds * 1e6) * 1000
    return round(seconds * 1e9)


def _parse_iso(text: str, name: str) -> dt.datetime:
    """ISO-8601 text (``Z`` for UTC accepted) as a datetime."""
    try:
        return dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{name} is not an ISO-8601 time: {text[:40]!r}") from None


def duration_ns(value: object) -> int:
    """A duration in milliseconds as nanoseconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"duration_ms must be a number, not {type(value).__name__}")
    if not 0 <= value < MAX_EPOCH_SECONDS * 1000:
        raise ValidationError("duration_ms must be a finite number >= 0")
    return round(value * 1e6)


def action_window(
    started_at: object, ended_at: object, duration_ms: object, now_ns: int
) -> tuple[int, int]:
    """Start and end in ns; explicit start and end win over a duration, now fills the rest."""
    start, end = _window(started_at, ended_at, duration_ms, now_ns)
    if start < 0 or end >= MAX_EPOCH_SECONDS * 1_000_000_000:
        raise ValidationError(f"duration_ms puts the action outside {YEARS}")
    return start, end


def _window(
    started_at: object, ended_at: object, duration_ms: object, now_ns: int
) -> tuple[int, int]:
    """Start and end from whichever of the three were given."""
    start = to_ns(started_at, "started_at") if started_at is not None else None
    end = to_ns(ended_at, "ended_at") if ended_at is not None else None
    length = duration_ns(duration_ms) if duration_ms is not None else None
    if start is not None and end is not None:
        if end < start:
            raise ValidationError("ended_at must not be before started_at")
        return start, end
    if start is not None:
        return start, start + length if length is not None else max(start, now_ns)
    if end is not None:
        return (end - length if length is not None else end), end
    return now_ns - (length or 0), now_ns
