"""The retrying client and the delivery worker on a scripted transport and a fake clock."""

from __future__ import annotations

import datetime as dt
import email.utils
import gzip
import json
import logging
import threading

import pytest

from agentsight_otel import AgentSightSpanExporter
from agentsight_otel import _semconv as sc
from agentsight_otel._config import resolve_settings
from agentsight_otel._delivery.client import IngestClient, RetryPolicy, retry_after
from agentsight_otel._delivery.clock import SystemClock
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._delivery.transport import HttpResponse
from agentsight_otel._ids import conversation_trace_id
from agentsight_otel.testing import (
    TEST_API_KEY,
    FakeBackend,
    FakeClock,
    ScriptedTransport,
    refused,
)

from .helpers import BlockingTransport, blocks, capture, ingest_posts, tool_record, worker_stopped

INGEST = "/api/ingest/"


def make_client(
    transport: ScriptedTransport,
    clock: FakeClock | None = None,
    *,
    policy: RetryPolicy | None = None,
    jitter=None,
    **settings,
) -> IngestClient:
    settings.setdefault("api_key", TEST_API_KEY)
    settings.setdefault("endpoint", "http://agentsight.test")
    kwargs = {"jitter": jitter} if jitter is not None else {}
    return IngestClient(
        resolve_settings(**settings),
        transport,
        clock=clock or FakeClock(),
        policy=policy or RetryPolicy(),
        **kwargs,
    )


# -- retry classification -------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        HttpResponse(500),
        HttpResponse(502),
        HttpResponse(503),
        HttpResponse(504),
        HttpResponse(408),
        HttpResponse(429),
        refused(),
    ],
)
def test_transient_failures_are_retried(failure) -> None:
    transport = ScriptedTransport().script(INGEST, failure, failure)
    clock = FakeClock()
    outcome = make_client(transport, clock).post_json(INGEST, b"{}")
    assert outcome.ok
    assert outcome.attempts == 3
    assert len(transport.requests) == 3
    assert len(clock.waits) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_terminal_4xx_is_not_retried(status: int) -> None:
    transport = ScriptedTransport().script(
        INGEST, HttpResponse(status, {}, b'{"detail": "no way"}')
    )
    clock = FakeClock()
    outcome = make_client(transport, clock).post_json(INGEST, b"{}")
    assert not outcome.ok and not outcome.retryable
    assert outcome.status == status
    assert "no way" in outcome.detail
    assert len(transport.requests) == 1
    assert clock.waits == []


def test_backoff_grows_exponentially_with_jitter_in_bounds() -> None:
    transport = ScriptedTransport(default=HttpResponse(503))
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=7, base_delay=0.5, max_delay=100.0)
    outcome = make_client(transport, clock, policy=policy, export_deadline=1000).post_json(
        INGEST, b"{}"
    )
    assert not outcome.ok
    assert len(transport.requests) == 7
    assert len(clock.waits) == 6
    for attempt, wait in enumerate(clock.waits, start=1):
        ceiling = 0.5 * 2 ** (attempt - 1)
        assert ceiling / 2 <= wait <= ceiling
    assert clock.waits == sorted(clock.waits)  # equal jitter: each wait >= the previous
    assert clock.waits[-1] > clock.waits[0] * 4


def test_jitter_spreads_the_wait() -> None:
    waits = []
    for jitter in (0.0, 0.999):
        clock = FakeClock()
        transport = ScriptedTransport().script(INGEST, HttpResponse(503))
        make_client(transport, clock, jitter=lambda j=jitter: j).post_json(INGEST, b"{}")
        waits.append(clock.waits[0])
    assert waits[0] == pytest.approx(0.25)
    assert waits[1] == pytest.approx(0.5, abs=0.001)


def test_max_delay_caps_the_backoff() -> None:
    clock = FakeClock()
    transport = ScriptedTransport(default=HttpResponse(500))
    policy = RetryPolicy(max_attempts=12, base_delay=1.0, max_delay=5.0)
    make_client(transport, clock, policy=policy, export_deadline=10_000).post_json(INGEST, b"{}")
    assert max(clock.waits) <= 5.0
    assert len(clock.waits) == 11


