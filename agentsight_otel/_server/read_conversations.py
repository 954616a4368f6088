"""Queries behind AgentSight's conversation reads: filtered, ordered, paged, full records."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timezone

from agentsight_otel._server import reads
from agentsight_otel._server.numbers import whole_number
from agentsight_otel._server.reads import Record
from agentsight_otel._server.validation import parse_timestamp

# Filter name -> SQL condition over the conversations row `c`; each takes one parameter.
_EXACT = {
    "conversation_id": "c.conversation_id = ?",
    "customer_id": "c.customer_id = ?",
    "customer_ip_address": "c.customer_ip_address = ?",
    "device": "c.device = ?",
    "source": "c.source = ?",
    "language": "c.language = ?",
    "name": "c.name = ?",
    "customer_id__icontains": "instr(lower(c.customer_id), lower(?)) > 0",
    "message_contains": "EXISTS (SELECT 1 FROM messages m WHERE m.conversation = c.id"
    " AND instr(lower(m.content), lower(?)) > 0)",
    "action_name": "EXISTS (SELECT 1 FROM actions a WHERE a.conversation = c.id AND a.name = ?)",
    "started_at_after": "c.created_at >= ?",
    "started_at_before": "c.created_at <= ?",
}
_SEARCH = (
    "(instr(lower(c.conversation_id), lower(?1)) > 0 OR instr(lower(coalesce(c.name, '')),"
    " lower(?1)) > 0 OR instr(lower(coalesce(c.customer_id, '')), lower(?1)) > 0 OR EXISTS"
    " (SELECT 1 FROM messages m WHERE m.conversation = c.id AND instr(lower(m.content),"
    " lower(?1)) > 0))"
)
_FLAGS = {
    "has_messages": "EXISTS (SELECT 1 FROM messages m WHERE m.conversation = c.id)",
    "has_action": "EXISTS (SELECT 1 FROM actions a WHERE a.conversation = c.id)",
    "is_used": "c.is_used = 1",
}
# Always answered the same way locally: nothing is deleted, marked, ticketed or rated here.
_NEVER = ("has_feedback", "is_marked", "include_tickets")
_ORDERINGS = {"started_at": "c.created_at", "updated_at": "c.updated_at", "id": "c.id"}
_ORDERINGS.update(name="c.name", conversation_id="c.conversation_id")
ENVIRONMENT_ALIASES = {"prod": "production", "dev": "development"}


@dataclass(frozen=True)
class Query:
    """A WHERE clause with its parameters, and an ORDER BY."""

    where: str
    params: tuple[object, ...]
    order: str


def conversation_query(filters: Mapping[str, str]) -> Query:
    """The SQL for the filters the vendor client sends; unknown ones are ignored."""
    clauses: list[str] = []
    params: list[object] = []
    for name, condition in _EXACT.items():
        value = filters.get(name)
        if value:
            clauses.append(condition.replace("?", f"?{len(params) + 1}"))
            params.append(_moment(value) if name.startswith("started_at") else value)
    search = filters.get("search")
    if search:
        clauses.append(_SEARCH.replace("?1", f"?{len(params) + 1}"))
        params.append(search)
    environment = filters.get("env") or filters.get("environment")
    if environment:
        clauses.append(f"c.environment = ?{len(params) + 1}")
        params.append(ENVIRONMENT_ALIASES.get(environment.lower(), environment.lower()))
    for name, condition in _FLAGS.items():
        flag = _boolean(filters.get(name))
        if flag is not None:
            clauses.append(condition if flag else f"NOT {condition}")
    if any(_boolean(filters.get(name)) for name in _NEVER):
        clauses.append("0")
    return Query(" AND ".join(clauses) or "1", tuple(params), _ordering(filters.get("ordering")))


def count(db: sqlite3.Connection, query: Query) -> int:
    """How many conversations match."""
    return int(
        db.execute(
            f"SELECT COUNT(*) FROM conversations c WHERE {query.where}", query.params
        ).fetchone()[0]
    )


def page(db: sqlite3.Connection, query: Query, offset: int, limit: int) -> list[Record]:
    """One page of matching conversations, with counts and token totals."""
    rows = db.execute(
        f"SELECT c.id, c.conversation_id FROM conversations c WHERE {query.where}"
        f" ORDER BY {query.order} LIMIT ? OFFSET ?",
        (*query.params, limit, offset),
    ).fetchall()
    return [summary(db, row["conversation_id"]) for row in rows]


def summary(db: sqlite3.Connection, conversation_id: str) -> Record:
    """A list row: the conversation's fields, counts and token total."""
    record = reads.conversation(db, conversation_id)
    assert record is not None
    pk = record["id"]
    record["started_at"] = record["created_at"]
    record["is_deleted"] = False
    record["counts"] = {
        name: int(
            db.execute(f"SELECT COUNT(*) FROM {table} WHERE conversation = ?", (pk,)).fetchone()[0]
        )
        for name, table in reads.COUNTS.items()
    }
    record["total_tokens"] = reads.usage(db, pk)["totals"]["total_tokens"]
    return record


