"""Queries behind AgentSight's agent-wide reads: action definitions, spans, traces, token usage."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from agentsight_otel._server import pricing
from agentsight_otel._server.numbers import whole_number
from agentsight_otel._server.read_conversations import ENVIRONMENT_ALIASES, Query
from agentsight_otel._server.reads import TOKEN_COLUMNS, Record, costs

TRACE_LIMIT = 1000
_SPAN_FILTERS = {
    "conversation": "s.conversation = ?",
    "conversation_id": "c.conversation_id = ?",
    "kind": "s.kind = ?",
    "name": "s.name = ?",
    "parent_span_id": "s.parent_span_id = ?",
    "span_id": "s.span_id = ?",
    "status": "s.status = ?",
    "trace_id": "s.trace_id = ?",
    "started_at_after": "s.started_at >= ?",
    "started_at_before": "s.started_at <= ?",
}
_SPANS = (
    "SELECT s.id, s.conversation, c.conversation_id, s.span_id, s.trace_id, s.parent_span_id,"
    " s.kind, s.name, s.started_at, s.ended_at, s.duration_ms, s.status, s.raw"
    " FROM spans s JOIN conversations c ON c.id = s.conversation"
)
_USAGE_FILTERS = {
    "conversation": "conversation = ?",
    "conversation_id": "conversation_id = ?",
    "model": "model = ?",
    "turn_id": "turn_id = ?",
    "started_at_after": "started_at >= ?",
    "started_at_before": "started_at <= ?",
}
_SUMS = ", ".join(f"SUM(u.{column}) AS {column}" for column in TOKEN_COLUMNS)
# One row per (turn, model): an llm span's turn is its parent span. Each call is priced at
# its own time; a row is priced only when all of its calls are.
_USAGE = f"""
WITH usage_rows AS (
  SELECT MIN(u.id) AS id, u.conversation, c.conversation_id, c.environment, u.model,
         COUNT(*) AS calls, {_SUMS}, MIN(u.timestamp) AS started_at, SUM(u.cost) AS cost,
         CASE WHEN COUNT(u.cost) = COUNT(*) THEN '{pricing.PRICED}'
              ELSE '{pricing.UNPRICED}' END AS cost_source,
         COALESCE(json_extract(p.raw, '$.attributes."agentsight.turn.id"'), p.span_id,
                  u.span_id) AS turn_id,
         MAX(p.kind = 'turn' AND COALESCE(json_extract(p.raw,
             '$.attributes."agentsight.turn.complete"'), 0) NOT IN (1, 'true')) AS incomplete
  FROM (SELECT *, {pricing.sql_call("x")} AS cost FROM llm_usage x) u
  JOIN conversations c ON c.id = u.conversation
  LEFT JOIN spans s ON s.conversation = u.conversation AND s.span_id = u.span_id
  LEFT JOIN spans p ON p.conversation = u.conversation AND p.span_id = s.parent_span_id
  GROUP BY u.conversation, turn_id, u.model)
"""


def actions(db: sqlite3.Connection, filters: Mapping[str, str]) -> list[Record]:
    """Action definitions: one per name this agent's spans used, identified by its first log."""
    rows = db.execute(
        "SELECT MIN(id) AS id, name, MIN(kind) AS kind, MIN(started_at) AS created_at,"
        " MAX(started_at) AS updated_at, COUNT(*) AS calls FROM actions GROUP BY name ORDER BY id"
    ).fetchall()
    records = [{**dict(row), "display_name": row["name"], "description": ""} for row in rows]
    name, fragment = filters.get("name"), (filters.get("name__icontains") or "").lower()
    search = (filters.get("search") or "").lower()
    return [
        record
        for record in records
        if (not name or record["name"] == name)
        and fragment in record["name"].lower()
        and search in record["name"].lower()
        and filters.get("display_name") in (None, "", record["name"])
    ]


def action(db: sqlite3.Connection, action_id: int) -> Record | None:
    """One action definition by id."""
    return next((a for a in actions(db, {}) if a["id"] == action_id), None)