def test_retry_after_seconds_is_honoured() -> None:
    transport = ScriptedTransport().script(INGEST, HttpResponse(429, {"retry-after": "7"}))
    clock = FakeClock()
    assert make_client(transport, clock).post_json(INGEST, b"{}").ok
    assert clock.waits == [7.0]


def test_retry_after_is_capped() -> None:
    transport = ScriptedTransport().script(INGEST, HttpResponse(503, {"retry-after": "100000"}))
    clock = FakeClock()
    policy = RetryPolicy(retry_after_cap=20.0)
    assert make_client(transport, clock, policy=policy).post_json(INGEST, b"{}").ok
    assert clock.waits == [20.0]


def test_retry_after_http_date_is_honoured_and_capped() -> None:
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=20)
    far = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)
    past = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    for when, low, high in ((soon, 10.0, 20.0), (far, 60.0, 60.0), (past, 0.0, 0.0)):
        header = email.utils.format_datetime(when, usegmt=True)
        pause = retry_after(HttpResponse(429, {"retry-after": header}), cap=60.0)
        assert pause is not None
        assert low <= pause <= high, header


def test_unparseable_retry_after_falls_back_to_backoff() -> None:
    transport = ScriptedTransport().script(INGEST, HttpResponse(429, {"retry-after": "soon"}))
    clock = FakeClock()
    assert make_client(transport, clock, jitter=lambda: 0.0).post_json(INGEST, b"{}").ok
    assert clock.waits == [0.25]


def test_deadline_stops_retrying() -> None:
    transport = ScriptedTransport(default=HttpResponse(503))
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=1000, base_delay=1.0, max_delay=4.0)
    start = clock.now()
    outcome = make_client(transport, clock, policy=policy, export_deadline=20).post_json(
        INGEST, b"{}"
    )
    assert not outcome.ok and outcome.retryable
    assert "deadline" in outcome.detail
    assert clock.now() - start <= 20
    assert sum(clock.waits) <= 20
    assert 3 <= len(transport.requests) < 20


def test_retry_after_beyond_the_deadline_gives_up_without_waiting() -> None:
    transport = ScriptedTransport(default=HttpResponse(429, {"retry-after": "50"}))
    clock = FakeClock()
    outcome = make_client(transport, clock, export_deadline=30).post_json(INGEST, b"{}")
    assert not outcome.ok
    assert len(transport.requests) == 1
    assert clock.waits == []


def test_interrupt_stops_retrying() -> None:
    transport = ScriptedTransport(default=HttpResponse(503))
    client = make_client(transport)
    client.interrupt.set()
    outcome = client.post_json(INGEST, b"{}")
    assert not outcome.ok
    assert "shutdown" in outcome.detail
    assert len(transport.requests) <= 1


def test_request_timeout_never_exceeds_the_remaining_deadline() -> None:
    seen: list[float] = []

    class Recording(ScriptedTransport):
        def request(self, method, url, body, headers, timeout):
            seen.append(timeout)
            return super().request(method, url, body, headers, timeout)

    transport = Recording(default=HttpResponse(503))
    make_client(
        transport,
        request_timeout=10,
        export_deadline=12,
        policy=RetryPolicy(max_attempts=4, base_delay=2, max_delay=2),
    ).post_json(INGEST, b"{}")
    assert seen[0] == 10
    assert all(t <= 12 for t in seen)
    assert seen[-1] < 10


def test_400_detail_and_blocks_are_parsed() -> None:
    body = {
        "detail": "invalid blocks",
        "truncated": False,
        "conversations": [
            {"index": 1, "conversation_id": "b", "errors": {"spans": ["span 0: bad kind"]}}
        ],
    }
    transport = ScriptedTransport().script(INGEST, HttpResponse(400, {}, json.dumps(body).encode()))
    outcome = make_client(transport).post_json(INGEST, b"{}")
    assert outcome.status == 400
    assert "invalid blocks" in outcome.detail
    assert outcome.rejected == {1: "spans: span 0: bad kind"}