def full(db: sqlite3.Connection, conversation_id: str) -> Record:
    """The whole conversation as AgentSight's detail view carries it."""
    record = summary(db, conversation_id)
    pk = record["id"]
    usage = reads.usage(db, pk)
    record["messages"] = [_with_attachments(message) for message in reads.messages(db, pk)]
    record["attachments"] = reads.files(db, pk)
    record["action_logs"] = reads.actions(db, pk)
    record["buttons"] = reads.buttons(db, pk)
    record["tickets"] = []
    record["token_usage"] = usage if usage["by_model"] else None
    return record


def by_pk(db: sqlite3.Connection, pk: int) -> str | None:
    """The conversation_id of a primary key, or None."""
    row = db.execute("SELECT conversation_id FROM conversations WHERE id = ?", (pk,)).fetchone()
    return None if row is None else str(row["conversation_id"])


def resolve(db: sqlite3.Connection, reference: str) -> str | None:
    """The conversation_id a path names: an integer is a pk first, then a conversation_id."""
    pk = whole_number(reference)
    found = None if pk is None else by_pk(db, pk)
    if found is None and reads.conversation_pk(db, reference) is not None:
        found = reference
    return found


def message(db: sqlite3.Connection, message_id: int) -> Record | None:
    """One message with its conversation, files and its turn's action logs."""
    row = db.execute(
        "SELECT m.conversation, c.conversation_id, m.turn_id FROM messages m"
        " JOIN conversations c ON c.id = m.conversation WHERE m.id = ?",
        (message_id,),
    ).fetchone()
    if row is None:
        return None
    pk = int(row["conversation"])
    found = next(m for m in reads.messages(db, pk) if m["id"] == message_id)
    actions = [a for a in reads.actions(db, pk) if a["turn_id"] == row["turn_id"]]
    return {
        **_with_attachments(found),
        "conversation": pk,
        "conversation_id": row["conversation_id"],
        "action_logs": actions,
        "vote": None,
    }


def _with_attachments(message: Record) -> Record:
    """A transcript message with its uploaded files under the name AgentSight uses."""
    record = dict(message)
    record["attachments"] = record.pop("files")
    return record


def _ordering(value: str | None) -> str:
    """ORDER BY for an `ordering` parameter; newest first when absent or unknown."""
    descending = bool(value) and str(value).startswith("-")
    column = _ORDERINGS.get(str(value or "").lstrip("-"))
    if column is None:
        return "c.created_at DESC, c.id DESC"
    direction = "DESC" if descending else "ASC"
    return f"{column} {direction}, c.id {direction}"


def _boolean(value: str | None) -> bool | None:
    """Django's query booleans: true/false (also 1/0); None when absent or unreadable."""
    lowered = (value or "").strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    return None


def _moment(value: str) -> str:
    """A date filter as the UTC ISO text timestamps are stored in (dates mean midnight UTC)."""
    parsed = parse_timestamp(value if "T" in value else f"{value}T00:00:00+00:00")
    if parsed is None:
        parsed = parse_timestamp(f"{value}+00:00")
    return value if parsed is None else parsed.astimezone(timezone.utc).isoformat()
