"""Turning the caller's ``started_at``/``ended_at``/``duration_ms`` into span times."""

from __future__ import annotations

import datetime as dt
import math

from agentsight_otel.exceptions import ValidationError

Moment = dt.datetime | float | int


def to_ns(value: object, name: str) -> int:
    """A datetime (naive means UTC) or epoch seconds as nanoseconds since the epoch."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
        return round(aware.timestamp() * 1e6) * 1000
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise ValidationError(f"{name} must be a finite, non-negative epoch time")
        return round(value * 1e9)
    raise ValidationError(f"{name} must be a datetime or epoch seconds, not {type(value).__name__}")


def duration_ns(value: object) -> int:
    """A duration in milliseconds as nanoseconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"duration_ms must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValidationError("duration_ms must be a finite number >= 0")
    return round(value * 1e6)


def action_window(
    started_at: object, ended_at: object, duration_ms: object, now_ns: int
) -> tuple[int, int]:
    """Start and end in ns; explicit start and end win over a duration, now fills the rest."""
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