def test_headers_and_gzip_threshold() -> None:
    transport = ScriptedTransport()
    client = make_client(transport)
    client.post_json(INGEST, b'{"x": 1}', gzip_body=True)  # tiny: not worth compressing
    big = json.dumps({"pad": "x" * 5000}).encode()
    client.post_json(INGEST, big, gzip_body=True)
    small, large = transport.requests
    for request in (small, large):
        assert request.headers["Authorization"] == f"Api-Key {TEST_API_KEY}"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Accept"] == "application/json"
        assert request.headers["User-Agent"].startswith("agentsight-otel/")
    assert "Content-Encoding" not in small.headers
    assert large.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(large.body) == big


# -- the worker, through the exporter ------------------------------------------------------


def two_conversation_spans():
    def script(t) -> None:
        for cid in ("conv-a", "conv-b", "conv-c"):
            t.track_human_message(f"hello from {cid}", conversation_id=cid)
            t.send_tracked_data(cid)

    return capture(script)


def deliver(exporter, spans) -> None:
    """Hand all spans over in one export call, then wait for the delivery attempt."""
    assert exporter.export(spans).name == "SUCCESS"
    assert exporter.force_flush()


def test_backend_5xx_then_success_delivers(make_backend) -> None:
    transport = ScriptedTransport().script(INGEST, HttpResponse(503), refused())
    b = make_backend(transport=transport)
    b.tracker.track_human_message("hi", conversation_id="flaky")
    result = b.tracker.send_tracked_data(conversation_id="flaky")
    assert result["status"] == "delivered"
    assert ingest_posts(transport) == 3
    assert len(b.clock.waits) == 2
    posted = [r.body for r in transport.requests if r.path == INGEST]
    assert len(set(posted)) == 1  # the same body each time
    assert (
        transport.bodies()[-1]["conversations"][0]["spans"][0]["events"][0]["attributes"][
            sc.MESSAGE_CONTENT
        ]
        == "hi"
    )


def test_terminal_rejection_is_logged_once_without_the_key(
    make_backend, caplog: pytest.LogCaptureFixture
) -> None:
    transport = ScriptedTransport(default=HttpResponse(401, {}, b'{"detail": "Invalid API key."}'))
    b = make_backend(transport=transport)
    with caplog.at_level(logging.DEBUG, logger="agentsight_otel"):
        b.tracker.track_human_message("one", conversation_id="denied")
        first = b.tracker.send_tracked_data(conversation_id="denied")
        b.tracker.track_human_message("two", conversation_id="denied")
        second = b.tracker.send_tracked_data(conversation_id="denied")
    assert first["status"] == second["status"] == "rejected"
    assert first["summary"]["errors"] == 1
    assert "Invalid API key." in first["items"][0]["error"]
    assert ingest_posts(transport) == 2  # not retried
    errors = [
        r for r in caplog.records if r.levelno >= logging.ERROR and "ingest" in r.getMessage()
    ]
    assert len(errors) == 1
    assert "Invalid API key." in errors[0].getMessage()
    assert all(TEST_API_KEY not in r.getMessage() for r in caplog.records)
    assert TEST_API_KEY not in caplog.text


def test_400_naming_one_block_resends_the_others(exporters) -> None:
    error = {
        "detail": "bad block",
        "truncated": False,
        "conversations": [
            {"index": 1, "conversation_id": "conv-b", "errors": {"name": ["too long"]}}
        ],
    }
    transport = ScriptedTransport().script(
        INGEST, HttpResponse(400, {}, json.dumps(error).encode())
    )
    e = exporters(transport)
    deliver(e, two_conversation_spans())
    first, second = transport.bodies()
    assert [c["conversation_id"] for c in first["conversations"]] == ["conv-a", "conv-b", "conv-c"]
    assert [c["conversation_id"] for c in second["conversations"]] == ["conv-a", "conv-c"]
    assert e.stats.delivered_spans == 2
    assert e.stats.rejected_spans == 1


