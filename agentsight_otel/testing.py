"""Test doubles for users and for this project: a scripted transport, a fake clock, a capture.

Nothing here needs pytest; the ``agentsight_capture`` fixture (``agentsight_otel._pytest_plugin``,
registered with pytest on install) wraps :class:`AgentSightCapture`.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from agentsight_otel._current import TRACKED
from agentsight_otel._delivery.client import RetryPolicy
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._delivery.transport import Body, HttpResponse, TransportError
from agentsight_otel._export.exporter import AgentSightSpanExporter
from agentsight_otel._tracker import misfiling
from agentsight_otel._tracker.tracker import ConversationTracker

if TYPE_CHECKING:
    from agentsight_otel._server.store import Store

TEST_API_KEY = "ags_0123456789abcdef0123456789abcdef_abcdef"
# https: the scripted transport never connects, and a fake backend should not look like a
# key sent in clear to another host (which the exporter warns about).
TEST_ENDPOINT = "https://agentsight.test"
INGEST_PATH = "/api/ingest/"


class FakeClock:
    """Monotonic time that only moves when waited on; records every wait."""

    def __init__(self, start: float = 1000.0) -> None:
        self.time = start
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        """The fake time."""
        return self.time

    def wait(self, seconds: float, interrupt: threading.Event) -> bool:
        """Advance by ``seconds`` at once, unless interrupted already."""
        with self._lock:
            self.waits.append(seconds)
            if not interrupt.is_set():
                self.time += seconds
        return interrupt.is_set()


@dataclass
class RecordedRequest:
    """One request the fake transport saw."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes | None

    def json(self) -> Any:
        """The body as JSON, gunzipped when it was sent compressed."""
        data = self.body or b""
        if self.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        return json.loads(data)


def _path_defaults() -> dict[str, HttpResponse]:
    """Unscripted answers that differ from ``default``: the conversation upsert returns a pk."""
    return {"/api/conversations/": HttpResponse(201, {}, b'{"id": 1}')}


