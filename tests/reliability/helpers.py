"""Helpers: a tracker wired through the proxy, a standard conversation, and server counts."""

from __future__ import annotations

import gzip
import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from agentsight_otel import AgentSightSpanExporter, ConversationTracker, traced_action
from agentsight_otel._delivery.client import RetryPolicy
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._delivery.transport import Body, HttpResponse, RequestsTransport
from agentsight_otel.testing import TEST_API_KEY
from tests.support.faults import Request

FIGURES: list[tuple[str, dict[str, Any]]] = []
FAST_RETRIES = RetryPolicy(max_attempts=50, base_delay=0.05, max_delay=0.5, retry_after_cap=2.0)
ROOT = Path(__file__).resolve().parents[2]


def report(name: str, **values: Any) -> None:
    """Keep a figure for the terminal summary."""
    FIGURES.append((name, values))


class CountingTransport(RequestsTransport):
    """Real HTTP that counts attempts and failures, so tests wait on them instead of sleeping."""

    def __init__(self) -> None:
        super().__init__(verify_tls=False)
        self.attempts = 0
        self.failures = 0
        self._cond = threading.Condition()

    def request(
        self, method: str, url: str, body: Body | None, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        """One real request, counted."""
        try:
            response = super().request(method, url, body, headers, timeout)
        except Exception:
            self._count(failed=True)
            raise
        self._count(failed=response.status >= 500 or response.status == 429)
        return response

    def _count(self, *, failed: bool) -> None:
        with self._cond:
            self.attempts += 1
            self.failures += failed
            self._cond.notify_all()

    def wait_failures(self, count: int, timeout: float = 30.0) -> bool:
        """Until ``count`` attempts failed."""
        with self._cond:
            return self._cond.wait_for(lambda: self.failures >= count, timeout)


@dataclass
class HttpPipeline:
    """A tracker whose spans go through a BatchSpanProcessor to an exporter on ``endpoint``."""

    tracker: ConversationTracker
    exporter: AgentSightSpanExporter
    provider: TracerProvider
    transport: CountingTransport

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is held and stop."""
        self.tracker.shutdown(timeout)
        self.provider.force_flush()
        self.exporter.shutdown(timeout_millis=int(timeout * 1000))
        self.provider.shutdown()


def make_pipeline(
    endpoint: str, tracker_args: Mapping[str, Any] | None = None, **exporter_args: Any
) -> HttpPipeline:
    """A pipeline with quick retries, the exporter's and the tracker's settings overridden."""
    ledger = DeliveryLedger()
    transport = CountingTransport()
    options: dict[str, Any] = {
        "request_timeout": 2.0,
        "export_deadline": 30.0,
        "_retry_policy": FAST_RETRIES,
        **exporter_args,
    }
    exporter = AgentSightSpanExporter(
        api_key=TEST_API_KEY, endpoint=endpoint, _ledger=ledger, _transport=transport, **options
    )
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracker = ConversationTracker(
        api_key=TEST_API_KEY,
        endpoint=endpoint,
        _ledger=ledger,
        tracer_provider=provider,
        **(tracker_args or {}),
    )
    return HttpPipeline(tracker, exporter, provider, transport)


@traced_action
def lookup(cid: str) -> str:
    """The tool every standard conversation calls."""
    return f"found {cid}"


def converse(tracker: ConversationTracker, cid: str, *, timeout: float = 0.0) -> dict[str, Any]:
    """The standard conversation in ``cid`` (made current): two messages, a tool, a button."""
    tracker.get_or_create_conversation(cid)
    tracker.track_human_message(f"{cid} question")
    lookup(cid)
    tracker.track_button("choice", f"{cid} button", "yes")
    tracker.track_agent_message(f"{cid} answer")
    return tracker.send_tracked_data(timeout=timeout)


def converse_explicit(
    tracker: ConversationTracker, cid: str, *, timeout: float = 0.0
) -> dict[str, Any]:
    """The same conversation through ``conversation_id=`` only (nothing made current)."""
    tracker.track_human_message(f"{cid} question", conversation_id=cid)
    traced_action(name="lookup", conversation_id=cid)(_found)(cid)
    tracker.track_button("choice", f"{cid} button", "yes", conversation_id=cid)
    tracker.track_agent_message(f"{cid} answer", conversation_id=cid)
    return tracker.send_tracked_data(cid, timeout=timeout)


def _found(cid: str) -> str:
    """``lookup``'s body, decorated per conversation by ``converse_explicit``."""
    return f"found {cid}"


def plain_body(request: Request) -> bytes:
    """A request's body, gzip undone."""
    if request.headers.get("content-encoding") == "gzip":
        return gzip.decompress(request.body)
    return request.body


@dataclass
class WireLog:
    """Span ids in the ingest bodies that reached the server (a proxy observer)."""

    arrivals: Counter[tuple[str, str]] = field(default_factory=Counter)
    bodies: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, request: Request) -> None:
        """Count the spans of one forwarded ingest body."""
        if request.path != "/api/ingest/" or request.method != "POST":
            return
        blocks = json.loads(plain_body(request))["conversations"]
        with self._lock:
            self.bodies += 1
            for block in blocks:
                for span in block["spans"]:
                    self.arrivals[(block["conversation_id"], span["span_id"])] += 1

    @property
    def resent(self) -> int:
        """Span arrivals beyond the first of each span: what the server had to deduplicate."""
        with self._lock:
            return sum(count - 1 for count in self.arrivals.values())


