"""The SQLite schema of the local server: conversations, the raw span archive and projections."""

from __future__ import annotations

import json
import sqlite3

from agentsight_otel import _semconv as sc
from agentsight_otel._server import pricing
from agentsight_otel._server.projections import Row, is_true, project_span

# Projections carry the span id and an integer sort key (microseconds since the epoch), so
# timestamps written with different UTC offsets still order correctly.
SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL UNIQUE,
    customer_id TEXT,
    customer_ip_address TEXT,
    device TEXT,
    source TEXT,
    language TEXT,
    name TEXT,
    environment TEXT,
    metadata TEXT,
    is_used INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS spans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation INTEGER NOT NULL REFERENCES conversations(id),
    span_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    parent_span_id TEXT,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    status TEXT NOT NULL,
    raw TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (conversation, span_id)
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation INTEGER NOT NULL REFERENCES conversations(id),
    span_id TEXT NOT NULL,
    turn_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    message_ref TEXT,
    turn_complete INTEGER NOT NULL DEFAULT 1,
    incomplete_reason TEXT
);
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation INTEGER NOT NULL REFERENCES conversations(id),
    span_id TEXT NOT NULL,
    turn_id TEXT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    status TEXT NOT NULL,
    arguments TEXT,
    response TEXT,
    error TEXT,
    escalation INTEGER NOT NULL,
    ts_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS buttons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation INTEGER NOT NULL REFERENCES conversations(id),
    span_id TEXT NOT NULL,
    event TEXT,
    label TEXT,
    value TEXT,
    metadata TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    ts_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation INTEGER NOT NULL REFERENCES conversations(id),
    span_id TEXT NOT NULL,
    sender TEXT,
    mode TEXT,
    count INTEGER NOT NULL,
    files TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    message_ref TEXT
);
CREATE TABLE IF NOT EXISTS llm_usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation INTEGER NOT NULL REFERENCES conversations(id),
    span_id TEXT NOT NULL,
    model TEXT NOT NULL,
    system TEXT,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    ts_us INTEGER NOT NULL
);
-- Uploaded files (POST /api/attachments/): the bytes live on disk, named by their sha256.
CREATE TABLE IF NOT EXISTS uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation INTEGER NOT NULL REFERENCES conversations(id),
    message INTEGER REFERENCES messages(id),
    message_ref TEXT,
    sender TEXT NOT NULL,
    mode TEXT NOT NULL,
    metadata TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS upload_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    upload INTEGER NOT NULL REFERENCES uploads(id),
    position INTEGER NOT NULL,
    filename TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_time ON messages (conversation, ts_us, id);
CREATE INDEX IF NOT EXISTS actions_by_time ON actions (conversation, ts_us, id);
CREATE INDEX IF NOT EXISTS buttons_by_time ON buttons (conversation, ts_us, id);
CREATE INDEX IF NOT EXISTS attachments_by_time ON attachments (conversation, ts_us, id);
CREATE INDEX IF NOT EXISTS llm_usage_by_model ON llm_usage (conversation, model);
CREATE INDEX IF NOT EXISTS uploads_by_time ON uploads (conversation, ts_us, id);
CREATE INDEX IF NOT EXISTS upload_files_by_upload ON upload_files (upload, position);
"""

PROJECTION_TABLES = frozenset({"messages", "actions", "buttons", "attachments", "llm_usage"})


def connect(path: str) -> sqlite3.Connection:
    """Open (and create if needed) a database shared by the server's threads."""
    # One connection for every thread: the Store serialises access with its own lock, and
    # isolation_level=None hands transaction control to the Store's explicit BEGIN/COMMIT.
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    pricing.register(db)
    db.execute("PRAGMA foreign_keys = ON")
    if path != ":memory:":
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
    db.executescript(SCHEMA)
    _add_missing_columns(db)
    return db


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Columns added after a database file was created (CREATE TABLE IF NOT EXISTS skips them)."""
    for table in ("messages", "attachments"):
        columns = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
        if "message_ref" not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN message_ref TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS messages_by_ref ON messages (conversation, message_ref)")
    _project_incomplete_turns(db)


def insert_row(db: sqlite3.Connection, pk: int, row: Row) -> None:
    """Insert one projection row of conversation pk."""
    if row.table not in PROJECTION_TABLES:
        raise ValueError(f"not a projection table: {row.table}")
    columns = ", ".join(row.values)
    marks = ", ".join("?" for _ in row.values)
    db.execute(
        f"INSERT INTO {row.table} (conversation, {columns}) VALUES (?, {marks})",
        (pk, *row.values.values()),
    )


def _project_incomplete_turns(db: sqlite3.Connection) -> None:
    """Give a database from before incomplete turns were projected their messages, once."""
    if _has_turn_columns(db):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        if not _has_turn_columns(db):  # another process may have just done it
            # Every message stored so far came from a complete turn: the default says so.
            db.execute("ALTER TABLE messages ADD COLUMN turn_complete INTEGER NOT NULL DEFAULT 1")
            db.execute("ALTER TABLE messages ADD COLUMN incomplete_reason TEXT")
            archived = db.execute("SELECT conversation, raw FROM spans WHERE kind = 'turn'")
            for stored in archived.fetchall():
                span = json.loads(stored["raw"])
                if not is_true(span["attributes"].get(sc.TURN_COMPLETE)):
                    for row in project_span(span):
                        insert_row(db, int(stored["conversation"]), row)
    except BaseException:  # cleanup, then re-raised untouched
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _has_turn_columns(db: sqlite3.Connection) -> bool:
    """Whether messages carry their turn's completeness."""
    return any(row["name"] == "turn_complete" for row in db.execute("PRAGMA table_info(messages)"))
