"""Read queries over the store's tables, each returning plain JSON-ready dicts."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from agentsight_otel._server import pricing

Record = dict[str, Any]

CONVERSATION_FIELDS = (
    "customer_id",
    "customer_ip_address",
    "device",
    "source",
    "language",
    "name",
    "environment",
)
TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
COUNTS = {
    "spans": "spans",
    "messages": "messages",
    "actions": "actions",
    "buttons": "buttons",
    "attachments": "attachments",
    "llm_calls": "llm_usage",
}


def conversation_pk(db: sqlite3.Connection, conversation_id: str) -> int | None:
    """The primary key of a conversation, or None when it does not exist."""
    row = db.execute(
        "SELECT id FROM conversations WHERE conversation_id = ?", (conversation_id,)
    ).fetchone()
    return None if row is None else int(row["id"])


def conversation(db: sqlite3.Connection, conversation_id: str) -> Record | None:
    """One conversation's fields, metadata, use flag and timestamps."""
    row = db.execute(
        "SELECT * FROM conversations WHERE conversation_id = ?", (conversation_id,)
    ).fetchone()
    return None if row is None else _conversation_record(row)


def conversations(db: sqlite3.Connection) -> list[Record]:
    """Every conversation, oldest first, with how much each one holds."""
    counts = ", ".join(
        f"(SELECT COUNT(*) FROM {table} t WHERE t.conversation = c.id) AS count_{name}"
        for name, table in COUNTS.items()
    )
    rows = db.execute(f"SELECT c.*, {counts} FROM conversations c ORDER BY c.id").fetchall()
    records = []
    for row in rows:
        record = _conversation_record(row)
        del record["metadata"]
        record["counts"] = {name: int(row[f"count_{name}"]) for name in COUNTS}
        records.append(record)
    return records


def messages(db: sqlite3.Connection, pk: int) -> list[Record]:
    """The transcript: messages by event time, then by arrival, each with its uploaded files.

    Each message says whether its turn completed, when not why (``incomplete_reason``), and
    when its turn ended.
    """
    rows = db.execute(
        "SELECT m.id, m.sender, m.content, m.metadata, m.timestamp, m.turn_id, m.turn_complete,"
        " m.incomplete_reason, s.ended_at AS turn_ended_at FROM messages m"
        " LEFT JOIN spans s ON s.conversation = m.conversation AND s.span_id = m.span_id"
        " WHERE m.conversation = ? ORDER BY m.ts_us, m.id",
        (pk,),
    ).fetchall()
    attached: dict[int, list[Record]] = {}
    for record in files(db, pk):
        if record["message"] is not None:
            attached.setdefault(record["message"]["id"], []).append(record)
    return [
        {
            **dict(row),
            "metadata": json.loads(row["metadata"]),
            "turn_complete": bool(row["turn_complete"]),
            "files": attached.get(row["id"], []),
        }
        for row in rows
    ]


def last_message(db: sqlite3.Connection, pk: int) -> Record | None:
    """A conversation's latest message (sender and content), or None."""
    row = db.execute(
        "SELECT sender, content FROM messages WHERE conversation = ?"
        " ORDER BY ts_us DESC, id DESC LIMIT 1",
        (pk,),
    ).fetchone()
    return None if row is None else dict(row)


def actions(db: sqlite3.Connection, pk: int) -> list[Record]:
    """The action log, by start time then arrival."""
    rows = db.execute(
        "SELECT name, kind, started_at, ended_at, duration_ms, status, arguments, response,"
        " error, escalation, turn_id, span_id FROM actions"
        " WHERE conversation = ? ORDER BY ts_us, id",
        (pk,),
    ).fetchall()
    records = []
    for row in rows:
        record = dict(row)
        arguments = row["arguments"]
        record["arguments"] = None if arguments is None else json.loads(arguments)
        record["escalation"] = bool(row["escalation"])
        records.append(record)
    return records


def buttons(db: sqlite3.Connection, pk: int) -> list[Record]:
    """Button clicks, by time then arrival."""
    rows = db.execute(
        "SELECT event, label, value, metadata, timestamp, span_id FROM buttons"
        " WHERE conversation = ? ORDER BY ts_us, id",
        (pk,),
    ).fetchall()
    return [{**dict(row), "metadata": json.loads(row["metadata"])} for row in rows]


def attachments(db: sqlite3.Connection, pk: int) -> list[Record]:
    """Attachment records (descriptors only), by time then arrival."""
    rows = db.execute(
        "SELECT sender, mode, count, files, timestamp, span_id, message_ref FROM attachments"
        " WHERE conversation = ? ORDER BY ts_us, id",
        (pk,),
    ).fetchall()
    return [{**dict(row), "files": json.loads(row["files"])} for row in rows]


# An upload names its message by pk, or by the reference the message event carried; the
# reference is resolved when read, so an upload may arrive before its message's spans.
_FILES = """
SELECT f.id, f.filename, f.mime_type, f.size, f.sha256, f.position, u.id AS upload,
       u.sender, u.mode, u.timestamp, u.ts_us, u.message_ref,
       m.id AS message_id, m.sender AS message_sender, m.content AS message_content,
       m.timestamp AS message_timestamp
FROM upload_files f
JOIN uploads u ON u.id = f.upload
LEFT JOIN messages m ON m.id = COALESCE(u.message, (
    SELECT r.id FROM messages r
    WHERE r.conversation = u.conversation AND r.message_ref = u.message_ref
    ORDER BY r.id LIMIT 1))
"""