def test_400_naming_blocks_is_logged_with_the_detail(
    exporters, caplog: pytest.LogCaptureFixture
) -> None:
    error = {
        "detail": "bad block",
        "truncated": False,
        "conversations": [
            {"index": 0, "conversation_id": "conv-a", "errors": {"name": ["too long"]}}
        ],
    }
    transport = ScriptedTransport().script(
        INGEST, HttpResponse(400, {}, json.dumps(error).encode())
    )
    e = exporters(transport)
    with caplog.at_level(logging.DEBUG, logger="agentsight_otel"):
        deliver(e, two_conversation_spans())
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("too long" in m for m in errors)
    assert TEST_API_KEY not in caplog.text


def test_400_with_out_of_range_index_is_not_reposted_forever(exporters) -> None:
    error = {
        "detail": "bad",
        "conversations": [{"index": 7, "conversation_id": "zz", "errors": {"x": ["y"]}}],
    }
    transport = ScriptedTransport(default=HttpResponse(400, {}, json.dumps(error).encode()))
    e = exporters(transport)
    deliver(e, two_conversation_spans())
    assert ingest_posts(transport) <= 2
    assert e.stats.rejected_spans == 3


def test_413_splits_the_body_and_resends(exporters) -> None:
    transport = ScriptedTransport().script(INGEST, HttpResponse(413))
    e = exporters(transport)
    deliver(e, two_conversation_spans())
    bodies = transport.bodies()
    assert len(bodies) == 3
    assert len(bodies[0]["conversations"]) == 3
    later = [c["conversation_id"] for body in bodies[1:] for c in body["conversations"]]
    assert sorted(later) == ["conv-a", "conv-b", "conv-c"]
    assert all(len(body["conversations"]) < 3 for body in bodies[1:])
    assert e.stats.delivered_spans == 3


def test_size_limit_splits_by_conversation(exporters) -> None:
    transport = ScriptedTransport()
    e = exporters(transport, max_body_bytes=3000)
    deliver(e, two_conversation_spans())
    posts = [r for r in transport.requests if r.path == INGEST]
    assert len(posts) >= 2
    assert all(len(r.body) <= 3000 for r in posts)
    ids = [c["conversation_id"] for body in transport.bodies() for c in body["conversations"]]
    assert sorted(ids) == ["conv-a", "conv-b", "conv-c"]  # each conversation whole, once
    assert e.stats.delivered_spans == 3


def test_a_big_conversation_is_split_into_several_blocks(exporters) -> None:
    transport = ScriptedTransport()
    e = exporters(transport, max_body_bytes=4000)
    trace_id = conversation_trace_id("huge")
    records = [
        tool_record(trace_id, 100 + i, "huge", parent=1, start=1_700_000_000 * 10**9 + i)
        for i in range(10)
    ]
    e.export_records(records)
    e.force_flush()
    posts = [r for r in transport.requests if r.path == INGEST]
    assert len(posts) >= 2
    assert all(len(r.body) <= 4000 for r in posts)
    spans = [s for b in blocks(transport) for s in b["spans"]]
    assert sorted(s["span_id"] for s in spans) == sorted(f"{100 + i:016x}" for i in range(10))
    assert {b["conversation_id"] for b in blocks(transport)} == {"huge"}


@pytest.mark.parametrize(
    ("me", "compression", "gzipped"),
    [
        ({"capabilities": ["gzip-ingest"]}, None, True),
        ({"capabilities": []}, None, False),
        (None, None, False),
        (None, "gzip", True),
        ({"capabilities": ["gzip-ingest"]}, "none", False),
    ],
)
def test_gzip_only_when_advertised_or_asked(make_backend, me, compression, gzipped) -> None:
    transport = ScriptedTransport()
    if me is not None:
        transport.script("/api/me/", HttpResponse(200, {}, json.dumps(me).encode()))
    else:
        transport.script("/api/me/", HttpResponse(404))
    kwargs = {"compression": compression} if compression else {}
    b = make_backend(transport=transport, **kwargs)
    b.tracker.track_human_message("x" * 3000, conversation_id="gz")
    assert b.tracker.send_tracked_data(conversation_id="gz")["status"] == "delivered"
    [post] = [r for r in transport.requests if r.path == INGEST]
    assert (post.headers.get("Content-Encoding") == "gzip") is gzipped
    if gzipped:
        assert post.body[:2] == b"\x1f\x8b"
    assert post.json()["conversations"][0]["conversation_id"] == "gz"


