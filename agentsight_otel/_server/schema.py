"""The SQLite schema of the local server: conversations, the raw span archive and projections."""

from __future__ import annotations

import sqlite3

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
    message_ref TEXT
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
