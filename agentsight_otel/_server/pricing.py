"""Cost estimates for model calls from genai-prices' bundled price table (never fetched)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from functools import lru_cache
from typing import Any

from agentsight_otel._log import guarded
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
    model: str | None,
    system: str | None,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int,
    cache_write_tokens: int,
    timestamp: str | None,
) -> Decimal | None:
    """One call's price in USD at the time it was made, or None when no price matches.

    The stored input count excludes cache reads and writes; genai-prices counts them in.
    A provider genai-prices does not know (a local model server) leaves the call unpriced
    rather than borrowing some other host's rate for a model of the same name.
    """
    calculate = _calculator()
    if calculate is None or not model or model == "unknown":
        return None
    try:
        from genai_prices import Usage

        usage = Usage(
            input_tokens=max(0, input_tokens) + max(0, cache_read_tokens) + max(0, cache_write_tokens),
            output_tokens=max(0, output_tokens),
            cache_read_tokens=max(0, cache_read_tokens),
            cache_write_tokens=max(0, cache_write_tokens),
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


@guarded("pricing a model call", None)
def _sql_cost(*values: Any) -> float | None:
    """cost_usd() for SQLite, which has no decimal type; a failing price never fails a read."""
    model, system, *counts, timestamp = values
    price = cost_usd(model, system, *(int(count or 0) for count in counts), timestamp)
    return None if price is None else float(price)


@lru_cache(maxsize=1)
def _calculator() -> Any:
    """genai-prices' calc_price, or None when the package is not installed."""
    try:
        from genai_prices import calc_price
    except ImportError:
        return None
    return calc_price
