"""Edge cases: conversation field updates, bounded conversations, queues, logging, asyncio."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from agentsight_otel import AgentSightSpanExporter, ConversationTracker
from agentsight_otel import _semconv as sc
from agentsight_otel._delivery.client import retry_after
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._delivery.transport import HttpResponse
from agentsight_otel._ids import conversation_trace_id
from agentsight_otel._log import RateLimitedLog
from agentsight_otel.testing import TEST_API_KEY, FakeBackend, FakeClock, ScriptedTransport

from .helpers import (
    BlockingTransport,
    blocks,
    memory_tracker,
    messages,
    tool_record,
    turn_record,
    worker_stopped,
)


def test_fields_given_again_apply_to_the_next_interaction(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("fields", name="First")
    t.track_human_message("one")
    t.send_tracked_data()
    t.get_or_create_conversation("fields", name="Second", customer_id="u-2")
    t.track_human_message("two")
    t.send_tracked_data()
    first, second = blocks(backend.transport)
    assert first["name"] == "First" and "customer_id" not in first
    assert (second["name"], second["customer_id"]) == ("Second", "u-2")


def test_fields_given_while_an_interaction_is_open_reach_the_wire(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("late-fields")
    t.track_human_message("hi")
    t.get_or_create_conversation("late-fields", name="Named later", customer_id="u-7")
    t.send_tracked_data()
    [block] = blocks(backend.transport)
    assert (block.get("name"), block.get("customer_id")) == ("Named later", "u-7")


def test_current_conversation_survives_being_forgotten() -> None:
    tracker, memory, _ = memory_tracker(_max_conversations=2)
    tracker.get_or_create_conversation("long-lived")
    tracker.track_human_message("first")
    tracker.send_tracked_data()
    for other in ("b", "c", "d"):
        tracker.track_human_message("x", conversation_id=other)
        tracker.send_tracked_data(other)
    tracker.track_human_message("second")
    [item] = tracker.get_tracked_data_summary()["items"]
    assert item["conversation_id"] == "long-lived"


def test_conversations_are_bounded_but_pending_ones_kept() -> None:
    tracker, _, _ = memory_tracker(_max_conversations=3)
    tracker.track_human_message("pending", conversation_id="keep-me")
    for n in range(10):
        tracker.track_human_message("x", conversation_id=f"idle-{n}")
        tracker.send_tracked_data(f"idle-{n}")
    assert tracker.get_tracked_data_summary("keep-me")["summary"]["total"] == 1
    assert tracker.send_tracked_data("keep-me")["summary"]["questions"] == 1


def test_export_does_not_block_while_the_backend_hangs() -> None:
    transport = BlockingTransport()
    e = AgentSightSpanExporter(
        api_key=TEST_API_KEY,
        endpoint="http://agentsight.test",
        _transport=transport,
        _clock=FakeClock(),
        _ledger=DeliveryLedger(),
    )
    try:
        tid = conversation_trace_id("hung")
        assert e.export_records([tool_record(tid, 1, "hung", parent=2)]) == SpanExportResult.SUCCESS
        e.force_flush(timeout_millis=1)
        assert transport.entered.wait(10)
        # the worker is stuck inside a request; the application thread is not
        result = e.export_records([tool_record(tid, 3, "hung", parent=2)])
        assert result == SpanExportResult.SUCCESS
        assert not transport.closed.is_set()
        assert e.force_flush(timeout_millis=50) is False
    finally:
        e.shutdown(timeout_millis=100)
        assert worker_stopped(e._worker)  # let it finish before the next test


def test_a_full_delivery_queue_drops_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    transport = BlockingTransport()
    e = AgentSightSpanExporter(
        api_key=TEST_API_KEY,
        endpoint="http://agentsight.test",
        _transport=transport,
        _clock=FakeClock(),
        _ledger=DeliveryLedger(),
        _max_queue_spans=2,
    )
    try:
        tid = conversation_trace_id("queue")
        e.export_records([tool_record(tid, 1, "queue", parent=9)])
        e.force_flush(timeout_millis=1)
        assert transport.entered.wait(10)  # the worker holds the first group
        with caplog.at_level(logging.WARNING, logger="agentsight_otel"):
            # two children and their root: one group of three spans, over the bound of two
            group = [
                tool_record(tid, 2, "queue", parent=9),
                tool_record(tid, 3, "queue", parent=9),
                turn_record(tid, 9, "queue"),
            ]
            assert e.export_records(group) == SpanExportResult.FAILURE
        assert e.stats.dropped_queue_full == 3
        assert any("not delivered" in r.getMessage() for r in caplog.records)
    finally:
        e.shutdown(timeout_millis=100)
        assert worker_stopped(e._worker)


def test_rate_limited_log_counts_what_it_suppresses(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RateLimitedLog(interval=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="agentsight_otel"):
        for _ in range(3):
            log.log(logging.WARNING, "k", "backend down")
        log.log(logging.WARNING, "other", "something else")
        now[0] = 61.0
        log.log(logging.WARNING, "k", "backend down")
    ours = ("backend down", "something else")  # other tests' threads may log meanwhile
    texts = [r.getMessage() for r in caplog.records if r.getMessage().startswith(ours)]
    assert texts == [
        "backend down",
        "something else",
        "backend down (2 similar message(s) suppressed)",
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0", 0.0),
        ("-5", 0.0),
        ("2.5", 2.5),
        ("inf", 60.0),
        ("nan", None),
        ("", None),
        ("tomorrow-ish", None),
    ],
)
def test_retry_after_edge_values(header: str, expected: float | None) -> None:
    headers = {"retry-after": header} if header else {}
    assert retry_after(HttpResponse(429, headers), cap=60.0) == expected


def test_asend_tracked_data_does_not_block_the_event_loop(make_backend) -> None:
    release = threading.Event()

    class Gated(ScriptedTransport):
        def request(self, method, url, body, headers, timeout):
            if method == "POST" and not release.wait(5):  # only the event loop opens the gate
                return HttpResponse(400, {}, b'{"detail": "gate never opened"}')
            return super().request(method, url, body, headers, timeout)

    transport = Gated()
    b = make_backend(transport=transport)

    async def main() -> dict:
        b.tracker.get_or_create_conversation("async")
        b.tracker.track_human_message("hi")
        sending = asyncio.create_task(b.tracker.asend_tracked_data(timeout=20))
        await asyncio.sleep(0)
        release.set()  # runs only if the send left the loop free
        return await sending

    result = asyncio.run(main())
    assert result["status"] == "delivered"
    assert messages(transport, "async") == ["hi"]


def test_visit_spans_carry_the_conversation_fields(backend: FakeBackend) -> None:
    backend.tracker.initialize_conversation("visit-fields", device="mobile", language="de")
    [block] = blocks(backend.transport)
    [visit] = block["spans"]
    assert visit["attributes"][sc.CONVERSATION_FIELDS["device"]] == "mobile"
    assert (block["device"], block["language"]) == ("mobile", "de")


def test_tracker_configure_swaps_the_provider() -> None:
    first, first_memory, _ = memory_tracker()
    _, second_memory, second_provider = memory_tracker()
    first.track_human_message("one", conversation_id="swap")
    first.send_tracked_data("swap")
    first.configure(tracer_provider=second_provider)
    first.track_human_message("two", conversation_id="swap")
    first.send_tracked_data("swap")
    assert len(first_memory.get_finished_spans()) == 1
    assert len(second_memory.get_finished_spans()) == 1
    assert isinstance(first, ConversationTracker)
