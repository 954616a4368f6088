"""SQLite storage: conversation upserts, span de-duplication, projections and reads."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from agentsight_otel._private import FILE_MODE, private_dir, private_file, tighten
from agentsight_otel._semconv import WIRE_SPAN_KEYS
from agentsight_otel._server import reads
from agentsight_otel._server.blobs import BlobStore, IncomingFile
from agentsight_otel._server.projections import project_span, timestamp_micros
from agentsight_otel._server.schema import UnusableDatabase, connect, insert_row
from agentsight_otel._server.uploads import NewUpload, UnknownReference
from agentsight_otel._server.validation import JSONObject

WallClock = Callable[[], datetime]
T = TypeVar("T")
# The scalar keys get columns of their own; the whole span is kept raw beside them.
_SPAN_COLUMNS = tuple(key for key in WIRE_SPAN_KEYS if key not in ("attributes", "events", "otel"))


def _utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(timezone.utc)


class Store:
    """One SQLite connection behind a lock; every write request is one transaction."""

    def __init__(self, path: str | Path = ":memory:", *, clock: WallClock = _utc_now) -> None:
        """Open or create the database at path (":memory:" for a throwaway one).

        UnusableDatabase when it cannot be opened or created, or is not ours.
        """
        location = str(path)
        if location != ":memory:":
            # Conversation text: a new file is made 0600 before SQLite opens it, and SQLite gives
            # its -wal and -shm files the database's mode. An existing parent is left alone.
            try:
                private_dir(Path(location).parent, own=False)
                if not os.path.lexists(location):
                    private_file(location)
            except OSError as exc:
                raise UnusableDatabase(f"cannot create {location}: {exc.strerror}") from None
        self._db = connect(location)
        if location != ":memory:":
            # Only once it proved to be ours: a foreign file or a directory is refused untouched.
            for suffix in ("", "-wal", "-shm"):
                tighten(Path(location + suffix), FILE_MODE)
        self._lock = threading.Lock()
        self._clock = clock
        # Uploaded files, content-addressed beside the database (a temporary directory for
        # ":memory:", removed on close).
        self.blobs = BlobStore(None if location == ":memory:" else Path(location + ".files"))

    def close(self) -> None:
        """Close the connection; the store is unusable afterwards."""
        with self._lock:
            self._db.close()
        self.blobs.close()

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
        if record is None:  # just written, in the same transaction
            raise RuntimeError(f"conversation {conversation_id!r} vanished while written")
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

    def files(self, conversation_id: str) -> list[dict[str, Any]]:
        """The uploaded files of a conversation, each with the message it belongs to."""
        return self._read(conversation_id, reads.files, [])

    def file(self, file_id: int) -> tuple[Path, dict[str, Any]] | None:
        """Where an uploaded file's bytes are, and its record; None when unknown."""
        with self._lock:
            record = reads.file(self._db, file_id)
        return None if record is None else (self.blobs.path(record["sha256"]), record)

    def add_upload(self, upload: NewUpload, files: Sequence[IncomingFile]) -> dict[str, Any]:
        """Store an upload's files and rows atomically; UnknownReference for a bad pk."""
        with self._transaction():
            if not self._db.execute(
                "SELECT 1 FROM conversations WHERE id = ?", (upload.conversation,)
            ).fetchone():
                raise UnknownReference("conversation")
            if (
                upload.message is not None
                and not self._db.execute(
                    "SELECT 1 FROM messages WHERE id = ? AND conversation = ?",
                    (upload.message, upload.conversation),
                ).fetchone()
            ):
                raise UnknownReference("message")
            cursor = self._db.execute(
                "INSERT INTO uploads (conversation, message, message_ref, sender, mode, metadata,"
                " timestamp, ts_us, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    upload.conversation,
                    upload.message,
                    upload.message_ref,
                    upload.sender,
                    upload.mode,
                    json.dumps(upload.metadata, separators=(",", ":"), ensure_ascii=False),
                    upload.timestamp,
                    timestamp_micros(upload.timestamp),
                    self._now(),
                ),
            )
            upload_id = cursor.lastrowid
            for position, file in enumerate(files):
                self._db.execute(
                    "INSERT INTO upload_files (upload, position, filename, mime_type, size,"
                    " sha256) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        upload_id,
                        position,
                        file.filename,
                        file.mime_type,
                        file.writer.size,
                        file.writer.commit(),
                    ),
                )
            return reads.upload(self._db, int(upload_id or 0))

    def usage(self, conversation_id: str) -> dict[str, Any]:
        """Token totals and the per-model breakdown of a conversation."""
        return self._read(conversation_id, reads.usage, reads.empty_usage())

    def spans(self, conversation_id: str) -> list[dict[str, Any]]:
        """The raw spans stored for a conversation, in arrival order."""
        return self._read(conversation_id, reads.spans, [])

    def run_query(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a read query (a function of the connection first) under the lock."""
        with self._lock:
            return query(self._db, *args, **kwargs)

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
            except BaseException:  # cleanup, then re-raised untouched
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
        if pk is None:  # just inserted, in the same transaction
            raise RuntimeError(f"conversation {conversation_id!r} vanished while written")
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
                insert_row(self._db, pk, row)
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


def _field_values(fields: Mapping[str, object]) -> dict[str, object]:
    """The conversation columns present in a block or upsert body, metadata as JSON text."""
    values = {key: fields[key] for key in reads.CONVERSATION_FIELDS if key in fields}
    if "metadata" in fields:
        values["metadata"] = json.dumps(fields["metadata"], separators=(",", ":"))
    return values
