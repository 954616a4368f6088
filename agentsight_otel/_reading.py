"""``agentsight-otel conversations`` and ``transcript``: read a local database or any endpoint."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import requests

from agentsight_otel._checks import check_endpoint, parse_api_key
from agentsight_otel._config import ENV_API_KEY
from agentsight_otel._delivery.transport import network_reason
from agentsight_otel._server.numbers import whole_number
from agentsight_otel._server.viewer_format import day_time, number
from agentsight_otel.exceptions import ConfigurationError

PAGE_SIZE = 100
TIMEOUT_S = 30.0
DEFAULT_DB = "agentsight-local.db"
_COLUMNS = (
    "PK",
    "CONVERSATION",
    "STARTED (UTC)",
    "NAME",
    "CUSTOMER",
    "ENV",
    "MSGS",
    "ACTS",
    "TOKENS",
)
# Free text is cut to this; ids never are (they are what `transcript` takes back).
_TEXT_WIDTH = 36
_TEXT_COLUMNS = frozenset({"NAME"})


class ReadError(Exception):
    """What a reader could not read, said without any part of the API key."""


class SourceError(ReadError):
    """The --db or --endpoint given cannot be read from; the message says why and what to do."""

    def __init__(self, flag: str, problem: str, fix: str) -> None:
        super().__init__(f"{flag}: {problem}; {fix}")


class Reader(Protocol):
    """Where conversations are read from."""

    def conversations(self, limit: int) -> list[dict[str, Any]]:
        """The newest conversations, newest first."""

    def conversation(self, reference: str) -> dict[str, Any]:
        """One conversation with its transcript, by conversation_id (or integer pk)."""


class DatabaseReader:
    """A local server's SQLite file, opened read-only: reading never creates or changes a file."""

    def __init__(self, path: str) -> None:
        """Open the file; SourceError when it is missing or not one of ours."""
        from agentsight_otel._server.schema import UnusableDatabase, connect_read_only

        try:
            self._db = connect_read_only(path)
        except UnusableDatabase as exc:
            raise SourceError("--db", str(exc), _database_fix(path)) from None

    def conversations(self, limit: int) -> list[dict[str, Any]]:
        """The newest conversations."""
        from agentsight_otel._server import read_conversations as queries

        return queries.page(self._db, queries.conversation_query({}), 0, limit)

    def conversation(self, reference: str) -> dict[str, Any]:
        """One full conversation record: by conversation_id, else by integer pk."""
        from agentsight_otel._server import read_conversations as queries
        from agentsight_otel._server.reads import conversation_pk

        conversation_id: str | None = reference
        if conversation_pk(self._db, reference) is None:
            pk = _pk(reference)
            conversation_id = None if pk is None else queries.by_pk(self._db, pk)
        if conversation_id is None:
            raise _unknown(reference)
        return queries.full(self._db, conversation_id)

    def close(self) -> None:
        """Close the database."""
        self._db.close()


def _pk(reference: str) -> int | None:
    """reference as a primary key: a whole number SQLite can hold, else None."""
    return whole_number(reference)


def _unknown(reference: str) -> ReadError:
    """No conversation has this id or pk."""
    return ReadError(
        f"ID: no conversation {reference!r}; give a PK or CONVERSATION that "
        "`agentsight-otel conversations` lists"
    )


def _database_fix(path: str) -> str:
    """What to give --db instead of path: the demo's database when there is one."""
    from agentsight_otel._demo import DEFAULT_DB as DEMO_DB

    demo = Path(DEMO_DB)
    if demo.is_file() and Path(path).resolve() != demo.resolve():
        return f"make demo wrote {DEMO_DB}: add --db {DEMO_DB}"
    return f"give --db a database agentsight-otel serve or demo wrote (make demo writes {DEMO_DB})"


