"""Numbers from outside (paths, queries, upload fields, the command line), bounded before use."""

from __future__ import annotations

from agentsight_otel._checks import MAX_COUNT

# SQLite's INTEGER is a signed 64-bit value: a larger one fails when bound (OverflowError).
SQLITE_MAX = MAX_COUNT
_MAX_DIGITS = len(str(SQLITE_MAX))
MAX_PAGE_SIZE = 100
# The last page whose offset still fits SQLite's integer at the largest page size.
MAX_PAGE = SQLITE_MAX // MAX_PAGE_SIZE


def whole_number(text: str, maximum: int = SQLITE_MAX) -> int | None:
    """A non-negative integer in ASCII digits, at most maximum; None for anything else.

    Longer texts are refused before int() sees them (Python limits int() to 4300 digits).
    """
    if not 0 < len(text) <= _MAX_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= maximum else None


def page_number(text: str) -> int | None:
    """A page number from 1 to MAX_PAGE, or None (the caller answers 404)."""
    number = whole_number(text, MAX_PAGE)
    return number if number else None


def page_size(text: str) -> int:
    """The page size asked for, clamped to 1..100 as AgentSight clamps it (100 when unreadable)."""
    asked = whole_number(text)
    return MAX_PAGE_SIZE if asked is None else max(1, min(asked, MAX_PAGE_SIZE))