def files(db: sqlite3.Connection, pk: int) -> list[Record]:
    """A conversation's uploaded files by upload time, each with its message (or None)."""
    rows = db.execute(
        _FILES + " WHERE u.conversation = ? ORDER BY u.ts_us, u.id, f.position", (pk,)
    ).fetchall()
    return [_file_record(row) for row in rows]


def file(db: sqlite3.Connection, file_id: int) -> Record | None:
    """One uploaded file's record."""
    row = db.execute(_FILES + " WHERE f.id = ?", (file_id,)).fetchone()
    return None if row is None else _file_record(row)


def upload(db: sqlite3.Connection, upload_id: int) -> Record:
    """What POST /api/attachments/ answers: the upload and its files."""
    row = db.execute(
        "SELECT u.id, u.conversation, c.conversation_id, u.message, u.message_ref, u.sender,"
        " u.mode, u.timestamp FROM uploads u JOIN conversations c ON c.id = u.conversation"
        " WHERE u.id = ?",
        (upload_id,),
    ).fetchone()
    stored = db.execute(_FILES + " WHERE f.upload = ? ORDER BY f.position", (upload_id,)).fetchall()
    return {**dict(row), "attachments": [_file_record(r) for r in stored]}


def _file_record(row: sqlite3.Row) -> Record:
    """An uploaded file as JSON, with where to download it."""
    message = None
    if row["message_id"] is not None:
        message = {
            "id": row["message_id"],
            "sender": row["message_sender"],
            "content": row["message_content"],
            "timestamp": row["message_timestamp"],
        }
    return {
        "id": row["id"],
        "filename": row["filename"],
        "mime_type": row["mime_type"],
        "size": row["size"],
        "sha256": row["sha256"],
        "upload": row["upload"],
        "sender": row["sender"],
        "mode": row["mode"],
        "timestamp": row["timestamp"],
        "message_ref": row["message_ref"],
        "message": message,
        "content_url": f"/api/attachments/{row['id']}/content/",
    }


def usage(db: sqlite3.Connection, pk: int) -> Record:
    """Token totals and estimated cost for a conversation, and the same per model."""
    sums = ", ".join(f"SUM({column}) AS {column}" for column in TOKEN_COLUMNS)
    rows = db.execute(
        f"SELECT model, COUNT(*) AS calls, {sums}, SUM(cost) AS cost, COUNT(cost) AS priced"
        f" FROM (SELECT *, {pricing.sql_call('u')} AS cost FROM llm_usage u"
        " WHERE u.conversation = ?) GROUP BY model ORDER BY model",
        (pk,),
    ).fetchall()
    by_model = {row["model"]: {**_usage_totals(row), **_model_cost(row)} for row in rows}
    totals = _usage_totals(None)
    for entry in by_model.values():
        for key in totals:
            totals[key] += entry[key]
    return {"totals": totals, "by_model": by_model, **costs(by_model.values())}


def empty_usage() -> Record:
    """The usage of a conversation with no model calls."""
    return {"totals": _usage_totals(None), "by_model": {}, **costs([])}


def costs(entries: Iterable[Record]) -> Record:
    """The summed cost of priced entries (None when none is) and which sources it mixes."""
    entries = list(entries)
    priced = [Decimal(e["cost_usd"]) for e in entries if e["cost_source"] == pricing.PRICED]
    sources = sorted({e["cost_source"] for e in entries})
    return {"cost_usd": pricing.usd_text(sum(priced)) if priced else None, "cost_sources": sources}


def spans(db: sqlite3.Connection, pk: int) -> list[Record]:
    """The raw span archive, in arrival order."""
    rows = db.execute("SELECT raw FROM spans WHERE conversation = ? ORDER BY id", (pk,)).fetchall()
    return [json.loads(row["raw"]) for row in rows]


def _usage_totals(row: sqlite3.Row | None) -> dict[str, int]:
    """Token counts from an aggregate row; total counts every billed category once."""
    totals = {column: 0 if row is None else int(row[column] or 0) for column in TOKEN_COLUMNS}
    # Reasoning tokens are a subset of output tokens, so they stay out of the total.
    totals["total_tokens"] = (
        totals["input_tokens"]
        + totals["output_tokens"]
        + totals["cache_read_tokens"]
        + totals["cache_write_tokens"]
    )
    totals["calls"] = 0 if row is None else int(row["calls"])
    return totals


def _model_cost(row: sqlite3.Row) -> Record:
    """A model's cost when every one of its calls was priced; otherwise it is unpriced."""
    if row["priced"] == row["calls"]:
        return {"cost_usd": pricing.usd_text(row["cost"]), "cost_source": pricing.PRICED}
    return {"cost_usd": None, "cost_source": pricing.UNPRICED}


def _conversation_record(row: sqlite3.Row) -> Record:
    """A conversations row as a dict with decoded metadata and a boolean use flag."""
    record: Record = {"id": int(row["id"]), "conversation_id": row["conversation_id"]}
    record.update({key: row[key] for key in CONVERSATION_FIELDS})
    metadata = row["metadata"]
    record["metadata"] = {} if metadata is None else json.loads(metadata)
    record["is_used"] = bool(row["is_used"])
    record["created_at"] = row["created_at"]
    record["updated_at"] = row["updated_at"]
    return record