class EndpointReader:
    """Any AgentSight endpoint (the real service or a local server), through its read API."""

    def __init__(self, endpoint: str, api_key: str) -> None:
        """Read from endpoint with api_key (sent only in the Authorization header)."""
        self._base = endpoint
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
            body = self._listing(params)
            results = body.get("results", []) if isinstance(body, dict) else body
            rows.extend(results or [])
            if not results or not isinstance(body, dict) or not body.get("next"):
                break
            page += 1
        return rows[:limit]

    def conversation(self, reference: str) -> dict[str, Any]:
        """One full conversation: by conversation_id, else by pk; then read whole."""
        params = {"conversation_id": reference, "full": "false", "page_size": 1}
        body = self._listing(params)
        results = body.get("results") if isinstance(body, dict) else body
        pk = results[0]["id"] if results else _pk(reference)
        if pk is None:
            raise _unknown(reference)
        record = self._get(f"/api/conversations/{quote(str(pk), safe='')}/", {"full": "true"})
        if record is None:
            raise _unknown(reference)
        if not isinstance(record, dict):
            raise ReadError("the endpoint answered something other than a conversation")
        return record

    def close(self) -> None:
        """Release the connection pool."""
        self._session.close()

    def _listing(self, params: dict[str, Any]) -> Any:
        """A page of the conversation list; SourceError when the endpoint has no such list."""
        body = self._get("/api/conversations/", params)
        if body is None:
            raise SourceError(
                "--endpoint",
                f"{self._base} has no /api/conversations/",
                "give --endpoint the base URL of an AgentSight API",
            )
        return body

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        """GET a JSON answer (None for 404), or ReadError naming the status (never the key)."""
        try:
            response = self._session.get(self._base + path, params=params, timeout=TIMEOUT_S)
        except requests.RequestException as exc:
            raise SourceError(
                "--endpoint",
                f"could not reach {self._base}: {network_reason(exc)}",
                "is the server running there?",
            ) from None
        if response.status_code in (401, 403):
            raise SourceError(
                "--endpoint",
                f"{self._base} refused the key in {ENV_API_KEY} (HTTP {response.status_code})",
                f"set {ENV_API_KEY} to a key that endpoint accepts",
            )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ReadError(f"{self._base}{path} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise SourceError(
                "--endpoint",
                f"{self._base}{path} did not answer JSON",
                "give --endpoint the base URL of an AgentSight API",
            ) from None


@contextmanager
def open_reader(db: str | None, endpoint: str | None) -> Iterator[Reader]:
    """The reader the options name: an endpoint (key from AGENTSIGHT_API_KEY) or a database."""
    reader: DatabaseReader | EndpointReader
    if endpoint is not None:
        reader = EndpointReader(_checked_endpoint(endpoint), _checked_key())
    else:
        reader = DatabaseReader(db or DEFAULT_DB)
    try:
        yield reader
    finally:
        reader.close()


def _checked_endpoint(endpoint: str) -> str:
    """The base URL, or SourceError saying what it must look like."""
    try:
        return check_endpoint(endpoint, "the URL")
    except ConfigurationError as exc:
        raise SourceError("--endpoint", str(exc), "e.g. --endpoint http://127.0.0.1:8600") from None


def _checked_key() -> str:
    """The key from the environment, or SourceError naming the variable (never the key)."""
    key = os.environ.get(ENV_API_KEY, "").strip()
    if not key:
        raise SourceError("--endpoint", f"reading an endpoint needs {ENV_API_KEY}", _KEY_FIX)
    try:
        return parse_api_key(key, ENV_API_KEY).reveal()
    except ConfigurationError as exc:
        raise SourceError("--endpoint", str(exc), _KEY_FIX) from None


_KEY_FIX = f"set {ENV_API_KEY}=ags_... to a key the endpoint accepts"


def conversations_table(rows: list[dict[str, Any]]) -> str:
    """Conversations as an aligned plain-text table; ids whole, however wide."""
    cells = [_COLUMNS] + [_cells(row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    widths = [
        min(width, _TEXT_WIDTH) if name in _TEXT_COLUMNS else width
        for name, width in zip(_COLUMNS, widths, strict=True)
    ]
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
    """One conversation's table cells, each on one line."""
    counts = row.get("counts") or {}
    cells = (
        str(row.get("id") or ""),
        str(row.get("conversation_id") or ""),
        day_time(row.get("started_at") or row.get("created_at")),
        str(row.get("name") or ""),
        str(row.get("customer_id") or ""),
        str(row.get("environment") or ""),
        str(counts.get("messages", "")),
        str(counts.get("actions", "")),
        number(row["total_tokens"]) if "total_tokens" in row else "",
    )
    return tuple(_one_line(cell) for cell in cells)


def _one_line(text: str) -> str:
    """text with line breaks and other control characters shown as spaces."""
    return "".join(" " if not character.isprintable() else character for character in text)


def _fit(text: str, width: int) -> str:
    """text padded to width, or cut (with an ellipsis) when it is free text wider than that."""
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"