@dataclass
class ScriptedTransport:
    """Answers each path from a script (responses or exceptions), then with a default."""

    default: HttpResponse = field(default_factory=lambda: HttpResponse(200, {}, b"{}"))
    requests: list[RecordedRequest] = field(default_factory=list)
    closed: bool = False
    path_defaults: dict[str, HttpResponse] = field(default_factory=_path_defaults)

    def __post_init__(self) -> None:
        self._scripts: dict[str, deque[HttpResponse | Exception]] = defaultdict(deque)
        self._lock = threading.Lock()

    def script(self, path: str, *answers: HttpResponse | Exception) -> ScriptedTransport:
        """Queue answers for requests to ``path``."""
        self._scripts[path].extend(answers)
        return self

    def request(
        self, method: str, url: str, body: Body | None, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        """Record the request (a streamed body read whole) and play the next scripted answer."""
        path = urlsplit(url).path
        data = body if body is None or isinstance(body, bytes) else b"".join(body)
        with self._lock:
            self.requests.append(RecordedRequest(method, path, dict(headers), data))
            script = self._scripts.get(path)
            answer = script.popleft() if script else self.path_defaults.get(path, self.default)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        """Mark closed."""
        self.closed = True

    def bodies(self, path: str = INGEST_PATH) -> list[Any]:
        """JSON bodies sent to a path, in order."""
        return [r.json() for r in self.requests if r.path == path and r.method == "POST"]


def refused() -> TransportError:
    """A connection-refused failure to script."""
    return TransportError("ConnectionError: connection refused")


@dataclass
class FakeBackend:
    """A tracker wired to an exporter on a scripted transport, synchronously exported."""

    tracker: ConversationTracker
    exporter: AgentSightSpanExporter
    transport: ScriptedTransport
    provider: TracerProvider
    clock: FakeClock


def fake_backend(
    *,
    transport: ScriptedTransport | None = None,
    clock: FakeClock | None = None,
    policy: RetryPolicy | None = None,
    **exporter_args: Any,
) -> FakeBackend:
    """A tracker whose spans go through a SimpleSpanProcessor to a scripted backend."""
    transport = transport or ScriptedTransport()
    clock = clock or FakeClock()
    ledger = DeliveryLedger()
    exporter = AgentSightSpanExporter(
        api_key=TEST_API_KEY,
        endpoint=TEST_ENDPOINT,
        _transport=transport,
        _clock=clock,
        _ledger=ledger,
        _retry_policy=policy,
        **exporter_args,
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracker = ConversationTracker(
        tracer_provider=provider,
        _ledger=ledger,
        api_key=TEST_API_KEY,
        endpoint=TEST_ENDPOINT,
        _transport=transport,
        _clock=clock,
        _retry_policy=policy,
    )
    return FakeBackend(tracker, exporter, transport, provider, clock)


@contextmanager
def isolated_tracking() -> Iterator[None]:
    """Start with no current span, conversation or tracker; leave none behind."""
    token = otel_context.attach(otel_context.Context())
    active = TRACKED.set(None)
    opened = misfiling.replace_last_opened(None)
    try:
        yield
    finally:
        misfiling.replace_last_opened(opened)
        TRACKED.reset(active)
        otel_context.detach(token)


class AgentSightCapture:
    """A tracker whose deliveries are captured in memory: what AgentSight would receive and show.

    ``blocks()`` and ``spans()`` are the ingest payload as sent; ``transcript()``, ``actions()``,
    ``buttons()`` and ``usage()`` are what the local AgentSight-compatible server makes of it
    (they need the ``server`` extra). No connection is ever opened.
    """

    def __init__(self, backend: FakeBackend | None = None, **fake_backend_args: Any) -> None:
        """Capture ``backend``, or a new :func:`fake_backend` built with the given arguments."""
        self.backend = backend or fake_backend(**fake_backend_args)
        self._store: Store | None = None
        self._read = 0

    @property
    def tracker(self) -> ConversationTracker:
        """The tracker to drive (or to hand to the code under test)."""
        return self.backend.tracker

    @property
    def transport(self) -> ScriptedTransport:
        """Every request as sent, and the script of answers."""
        return self.backend.transport

    def flush(self) -> None:
        """Deliver everything finished and assembled so far."""
        self.backend.provider.force_flush()
        self.backend.exporter.force_flush()

    def blocks(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """Conversation blocks posted for ingest, every attempt, in order (flushed first)."""
        self.flush()
        return [
            block
            for body in self.transport.bodies(INGEST_PATH)
            for block in body["conversations"]
            if conversation_id is None or block["conversation_id"] == conversation_id
        ]

    def spans(
        self, kind: str | None = None, conversation_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Wire spans posted, optionally of one kind ("turn", "tool", ...) or one conversation."""
        return [
            span
            for block in self.blocks(conversation_id)
            for span in block["spans"]
            if kind is None or span["kind"] == kind
        ]

    def transcript(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """The messages AgentSight would show (sender, content, metadata, timestamp, ...)."""
        return self._stored().messages(self._named(conversation_id))

    def actions(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """The action log AgentSight would show."""
        return self._stored().actions(self._named(conversation_id))

    def buttons(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """The button clicks AgentSight would show."""
        return self._stored().buttons(self._named(conversation_id))

    def usage(self, conversation_id: str | None = None) -> dict[str, Any]:
        """Token totals and the per-model breakdown AgentSight would show."""
        return self._stored().usage(self._named(conversation_id))

    def close(self) -> None:
        """Shut the tracker, exporter and provider down."""
        self.backend.tracker.shutdown(timeout=1)
        self.backend.exporter.shutdown(timeout_millis=2000)
        self.backend.provider.shutdown()
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> AgentSightCapture:
        """The capture itself."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the capture."""
        self.close()

    def _named(self, conversation_id: str | None) -> str:
        """The conversation meant: the one given, or the only one captured."""
        if conversation_id is not None:
            return conversation_id
        ids = sorted({block["conversation_id"] for block in self.blocks()})
        if len(ids) != 1:
            raise AssertionError(f"name the conversation: captured {ids}")
        return str(ids[0])

    def _stored(self) -> Store:
        """The in-memory store, holding every ingest body posted so far (each checked first)."""
        from agentsight_otel._server.store import Store
        from agentsight_otel._server.validation import Rejection, validate_ingest

        self.flush()
        if self._store is None:
            self._store = Store()
        bodies = self.transport.bodies(INGEST_PATH)
        for body in bodies[self._read :]:
            blocks = validate_ingest(body)
            if isinstance(blocks, Rejection):
                raise AssertionError(f"AgentSight would refuse this body: {blocks.to_json()}")
            self._store.ingest(blocks)
        self._read = len(bodies)
        return self._store