class ServerView:
    """Counts over the local server's database, on a read-only connection of its own."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self._db.execute(sql).fetchall()

    def per_conversation(self, table: str, column: str) -> dict[str, list[str]]:
        """A projection's column, per conversation id."""
        found: dict[str, list[str]] = defaultdict(list)
        for cid, value in self._rows(
            f"SELECT c.conversation_id, t.{column} FROM {table} t"
            " JOIN conversations c ON c.id = t.conversation ORDER BY t.id"
        ):
            found[cid].append(value)
        return found

    def conversation_count(self) -> int:
        """Conversations stored."""
        return int(self._rows("SELECT COUNT(*) FROM conversations")[0][0])

    def message_count(self) -> int:
        """Messages stored."""
        return int(self._rows("SELECT COUNT(*) FROM messages")[0][0])

    def duplicates(self) -> dict[str, int]:
        """Span ids stored more than once (in any conversation), and repeated messages."""
        spans = self._rows("SELECT span_id FROM spans GROUP BY span_id HAVING COUNT(*) > 1")
        messages = self._rows(
            "SELECT conversation, content FROM messages GROUP BY 1, 2 HAVING COUNT(*) > 1"
        )
        return {"spans": len(spans), "messages": len(messages)}

    def turns(self, cid: str) -> list[tuple[dict[str, Any], list[str]]]:
        """A conversation's turn spans as archived: attributes and message contents."""
        rows = self._rows(
            "SELECT s.raw FROM spans s JOIN conversations c ON c.id = s.conversation"
            f" WHERE s.kind = 'turn' AND c.conversation_id = '{cid}' ORDER BY s.id"
        )
        turns = []
        for (raw,) in rows:
            span = json.loads(raw)
            contents = [e["attributes"].get("agentsight.message.content") for e in span["events"]]
            turns.append((span["attributes"], contents))
        return turns


def assert_exactly(
    view: ServerView, cids: list[str], partial: Mapping[str, list[str]] | None = None
) -> dict[str, int]:
    """Every standard conversation stored once, whole, and nothing else.

    ``partial`` names other conversations expected with just these messages (sorted).
    """
    partial = partial or {}
    expected = set(cids)
    messages = view.per_conversation("messages", "content")
    actions = view.per_conversation("actions", "response")
    buttons = view.per_conversation("buttons", "label")
    stored = set(messages)
    assert stored == expected | set(partial), _difference(stored, expected | set(partial))
    for cid, contents in partial.items():
        assert sorted(messages[cid]) == contents, cid
    for cid in cids:
        assert sorted(messages[cid]) == [f"{cid} answer", f"{cid} question"], cid
        assert actions[cid] == [f"found {cid}"], cid
        assert buttons[cid] == [f"{cid} button"], cid
    assert set(actions) == expected and set(buttons) == expected
    duplicates = view.duplicates()
    assert duplicates == {"spans": 0, "messages": 0}
    return {"conversations": len(messages), "messages": sum(map(len, messages.values()))}


def _difference(found: set[str], expected: set[str]) -> str:
    """What is missing and what is extra, briefly."""
    missing, extra = sorted(expected - found), sorted(found - expected)
    return f"missing {len(missing)} {missing[:5]}, extra {len(extra)} {extra[:5]}"


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    """Poll a condition until it holds or the deadline passes."""
    end = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() >= end:
            return False
        pause.wait(step)
    return True


def closed_port() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def run_script(
    code: str, timeout: float = 60.0, *, argv: Sequence[str] = (), **env: str
) -> subprocess.Popen[str]:
    """Start a snippet in a fresh interpreter (its own OTel globals), output captured."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTSIGHT_", "OTEL_"))}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *argv],
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_ended_at_exit(view: ServerView, cid: str, content: str) -> None:
    """The conversation's one turn was delivered marked incomplete (``shutdown``), whole."""
    [(attributes, contents)] = view.turns(cid)
    assert attributes["agentsight.turn.complete"] is False
    assert attributes["agentsight.turn.incomplete_reason"] == "shutdown"
    assert contents == [content]
