"""The API key never shows: not in logs (any logger, DEBUG), exception texts, reprs, results,
request bodies or anything printed, on every failure path, and never goes to another host.

The scripted backends here echo the key back in their error bodies on purpose, as a careless
backend or proxy might: the library must still not repeat it.
"""

from __future__ import annotations

import http.server
import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from agentsight_otel import AgentSightSpanExporter, ConversationTracker
from agentsight_otel._config import resolve_settings
from agentsight_otel._delivery.client import IngestClient, RetryPolicy
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._delivery.transport import HttpResponse, RequestsTransport, TransportError
from agentsight_otel.exceptions import InvalidApiKeyError
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY, FakeBackend, ScriptedTransport, fake_backend

KEY = TEST_API_KEY
SECRET_PART = KEY[4:36]  # the 32 hex digits: enough of the key to matter
OTHER_KEY = "ags_ffffffffffffffffffffffffffffffff_ffffff"
ATTACHMENT = [{"filename": "a.txt", "data": "aGk="}]


class Sweep:
    """Collects every text the library could leak through, then checks the key is in none."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.handler = logging.Handler(logging.DEBUG)
        self.handler.emit = self._keep  # type: ignore[method-assign]

    def _keep(self, record: logging.LogRecord) -> None:
        self.texts.append(record.getMessage())
        if record.exc_info:
            self.texts.append("".join(traceback.format_exception(*record.exc_info)))

    def add(self, *values: object) -> None:
        """Texts, reprs and strs of anything else."""
        for value in values:
            if isinstance(value, BaseException):
                self.texts += [str(value), repr(value), "".join(traceback.format_exception(value))]
            else:
                self.texts += [str(value), repr(value)]

    def add_bodies(self, transport: ScriptedTransport) -> None:
        """Every request body (never the headers: the key belongs in one of them)."""
        self.texts += [(r.body or b"").decode("utf-8", "replace") for r in transport.requests]

    def check(self) -> None:
        """Neither the key nor its secret part appears anywhere, in any case."""
        assert self.texts, "nothing was collected"
        for text in self.texts:
            assert SECRET_PART.lower() not in text.lower(), text[:500]


@pytest.fixture
def sweep(capfd: pytest.CaptureFixture[str]) -> Iterator[Sweep]:
    """Every logger at DEBUG into the sweep; stdout and stderr checked at the end too."""
    collected = Sweep()
    root = logging.getLogger()
    levels = (root.level, logging.getLogger("agentsight_otel").level)
    root.addHandler(collected.handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("agentsight_otel").setLevel(logging.DEBUG)
    yield collected
    root.removeHandler(collected.handler)
    root.setLevel(levels[0])
    logging.getLogger("agentsight_otel").setLevel(levels[1])
    out, err = capfd.readouterr()
    collected.texts += [out, err]
    collected.check()


def echo(status: int, *, json_body: bool = True) -> HttpResponse:
    """An error answer that repeats the key, as a careless backend might."""
    if json_body:
        body = (
            f'{{"detail": "bad key {KEY}", "conversations": [{{"index": 0, '
            f'"conversation_id": "c", "errors": {{"key": ["{KEY} refused"]}}}}]}}'
        ).encode()
    else:
        body = f"key {KEY.upper()} is not allowed".encode()
    return HttpResponse(status, {}, body)


FAILURES: dict[str, Callable[[], HttpResponse | Exception]] = {
    "401 echoing the key": lambda: echo(401),
    "403 echoing the key in text": lambda: echo(403, json_body=False),
    "400 naming blocks, echoing the key": lambda: echo(400),
    "413": lambda: HttpResponse(413, {}, b""),
    "500 burst": lambda: HttpResponse(500, {}, KEY.encode()),
    "network error quoting the key": lambda: TransportError(f"reset; header Api-Key {KEY}"),
    "a broken transport": lambda: RuntimeError(f"bug with {KEY}"),
}


def _send_everything(backend: FakeBackend, sweep: Sweep) -> None:
    t = backend.tracker
    t.get_or_create_conversation("c")
    t.track_human_message("hello", attachments=ATTACHMENT)
    t.track_attachments(ATTACHMENT)
    sweep.add(t.send_tracked_data(timeout=5), t.initialize_conversation("visit"))
    backend.exporter.force_flush(5000)
    t.shutdown(timeout=5)
    sweep.add(backend.exporter.stats, t.get_tracked_data_summary())


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_failure_paths_never_show_the_key(
    failure: str, sweep: Sweep, request: pytest.FixtureRequest
) -> None:
    if failure == "a broken transport":  # an internal failure: checked as a user sees it
        request.getfixturevalue("internal_errors_hidden")
    transport = ScriptedTransport()
    for path in ("/api/ingest/", "/api/attachments/", "/api/conversations/", "/api/me/"):
        transport.script(path, *(FAILURES[failure]() for _ in range(20)))
    backend = fake_backend(transport=transport)
    try:
        _send_everything(backend, sweep)
        client = backend.exporter._worker.client
        sweep.add(backend.exporter, backend.tracker, backend.exporter.settings, client)
        sweep.add(backend.tracker.settings)  # (the scripted transport records headers: not it)
    finally:
        backend.exporter.shutdown(timeout_millis=2000)
        backend.provider.shutdown()
    sweep.add_bodies(transport)


def test_invalid_keys_never_show(sweep: Sweep, monkeypatch: pytest.MonkeyPatch) -> None:
    near_miss = KEY[:-1]  # one digit short: a real key's prefix
    for call in (
        lambda: ConversationTracker(api_key=near_miss),
        lambda: AgentSightSpanExporter(api_key=near_miss, _transport=ScriptedTransport()),
        lambda: resolve_settings(api_key=f"Bearer {KEY}"),
    ):
        with pytest.raises(InvalidApiKeyError) as raised:
            call()
        sweep.add(raised.value)
    monkeypatch.setenv("AGENTSIGHT_API_KEY", near_miss)
    exporter = AgentSightSpanExporter(_transport=ScriptedTransport())
    sweep.add(exporter.settings, exporter.settings.key_problem)
    exporter.shutdown()


def test_a_key_in_the_wrong_variable_is_not_echoed(
    sweep: Sweep, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTSIGHT_API_ENDPOINT", KEY)
    monkeypatch.setenv("AGENTSIGHT_ENVIRONMENT", f"  {KEY}\n")
    monkeypatch.setenv("AGENTSIGHT_LOG_LEVEL", KEY)
    sweep.add(resolve_settings())


def test_real_http_failures_never_show_the_key(sweep: Sweep) -> None:
    with LocalServer(api_keys=[OTHER_KEY]) as server:  # 403: our key is not one it knows
        tracker = ConversationTracker(api_key=KEY, endpoint=server.url, send_timeout=10)
        tracker.track_human_message("hi", conversation_id="real")
        sweep.add(tracker.send_tracked_data(conversation_id="real"), tracker, tracker.settings)
        sweep.add(RequestsTransport(), IngestClient(tracker.settings, RequestsTransport()))
        tracker.shutdown(timeout=5)
    _refused_connection(sweep)


def _refused_connection(sweep: Sweep) -> None:
    """A real connection refused, retried until the (short) deadline and reported."""
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    exporter = AgentSightSpanExporter(
        api_key=KEY,
        endpoint=endpoint,
        export_deadline=1.0,
        _retry_policy=RetryPolicy(max_attempts=3, base_delay=0.05),
        _ledger=DeliveryLedger(),
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracker = ConversationTracker(
        api_key=KEY, endpoint=endpoint, tracer_provider=provider, _ledger=exporter._ledger
    )
    tracker.track_human_message("hi", conversation_id="refused")
    result = tracker.send_tracked_data(conversation_id="refused", timeout=5)
    assert result["status"] == "failed"
    sweep.add(result, exporter, exporter.stats)
    tracker.shutdown(timeout=1)
    provider.shutdown()


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with a redirect (first server) or 200 (second), recording headers."""

    seen: list[dict[str, str]]
    location: str | None

    def do_POST(self) -> None:
        self.seen.append(dict(self.headers))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(307 if self.location else 200)
        if self.location:
            self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def _serve(location: str | None) -> tuple[http.server.HTTPServer, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen, "location": location})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_a_redirect_never_carries_the_key_to_another_host() -> None:
    other, other_seen = _serve(None)
    first, first_seen = _serve(f"http://127.0.0.1:{other.server_port}/api/ingest/")
    try:
        settings = resolve_settings(api_key=KEY, endpoint=f"http://127.0.0.1:{first.server_port}")
        client = IngestClient(settings, RequestsTransport())
        outcome = client.post_json("/api/ingest/", b"{}", deadline=5)
    finally:
        first.shutdown()
        other.shutdown()
    assert (outcome.ok, outcome.status) == (False, 307)  # terminal, not followed
    assert first_seen[0]["Authorization"] == f"Api-Key {KEY}"
    assert other_seen == []
