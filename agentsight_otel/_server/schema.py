"""The SQLite schema of the local server: conversations, the raw span archive and projections."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

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


# The tables that make a database ours (every version has had them), and all it has today.
_OUR_TABLES = frozenset({"conversations", "spans"})
_ALL_TABLES = frozenset(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA))
# Bytes 18 and 19 of an SQLite file's header are 2 once the database is in WAL mode.
_WAL_HEADER = (18, b"\x02\x02")


class UnusableDatabase(Exception):
    """A database path that cannot be opened as ours; the message says what it is instead."""


def connect(path: str) -> sqlite3.Connection:
    """Open (and create if needed) a database shared by the server's threads.

    UnusableDatabase when path is a directory, not SQLite, or another program's SQLite
    database (never given our tables).
    """
    try:
        # One connection for every thread: the Store serialises access with its own lock, and
        # isolation_level=None hands transaction control to the Store's explicit BEGIN/COMMIT.
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise UnusableDatabase(_open_failure(path, exc)) from None
    try:
        db.row_factory = sqlite3.Row
        pricing.register(db)
        foreign = _foreign_problem(db, path)
        if foreign:
            raise UnusableDatabase(foreign)
        db.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
        db.executescript(SCHEMA)
        _add_missing_columns(db)
    except BaseException as exc:  # cleanup, then re-raised (an SQLite failure said plainly)
        db.close()
        if isinstance(exc, sqlite3.Error):
            raise UnusableDatabase(_open_failure(path, exc)) from None
        raise
    return db


def connect_read_only(path: str) -> sqlite3.Connection:
    """Open one of our databases for reading only: nothing is created, migrated or written.

    UnusableDatabase when path is missing, not SQLite, not ours, or from before a column the
    reads need (serving it once adds the column).
    """
    if not Path(path).exists():
        raise UnusableDatabase(f"there is no database at {path}")
    uri = f"{Path(path).absolute().as_uri()}?mode=ro"
    if _is_wal(path) and not Path(path + "-wal").exists():
        # Fully checkpointed and no writer has it open: read the file alone, as WAL mode would
        # otherwise leave -wal and -shm files beside it that a read-only connection cannot remove.
        uri += "&immutable=1"
    try:
        db = sqlite3.connect(uri, uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        raise UnusableDatabase(_open_failure(path, exc)) from None
    db.row_factory = sqlite3.Row
    pricing.register(db)
    try:
        problem = _foreign_problem(db, path) or _outdated_problem(db, path)
    except sqlite3.Error as exc:
        problem = _open_failure(path, exc)
    if problem:
        db.close()
        raise UnusableDatabase(problem)
    return db


def _open_failure(path: str, exc: sqlite3.Error) -> str:
    """What an SQLite failure to open path means, in the user's terms."""
    if Path(path).is_dir():
        return f"{path} is a directory, not a database file"
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        return f"{path} is not an SQLite database"
    return f"cannot open {path}: {exc}"


def _foreign_problem(db: sqlite3.Connection, path: str) -> str | None:
    """Why the database is not ours: it has tables, but not our tables; None when it is ours."""
    tables = _tables(db)
    if not tables or tables >= _OUR_TABLES:
        return None
    return f"{path} is another program's SQLite database (it has no agentsight-otel tables)"


def _outdated_problem(db: sqlite3.Connection, path: str) -> str | None:
    """Why reads cannot run on the database as it is: empty, or from before a needed column."""
    tables = _tables(db)
    if not tables:
        return f"{path} is empty, not a database agentsight-otel wrote"
    if tables >= _ALL_TABLES and _has_turn_columns(db):
        return None
    return (
        f"{path} was written by an older agentsight-otel: serve it once "
        f"(agentsight-otel serve --db {path}) to bring it up to date"
    )


def _tables(db: sqlite3.Connection) -> set[str]:
    """The names of the database's own tables (not SQLite's internal ones)."""
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {row[0] for row in rows if not row[0].startswith("sqlite_")}


def _is_wal(path: str) -> bool:
    """Whether the file's header says the database is in WAL mode."""
    offset, marker = _WAL_HEADER
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            return file.read(len(marker)) == marker
    except OSError:
        return False


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