def test_capabilities_are_asked_once(make_backend) -> None:
    b = make_backend()
    for n in range(3):
        b.tracker.track_human_message("x", conversation_id=f"cap-{n}")
        b.tracker.send_tracked_data(conversation_id=f"cap-{n}")
    me = [r for r in b.transport.requests if r.path == "/api/me/"]
    assert len(me) == 1
    assert me[0].method == "GET"
    assert me[0].headers["Authorization"] == f"Api-Key {TEST_API_KEY}"


def test_shutdown_returns_with_the_backend_hanging(
    make_backend, caplog: pytest.LogCaptureFixture
) -> None:
    transport = BlockingTransport()
    b = make_backend(transport=transport)
    b.tracker.track_human_message("lost?", conversation_id="hang")
    assert b.tracker.send_tracked_data(conversation_id="hang", timeout=0)["status"] == "pending"
    assert transport.entered.wait(10)
    with caplog.at_level(logging.WARNING, logger="agentsight_otel"):
        b.exporter.shutdown(timeout_millis=200)
        assert transport.closed.is_set()  # shutdown closed the transport to unblock it
        # The worker's last round ended (issue 18: on the shared io thread, which goes on).
        assert worker_stopped(b.exporter._worker)
    posts = [u for m, u in transport.requests if m == "POST"]
    assert len(posts) == 1  # not retried after the interrupt
    assert b.exporter.stats.failed_spans == 1
    assert any("shutdown" in r.getMessage() for r in caplog.records)


def test_shutdown_interrupts_a_retry_after_wait(exporters) -> None:
    posted = threading.Event()

    class Signalling(ScriptedTransport):
        def request(self, method, url, body, headers, timeout):
            answer = super().request(method, url, body, headers, timeout)
            if method == "POST":
                posted.set()
            return answer

    transport = Signalling(default=HttpResponse(503, {"retry-after": "3600"}))
    e = exporters(
        transport,
        clock=SystemClock(),
        policy=RetryPolicy(retry_after_cap=3600),
        export_deadline=7200,
    )
    e.export_records([tool_record(conversation_trace_id("waiting"), 1, "waiting", parent=2)])
    e.force_flush(timeout_millis=1)  # hand it to the worker, do not wait for the hour
    assert posted.wait(10)
    e.shutdown(timeout_millis=300)  # the worker sits in a one-hour Retry-After wait
    assert worker_stopped(e._worker)  # its last round ended (the io thread goes on)
    assert ingest_posts(transport) == 1
    assert e.stats.failed_spans == 1


def test_no_api_key_means_no_delivery(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    transport = ScriptedTransport()
    with caplog.at_level(logging.WARNING, logger="agentsight_otel"):
        e = AgentSightSpanExporter(
            endpoint="http://agentsight.test",
            _transport=transport,
            _clock=FakeClock(),
            _ledger=DeliveryLedger(),
        )
        try:
            e.export_records([tool_record(conversation_trace_id("nokey"), 1, "nokey", parent=2)])
            e.force_flush()
        finally:
            e.shutdown(timeout_millis=2000)
    assert ingest_posts(transport) == 0
    assert e.stats.failed_spans == 1
    assert any("AGENTSIGHT_API_KEY" in r.getMessage() for r in caplog.records)


def test_turn_attribute_marks_the_interaction_complete(backend: FakeBackend) -> None:
    backend.tracker.track_human_message("x", conversation_id="complete")
    backend.tracker.send_tracked_data(conversation_id="complete")
    [turn] = [s for b in blocks(backend.transport) for s in b["spans"]]
    assert turn["attributes"][sc.TURN_COMPLETE] is True
