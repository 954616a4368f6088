"""Test doubles for users and for this project: a scripted transport and a fake clock."""

from __future__ import annotations

import gzip
import json
import threading
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from agentsight_otel._delivery.client import RetryPolicy
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._delivery.transport import Body, HttpResponse, TransportError
from agentsight_otel._export.exporter import AgentSightSpanExporter
from agentsight_otel._tracker import ConversationTracker

TEST_API_KEY = "ags_0123456789abcdef0123456789abcdef_abcdef"
# https: the scripted transport never connects, and a fake backend should not look like a
# key sent in clear to another host (which the exporter warns about).
TEST_ENDPOINT = "https://agentsight.test"


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

    def bodies(self, path: str = "/api/ingest/") -> list[Any]:
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


def read_local(url: str, conversation_id: str, part: str = "", api_key: str = TEST_API_KEY) -> Any:
    """A read endpoint of the local AgentSight-compatible server (``part`` like "transcript/")."""
    answer = requests.get(
        f"{url}/api/conversations/{conversation_id}/{part}",
        headers={"Authorization": f"Api-Key {api_key}"},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()
