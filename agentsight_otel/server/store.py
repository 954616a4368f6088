"""SQLite storage: conversation upserts, span de-duplication, projections and reads."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from agentsight_otel.server import reads
from agentsight_otel.server.projections import Row, project_span
from agentsight_otel.server.schema import PROJECTION_TABLES, connect
from agentsight_otel.server.validation import JSONObject

Clock = Callable[[], datetime]
T = TypeVar("T")
_SPAN_COLUMNS = (
    "span_id",
    "trace_id",
    "parent_span_id",
    "kind",
    "name",
    "started_at",
    "ended_at",
    "duration_ms",
    "status",
)


def _utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(timezone.utc)


class Store:
    """One SQLite connection behind a lock; every write request is one transaction."""

    def __init__(self, path: str | Path = ":memory:", *, clock: Clock = _utc_now) -> None:
        """Open or create the database at path (":memory:" for a throwaway one)."""
        location = str(path)
        if location != ":memory:":
            Path(location).parent.mkdir(parents=True, exist_ok=True)
        self._db = connect(location)
        self._lock = threading.Lock()
        self._clock = clock

    def close(self) -> None:
        """Close the connection; the store is unusable afterwards."""
        with self._lock:
            self._db.close()

    def ingest(self, blocks: Sequence[JSONObject]) -> dict[str, int]:
        """Store validated blocks atomically; count blocks, new spans and duplicate spans."""
        stored = duplicates = 0
        with self._transaction():
            for block in blocks:
                pk, _ = self._upsert(block["conversation_id"], block)
                new, old = self._store_spans(pk, block["spans"])
                stored, duplicates = stored + new, duplicates + old
        return {"conversations": len(blocks), "spans": stored, "duplicates": duplicates}

    def upsert_conversation(
        self, conversation_id: str, fields: Mapping[str, object]
    ) -> tuple[dict[str, Any], bool]:
        """Create or update a conversation; return it and whether it was created."""
        with self._transaction():
            _, created = self._upsert(conversation_id, fields)
            record = reads.conversation(self._db, conversation_id)
        assert record is not None
        return record, created

    def conversations(self) -> list[dict[str, Any]]:
        """Every conversation with its counts."""
        with self._lock:
            return reads.conversations(self._db)

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        """One conversation, or None when unknown."""
        with self._lock:
            return reads.conversation(self._db, conversation_id)

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        """The transcript messages of a conversation (empty when unknown)."""
        return self._read(conversation_id, reads.messages, [])

    def actions(self, conversation_id: str) -> list[dict[str, Any]]:
        """The action log of a conversation (empty when unknown)."""
        return self._read(conversation_id, reads.actions, [])

    def buttons(self, conversation_id: str) -> list[dict[str, Any]]:
        """The button clicks of a conversation (empty when unknown)."""
        return self._read(conversation_id, reads.buttons, [])

    def attachments(self, conversation_id: str) -> list[dict[str, Any]]:
        """The attachment records of a conversation (empty when unknown)."""
        return self._read(conversation_id, reads.attachments, [])

    def usage(self, conversation_id: str) -> dict[str, Any]:
        """Token totals and the per-model breakdown of a conversation."""
        return self._read(conversation_id, reads.usage, reads.empty_usage())

    def spans(self, conversation_id: str) -> list[dict[str, Any]]:
        """The raw spans stored for a conversation, in arrival order."""
        return self._read(conversation_id, reads.spans, [])

    def _read(
        self, conversation_id: str, query: Callable[[sqlite3.Connection, int], T], empty: T
    ) -> T:
        """Run a per-conversation query under the lock."""
        with self._lock:
            pk = reads.conversation_pk(self._db, conversation_id)
            return empty if pk is None else query(self._db, pk)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Hold the lock and commit everything inside, or nothing."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _now(self) -> str:
        """The current time as ISO-8601 UTC."""
        return self._clock().astimezone(timezone.utc).isoformat()

    def _upsert(self, conversation_id: str, fields: Mapping[str, object]) -> tuple[int, bool]:
        """Insert the conversation if new, then overwrite the fields that are present."""
        now = self._now()
        cursor = self._db.execute(
            "INSERT INTO conversations (conversation_id, created_at, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (conversation_id) DO NOTHING",
            (conversation_id, now, now),
        )
        created = cursor.rowcount == 1
        pk = reads.conversation_pk(self._db, conversation_id)
        assert pk is not None
        values = _field_values(fields)
        if values:
            # Only a real change moves updated_at, so re-sending the same body changes nothing.
            columns = list(values)
            assignments = ", ".join(f"{column} = ?" for column in columns)
            changed = " OR ".join(f"{column} IS NOT ?" for column in columns)
            self._db.execute(
                f"UPDATE conversations SET {assignments}, updated_at = ?"
                f" WHERE id = ? AND ({changed})",
                (*values.values(), now, pk, *values.values()),
            )
        return pk, created

    def _store_spans(self, pk: int, spans: Sequence[JSONObject]) -> tuple[int, int]:
        """Insert spans not seen before and project only those; count new and duplicate."""
        new = duplicates = 0
        engaged = False
        for span in spans:
            if not self._insert_span(pk, span):
                duplicates += 1
                continue
            new += 1
            engaged = engaged or span["kind"] != "conversation"
            for row in project_span(span):
                self._insert_row(pk, row)
        if new:
            self._db.execute(
                "UPDATE conversations SET updated_at = ?, is_used = MAX(is_used, ?) WHERE id = ?",
                (self._now(), int(engaged), pk),
            )
        return new, duplicates

    def _insert_span(self, pk: int, span: JSONObject) -> bool:
        """Archive one span raw; False when (conversation, span_id) was already stored."""
        columns = ", ".join(_SPAN_COLUMNS)
        marks = ", ".join("?" for _ in _SPAN_COLUMNS)
        cursor = self._db.execute(
            f"INSERT OR IGNORE INTO spans (conversation, {columns}, raw, received_at)"
            f" VALUES (?, {marks}, ?, ?)",
            (
                pk,
                *(span[column] for column in _SPAN_COLUMNS),
                json.dumps(span, separators=(",", ":"), ensure_ascii=False),
                self._now(),
            ),
        )
        return cursor.rowcount == 1

    def _insert_row(self, pk: int, row: Row) -> None:
        """Insert one projection row."""
        if row.table not in PROJECTION_TABLES:
            raise ValueError(f"not a projection table: {row.table}")
        columns = ", ".join(row.values)
        marks = ", ".join("?" for _ in row.values)
        self._db.execute(
            f"INSERT INTO {row.table} (conversation, {columns}) VALUES (?, {marks})",
            (pk, *row.values.values()),
        )


def _field_values(fields: Mapping[str, object]) -> dict[str, object]:
    """The conversation columns present in a block or upsert body, metadata as JSON text."""
    values = {key: fields[key] for key in reads.CONVERSATION_FIELDS if key in fields}
    if "metadata" in fields:
        values["metadata"] = json.dumps(fields["metadata"], separators=(",", ":"))
    return values
