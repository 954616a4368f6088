"""Template filters: times, durations, sizes, counts and JSON as people read them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timezone
from decimal import Decimal

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


def counted(value: object, singular: str, plural: str | None = None) -> str:
    """A count with its noun in the right number: 1 answer, 2 answers."""
    count = int(value) if isinstance(value, (int, float)) else 0
    return f"{count:,} {singular if count == 1 else plural or singular + 's'}"


def cost(value: object) -> str:
    """An estimated USD cost as people read it (≈ $0.0123), or unpriced for None."""
    if value is None or value == "":
        return "unpriced"
    amount = Decimal(str(value))
    if amount >= 1 or amount == 0:
        return f"≈ ${amount:.2f}"
    # Four decimals, or more for tiny amounts so the first two significant digits show.
    places = min(max(4, -amount.adjusted() + 1), 10)
    return f"≈ ${amount:.{places}f}"


def one_line(value: object, limit: int = 140) -> str:
    """Text on one line (whitespace collapsed), cut to limit characters with an ellipsis."""
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


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


# Where a turn made model calls but no message reached it (GenAI spans without content).
NO_CONTENT_HINT = (
    "No message content captured — enable content capture in your instrumentation"
    " (e.g. OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true)"
)

FILTERS: dict[str, Callable[..., str]] = {
    "clock": clock,
    "cost": cost,
    "counted": counted,
    "one_line": one_line,
    "day_time": day_time,
    "duration": duration,
    "size": size,
    "number": number,
    "pretty": pretty,
    "sender": sender,
    "incomplete": incomplete,
    "incomplete_why": incomplete_why,
}
