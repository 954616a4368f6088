"""``agentsight-otel conversations`` and ``transcript``: read a local database or any endpoint."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import requests

from agentsight_otel._server.numbers import whole_number
from agentsight_otel._server.viewer_format import day_time, number

PAGE_SIZE = 100
TIMEOUT_S = 30.0
_COLUMNS = ("STARTED (UTC)", "CONVERSATION", "NAME", "CUSTOMER", "ENV", "MSGS", "ACTS", "TOKENS")


class ReadError(Exception):
    """What a reader could not read, said without any part of the API key."""


class Reader(Protocol):
    """Where conversations are read from."""

    def conversations(self, limit: int) -> list[dict[str, Any]]:
        """The newest conversations, newest first."""

    def conversation(self, reference: str) -> dict[str, Any]:
        """One conversation with its transcript, by conversation_id (or integer pk)."""


class DatabaseReader:
    """A local server's SQLite file, read directly."""

    def __init__(self, path: str) -> None:
        """Open the file; it must exist (reading never creates a database)."""
        if not Path(path).is_file():
            raise ReadError(f"no database at {path}")
        from agentsight_otel._server.store import Store

        self._store = Store(path)

    def conversations(self, limit: int) -> list[dict[str, Any]]:
        """The newest conversations."""
        from agentsight_otel._server import read_conversations as queries

        query = queries.conversation_query({})
        return self._store.run_query(queries.page, query, 0, limit)

    def conversation(self, reference: str) -> dict[str, Any]:
        """One full conversation record."""
        from agentsight_otel._server import read_conversations as queries

        def find(db: Any) -> dict[str, Any] | None:
            pk = whole_number(reference)
            conversation_id = queries.by_pk(db, pk) if pk is not None else None
            if queries.count(db, queries.conversation_query({"conversation_id": reference})):
                conversation_id = reference
            return None if conversation_id is None else queries.full(db, conversation_id)

        found = self._store.run_query(find)
        if found is None:
            raise ReadError(f"no conversation {reference!r}")
        return found

    def close(self) -> None:
        """Close the database."""
        self._store.close()


class EndpointReader:
    """Any AgentSight endpoint (the real service or a local server), through its read API."""

    def __init__(self, endpoint: str, api_key: str) -> None:
        """Read from endpoint with api_key (sent only in the Authorization header)."""
        self._base = endpoint.rstrip("/")
        self._session = requests.Session()
        self._session.headers.update(
            {"Authorization": f"Api-Key {api_key}", "Accept": "application/json"}
        )

    def conversations(self, limit: int) -> list[dict[str, Any]]:
        """The newest conversations, page by page up to limit."""
        rows: list[dict[str, Any]] = []
        page = 1
        while len(rows) < limit:
            params = {"full": "false", "page": page, "page_size": PAGE_SIZE}
            body = self._get("/api/conversations/", params)
            results = body.get("results", []) if isinstance(body, dict) else body
            rows.extend(results or [])
            if not results or not isinstance(body, dict) or not body.get("next"):
                break
            page += 1
        return rows[:limit]

    def conversation(self, reference: str) -> dict[str, Any]:
        """One full conversation: its pk looked up by conversation_id, then read whole."""
        pk: object = reference if whole_number(reference) is not None else None
        if pk is None:
            params = {"conversation_id": reference, "full": "false", "page_size": 1}
            body = self._get("/api/conversations/", params)
            results = body.get("results") if isinstance(body, dict) else body
            if not results:
                raise ReadError(f"no conversation {reference!r}")
            pk = results[0]["id"]
        record = self._get(f"/api/conversations/{quote(str(pk), safe='')}/", {"full": "true"})
        if not isinstance(record, dict):
            raise ReadError("the endpoint answered something other than a conversation")
        return record

    def close(self) -> None:
        """Release the connection pool."""
        self._session.close()

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        """GET a JSON answer, or ReadError naming the status (never the key)."""
        try:
            response = self._session.get(self._base + path, params=params, timeout=TIMEOUT_S)
        except requests.RequestException as exc:
            raise ReadError(f"could not reach {self._base}: {type(exc).__name__}") from None
        if response.status_code == 404:
            raise ReadError(f"not found: {path}")
        if response.status_code != 200:
            raise ReadError(f"{path} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise ReadError(f"{path} did not answer JSON") from None


@contextmanager
def open_reader(db: str | None, endpoint: str | None) -> Iterator[Reader]:
    """The reader the options name: an endpoint (key from AGENTSIGHT_API_KEY) or a database."""
    reader: DatabaseReader | EndpointReader
    if endpoint:
        key = os.environ.get("AGENTSIGHT_API_KEY", "").strip()
        if not key:
            raise ReadError("reading an endpoint needs AGENTSIGHT_API_KEY")
        reader = EndpointReader(endpoint, key)
    else:
        reader = DatabaseReader(db or "agentsight-local.db")
    try:
        yield reader
    finally:
        reader.close()


def conversations_table(rows: list[dict[str, Any]]) -> str:
    """Conversations as an aligned plain-text table."""
    cells = [_COLUMNS] + [_cells(row) for row in rows]
    widths = [min(max(len(row[i]) for row in cells), 36) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(_fit(cell, width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    return "\n".join(lines if rows else [*lines, "(no conversations)"]) + "\n"


def transcript_text(record: dict[str, Any]) -> str:
    """A full conversation record as the demo's readable transcript."""
    from agentsight_otel._server.reads import empty_usage
    from agentsight_otel._server.transcript import render_transcript

    messages = [
        {**message, "files": message.get("attachments") or []}
        for message in record.get("messages") or []
    ]
    usage = record.get("token_usage") or empty_usage()
    actions = record.get("action_logs") or []
    return render_transcript(record, messages, actions, record.get("buttons") or [], [], usage)


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    """One conversation's table cells."""
    counts = row.get("counts") or {}
    return (
        day_time(row.get("started_at") or row.get("created_at")),
        str(row.get("conversation_id") or ""),
        str(row.get("name") or ""),
        str(row.get("customer_id") or ""),
        str(row.get("environment") or ""),
        str(counts.get("messages", "")),
        str(counts.get("actions", "")),
        number(row["total_tokens"]) if "total_tokens" in row else "",
    )


def _fit(text: str, width: int) -> str:
    """text padded or cut (with an ellipsis) to width."""
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"