def action_logs(db: sqlite3.Connection, action_id: int) -> list[Record] | None:
    """Every invocation of an action, oldest first; None when the action is unknown."""
    found = action(db, action_id)
    if found is None:
        return None
    rows = db.execute(
        "SELECT a.id, a.conversation, c.conversation_id, a.name, a.kind, a.started_at,"
        " a.ended_at, a.duration_ms, a.status, a.arguments, a.response, a.error, a.escalation,"
        " a.turn_id, a.span_id FROM actions a JOIN conversations c ON c.id = a.conversation"
        " WHERE a.name = ? ORDER BY a.ts_us, a.id",
        (found["name"],),
    ).fetchall()
    return [_log(row, action_id) for row in rows]


def span_query(filters: Mapping[str, str]) -> Query:
    """WHERE and ORDER BY for the span list's filters; unknown ones are ignored."""
    clauses, params = _conditions(_SPAN_FILTERS, filters)
    environment = filters.get("environment")
    if environment:
        clauses.append("c.environment = ?")
        params.append(ENVIRONMENT_ALIASES.get(environment.lower(), environment.lower()))
    ordering = filters.get("ordering") or "-started_at"
    column = {"started_at": "s.started_at", "duration_ms": "s.duration_ms", "id": "s.id"}
    direction = "DESC" if ordering.startswith("-") else "ASC"
    order = f"{column.get(ordering.lstrip('-'), 's.started_at')} {direction}, s.id {direction}"
    return Query(" AND ".join(clauses) or "1", tuple(params), order)


def spans(
    db: sqlite3.Connection, query: Query, offset: int, limit: int
) -> tuple[int, list[Record]]:
    """How many spans match, and one page of them (never with payload)."""
    total = db.execute(
        f"SELECT COUNT(*) FROM ({_SPANS} WHERE {query.where})", query.params
    ).fetchone()[0]
    rows = db.execute(
        f"{_SPANS} WHERE {query.where} ORDER BY {query.order} LIMIT ? OFFSET ?",
        (*query.params, limit, offset),
    ).fetchall()
    return int(total), [_span(row, payload=False) for row in rows]


def span(db: sqlite3.Connection, span_pk: int, *, payload: bool) -> Record | None:
    """One span by its integer id, with the verbatim span when asked."""
    row = db.execute(f"{_SPANS} WHERE s.id = ?", (span_pk,)).fetchone()
    return None if row is None else _span(row, payload=payload)


def trace(db: sqlite3.Connection, trace_id: str) -> Record | None:
    """One trace nested by parent_span_id; None when no span carries that trace id."""
    rows = db.execute(
        f"{_SPANS} WHERE s.trace_id = ? ORDER BY s.started_at, s.id LIMIT ?",
        (trace_id, TRACE_LIMIT + 1),
    ).fetchall()
    if not rows:
        return None
    nodes = [{**_span(row, payload=False), "children": []} for row in rows[:TRACE_LIMIT]]
    by_id = {(node["conversation"], node["span_id"]): node for node in nodes}
    roots: list[Record] = []
    for node in nodes:
        parent = by_id.get((node["conversation"], node["parent_span_id"]))
        (parent["children"] if parent is not None else roots).append(node)
    return {
        "trace_id": trace_id,
        "span_count": len(nodes),
        "truncated": len(rows) > TRACE_LIMIT,
        "roots": roots,
    }


def usage_query(filters: Mapping[str, str]) -> Query:
    """WHERE for the token-usage filters."""
    clauses, params = _conditions(_USAGE_FILTERS, filters)
    if filters.get("environment"):
        clauses.append("environment = ?")
        params.append(filters["environment"].lower())
    incomplete = (filters.get("incomplete") or "").lower()
    if incomplete in ("true", "false"):
        clauses.append("incomplete = ?")
        params.append(int(incomplete == "true"))
    if filters.get("cost_source"):
        clauses.append("cost_source = ?")
        params.append(filters["cost_source"])
    ordering = filters.get("ordering") or "-started_at"
    direction = "DESC" if ordering.startswith("-") else "ASC"
    column = ordering.lstrip("-") if ordering.lstrip("-") in ("started_at", "model") else "id"
    return Query(" AND ".join(clauses) or "1", tuple(params), f"{column} {direction}, id")


