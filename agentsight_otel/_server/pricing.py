"""Cost estimates for model calls from genai-prices' bundled price table (never fetched)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

from agentsight_otel._log import log_internal_error
from agentsight_otel._server.validation import parse_timestamp

# The SQL function every usage query prices calls with, registered on each connection.
SQL_FUNCTION = "agentsight_cost_usd"
SQL_ARGUMENTS = (
    "model",
    "system",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "timestamp",
)
PRICED = "backend"
UNPRICED = "unpriced"


def cost_usd(
    model: str | None, system: str | None, counts: Sequence[int], timestamp: str | None
) -> Decimal | None:
    """One call's price in USD at the time it was made, or None when no price matches.

    counts are the call's input, output, cache read and cache write tokens, as stored: the
    input count excludes cache reads and writes, which genai-prices counts in.
    A provider genai-prices does not know (a local model server) leaves the call unpriced
    rather than borrowing some other host's rate for a model of the same name.
    """
    calculate = _calculator()
    if calculate is None or not model or model == "unknown":
        return None
    try:
        from genai_prices import Usage

        uncached, output, cache_read, cache_write = (max(0, int(n)) for n in counts)
        usage = Usage(
            input_tokens=uncached + cache_read + cache_write,
            output_tokens=output,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        )
        moment = parse_timestamp(timestamp)
        found = calculate(usage, model, provider_id=system or None, genai_request_timestamp=moment)
    except (LookupError, ValueError, TypeError, ArithmeticError):
        return None
    return Decimal(found.total_price)


def register(db: sqlite3.Connection) -> None:
    """Make cost_usd() callable from SQL on db (NULL for an unpriced call)."""
    db.create_function(SQL_FUNCTION, len(SQL_ARGUMENTS), _sql_cost, deterministic=True)


def sql_call(alias: str) -> str:
    """The SQL expression pricing one llm_usage row named alias."""
    return f"{SQL_FUNCTION}({', '.join(f'{alias}.{name}' for name in SQL_ARGUMENTS)})"


def usd_text(value: Decimal | float | None) -> str | None:
    """A cost as AgentSight serialises stored decimals ("0.00201250"), None kept as None."""
    return None if value is None else f"{Decimal(str(value)):.8f}"


def _sql_cost(*values: Any) -> float | None:
    """cost_usd() for SQLite, which has no decimal type; a failing price never fails a read."""
    model, system, *counts, timestamp = values
    try:
        price = cost_usd(model, system, [int(count or 0) for count in counts], timestamp)
    except Exception:
        log_internal_error("pricing a model call")
        return None
    return None if price is None else float(price)


@lru_cache(maxsize=1)
def _calculator() -> Any:
    """genai-prices' calc_price, or None when the package is not installed."""
    try:
        from genai_prices import calc_price
    except ImportError:
        return None
    return calc_price
