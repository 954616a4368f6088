"""Template filters: times, durations, sizes, counts and JSON as people read them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timezone
from typing import Any

from agentsight_otel._server.validation import parse_timestamp


def clock(value: object) -> str:
    """HH:MM:SS in UTC, or a dash."""
    moment = parse_timestamp(value)
    return "-" if moment is None else f"{moment.astimezone(timezone.utc):%H:%M:%S}"


def day_time(value: object) -> str:
    """YYYY-MM-DD HH:MM in UTC, or a dash."""
    moment = parse_timestamp(value)
    return "-" if moment is None else f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M}"


def duration(value: object) -> str:
    """Milliseconds as ms below a second, as seconds above."""
    millis = float(value) if isinstance(value, (int, float)) else 0.0
    if millis < 1000:
        return f"{millis:.0f} ms" if millis >= 10 else f"{millis:.1f} ms"
    return f"{millis / 1000:.2f} s"


def size(value: object) -> str:
    """Bytes as B, KB or MB."""
    count = int(value) if isinstance(value, (int, float)) else 0
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / 1024 / 1024:.1f} MB"


def number(value: object) -> str:
    """An integer with thousands separators."""
    return f"{int(value):,}" if isinstance(value, (int, float)) else "0"


def pretty(value: object) -> str:
    """JSON (or JSON text) indented for reading; other text as it is."""
    if not isinstance(value, str):
        return json.dumps(value, indent=2, ensure_ascii=False)
    try:
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    except ValueError:
        return value


def sender(value: object) -> str:
    """A sender as a label."""
    names = {"end_user": "User", "agent": "Agent"}
    text = str(value or "unknown")
    return names.get(text, text.replace("_", " ").title())


# What the incomplete reasons the tracker writes mean (agentsight.turn.incomplete_reason).
INCOMPLETE_REASONS = {
    "shutdown": "open when the process exited",
    "evicted": "retired past the tracker's capacity",
    "abandoned": "untracked for idle_timeout",
    "error": "the invocation failed",
}


def incomplete(reason: object) -> str:
    """An incomplete turn's mark: incomplete, and its reason when the producer gave one."""
    return f"incomplete: {reason}" if reason else "incomplete"


def incomplete_why(reason: object) -> str:
    """What an incomplete reason means, or empty when it is not one the tracker writes."""
    return INCOMPLETE_REASONS.get(str(reason), "")


FILTERS: dict[str, Callable[[Any], str]] = {
    "clock": clock,
    "day_time": day_time,
    "duration": duration,
    "size": size,
    "number": number,
    "pretty": pretty,
    "sender": sender,
    "incomplete": incomplete,
    "incomplete_why": incomplete_why,
}