def usage(
    db: sqlite3.Connection, query: Query, offset: int, limit: int
) -> tuple[int, list[Record]]:
    """How many (turn, model) usage rows match, and one page of them."""
    where = f"SELECT * FROM usage_rows WHERE {query.where}"
    total = db.execute(f"{_USAGE} SELECT COUNT(*) FROM ({where})", query.params).fetchone()[0]
    rows = db.execute(
        f"{_USAGE} {where} ORDER BY {query.order} LIMIT ? OFFSET ?", (*query.params, limit, offset)
    ).fetchall()
    return int(total), [_usage_row(row) for row in rows]


def usage_summary(db: sqlite3.Connection, query: Query, group_by: str) -> list[Record]:
    """Usage rows rolled up by model, conversation or day, most tokens first, with their cost."""
    groups: dict[str, Record] = {}
    members: dict[str, list[Record]] = {}
    for row in usage(db, query, 0, -1)[1]:
        key = {"model": row["model"], "conversation": row["conversation_id"]}.get(
            group_by, str(row["started_at"])[:10]
        )
        group = groups.setdefault(key, {"group": key, "calls": 0, "rows": 0, **_zero_tokens()})
        members.setdefault(key, []).append(row)
        group["rows"] += 1
        for column in ("calls", *TOKEN_COLUMNS, "total_tokens"):
            group[column] += row[column]
    ordered = sorted(groups.values(), key=lambda g: (-g["total_tokens"], g["group"]))
    # The real summary's cost_usd is always a number: unpriced rows add nothing to it.
    results = []
    for group in ordered:
        cost = costs(members[group["group"]])
        results.append({**group, **cost, "cost_usd": float(cost["cost_usd"] or 0)})
    return results


def _conditions(
    known: Mapping[str, str], filters: Mapping[str, str]
) -> tuple[list[str], list[object]]:
    """SQL conditions and parameters for the filters present."""
    clauses: list[str] = []
    params: list[object] = []
    for name, condition in known.items():
        value = filters.get(name)
        if value:
            clauses.append(condition)
            number = whole_number(value) if name == "conversation" else None
            params.append(value if number is None else number)
    return clauses, params


def _span(row: sqlite3.Row, *, payload: bool) -> Record:
    """A span row as the span routes answer it."""
    raw: dict[str, Any] = json.loads(row["raw"])
    record = dict(row)
    del record["raw"]
    record["attributes"] = raw.get("attributes", {})
    record["events"] = raw.get("events", [])
    if payload:
        record["payload"] = raw
    return record


def _log(row: sqlite3.Row, action_id: int) -> Record:
    """One action log row."""
    record = dict(row)
    record["action"] = action_id
    record["arguments"] = None if row["arguments"] is None else json.loads(row["arguments"])
    record["escalation"] = bool(row["escalation"])
    return record


def _usage_row(row: sqlite3.Row) -> Record:
    """One (turn, model) usage row, its cost as the decimal text AgentSight answers."""
    record: Record = dict(row)
    record["cost_usd"] = pricing.usd_text(record.pop("cost"))
    record["incomplete"] = bool(row["incomplete"])
    for column in TOKEN_COLUMNS:
        record[column] = int(row[column] or 0)
    record["total_tokens"] = sum(record[c] for c in TOKEN_COLUMNS if c != "reasoning_tokens")
    record["unreported_calls"] = 0
    if record["cost_source"] != pricing.PRICED:
        record["cost_usd"] = None
    return record


def _zero_tokens() -> dict[str, int]:
    """Zeroed token counters."""
    return dict.fromkeys((*TOKEN_COLUMNS, "total_tokens"), 0)
