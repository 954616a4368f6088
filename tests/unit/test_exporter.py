"""The exporter: assembly, all kinds on the wire, exact wire fields, determinism, bounds."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

from agentsight_otel import AgentSightSpanExporter, ConversationTracker
from agentsight_otel import _semconv as sc
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._export.assembler import TraceAssembler
from agentsight_otel._ids import conversation_trace_id, derived_span_id, hex_span_id
from agentsight_otel.testing import (
    TEST_API_KEY,
    FakeBackend,
    FakeClock,
    HttpResponse,
    ScriptedTransport,
)

from .helpers import (
    HEX16,
    HEX32,
    ISO_RE,
    blocks,
    capture,
    ingest_posts,
    messages,
    record,
    tool_record,
    turn_record,
    wire_spans,
)

SPAN_KEYS = set(sc.WIRE_SPAN_KEYS)
OTEL_KEYS = {
    "span_kind",
    "trace_flags",
    "trace_state",
    "is_remote",
    "status_description",
    "links",
    "resource",
    "dropped",
    "scope",
}
BLOCK_KEYS = {
    "conversation_id",
    "customer_id",
    "customer_ip_address",
    "device",
    "source",
    "language",
    "name",
    "environment",
    "metadata",
    "spans",
}


def full_conversation(t) -> None:
    """One conversation touching every kind."""
    t.initialize_conversation("all-kinds", customer_id="u-1", device="desktop")
    t.get_or_create_conversation("all-kinds", name="Password Reset", metadata={"session_id": "abc"})
    t.track_human_message("How do I reset my password?", metadata={"message_id": "m1"})
    t.track_action(
        "database_lookup",
        duration_ms=150,
        tools_used={"database": "PostgreSQL"},
        response="User found",
    )
    t.track_action("send_email", duration_ms=3, error_msg="smtp down")
    t.track_token_usage(100, 25, model="gpt-4o-mini", provider="openai")
    t.track_button("user_confirmation", "Confirm Order", "order_123", metadata={"price": 99.99})
    t.track_attachments(
        [
            {
                "filename": "report.pdf",
                "mime_type": "application/pdf",
                "data": base64.b64encode(b"%PDF-1.4 data").decode(),
            }
        ]
    )
    t.track_agent_message("Click 'Forgot Password'.")
    t.send_tracked_data()


def test_all_six_kinds_on_the_wire(backend: FakeBackend) -> None:
    full_conversation(backend.tracker)
    kinds = sorted({s["kind"] for s in wire_spans(backend.transport)})
    assert kinds == ["attachment", "button", "conversation", "llm", "tool", "turn"]
    [attachment] = wire_spans(backend.transport, "attachment")
    assert json.loads(attachment["attributes"][sc.ATTACHMENT_FILES]) == [
        {"filename": "report.pdf", "size": 13, "mime_type": "application/pdf"}
    ]
    assert attachment["attributes"][sc.ATTACHMENT_COUNT] == 1
    assert attachment["attributes"][sc.ATTACHMENT_SENDER] == "end_user"
    [button] = wire_spans(backend.transport, "button")
    assert button["name"] == "Confirm Order"
    assert button["attributes"][sc.BUTTON_VALUE] == "order_123"
    assert json.loads(button["attributes"][sc.METADATA]) == {"price": 99.99}


def test_wire_fields_are_exactly_the_contract(backend: FakeBackend) -> None:
    full_conversation(backend.tracker)
    bodies = backend.transport.bodies()
    assert bodies
    for body in bodies:
        assert set(body) == {"sdk", "conversations"}
        assert body["sdk"] == {"name": "agentsight-otel", "version": "0.1.0"}
        for block in body["conversations"]:
            assert set(block) <= BLOCK_KEYS
            assert {"conversation_id", "spans"} <= set(block)
            starts = [s["started_at"] for s in block["spans"]]
            assert starts == sorted(starts)
    spans = wire_spans(backend.transport)
    trace_hex = format(conversation_trace_id("all-kinds"), "032x")
    for span in spans:
        assert set(span) == SPAN_KEYS
        assert HEX16.match(span["span_id"])
        assert span["trace_id"] == trace_hex and HEX32.match(span["trace_id"])
        assert span["parent_span_id"] is None or HEX16.match(span["parent_span_id"])
        assert ISO_RE.match(span["started_at"]) and ISO_RE.match(span["ended_at"])
        assert span["started_at"] <= span["ended_at"]
        assert isinstance(span["duration_ms"], float)
        assert span["duration_ms"] == round(span["duration_ms"], 3) >= 0
        assert span["status"] in ("unset", "ok", "error")
        assert span["attributes"][sc.SPAN_KIND] == span["kind"]
        assert span["attributes"][sc.CONVERSATION_ID] == "all-kinds"
        for event in span["events"]:
            assert set(event) == {"name", "timestamp", "attributes"}
            assert ISO_RE.match(event["timestamp"])
        otel = span["otel"]
        assert set(otel) == OTEL_KEYS
        assert set(otel["dropped"]) == {"attributes", "events", "links"}
        assert set(otel["scope"]) == {"name", "version", "schema_url"}
        assert isinstance(otel["links"], list) and isinstance(otel["resource"], dict)
        assert isinstance(otel["is_remote"], bool)
    ids = [s["span_id"] for s in spans]
    assert len(ids) == len(set(ids))
    [turn] = [s for s in spans if s["kind"] == "turn"]
    for child in spans:
        if child["kind"] in ("tool", "button", "attachment", "llm"):
            assert child["parent_span_id"] == turn["span_id"]
            assert child["attributes"][sc.TURN_ID] == turn["span_id"]
    tools = {s["name"]: s for s in spans if s["kind"] == "tool"}
    assert tools["database_lookup"]["duration_ms"] == 150.0
    assert tools["send_email"]["status"] == "error"


def test_headers_follow_the_contract(backend: FakeBackend) -> None:
    backend.tracker.track_human_message("hi", conversation_id="hdr")
    backend.tracker.send_tracked_data(conversation_id="hdr")
    [post] = [r for r in backend.transport.requests if r.method == "POST"]
    assert post.path == "/api/ingest/"
    assert post.headers["Authorization"] == f"Api-Key {TEST_API_KEY}"
    assert post.headers["Content-Type"] == "application/json"
    assert post.headers["Accept"] == "application/json"
    assert post.headers["User-Agent"].startswith("agentsight-otel/0.1.0")
    assert "Content-Encoding" not in post.headers


def test_derived_ids_are_deterministic_across_exports(exporters) -> None:
    spans = capture(full_conversation)
    results = []
    for _ in range(2):
        transport = ScriptedTransport()
        e = exporters(transport)
        for span in spans:  # one by one, as a SimpleSpanProcessor hands them over
            assert e.export([span]) == SpanExportResult.SUCCESS
        assert e.force_flush()
        results.append(sorted((s["kind"], s["span_id"]) for s in wire_spans(transport)))
    assert results[0] == results[1]
    assert {k for k, _ in results[0]} == {
        "attachment",
        "button",
        "conversation",
        "llm",
        "tool",
        "turn",
    }
    turn = next(s for s in spans if s.attributes[sc.SPAN_KIND] == "turn")
    derived = {
        hex_span_id(derived_span_id(turn.context.trace_id, turn.context.span_id, i))
        for i, ev in enumerate(turn.events)
        if ev.name != sc.MESSAGE_EVENT
    }
    assert derived == {sid for k, sid in results[0] if k in ("button", "attachment", "llm")}


def test_the_same_spans_map_to_identical_wire_spans(exporters) -> None:
    spans = capture(full_conversation)
    mapped = []
    for _ in range(2):
        transport = ScriptedTransport()
        e = exporters(transport)
        for span in spans:
            e.export([span])
        e.force_flush()
        mapped.append({s["span_id"]: json.dumps(s, sort_keys=True) for s in wire_spans(transport)})
    assert len(mapped[0]) == 7  # visit, turn, two tools, llm, button, attachment
    assert mapped[0] == mapped[1]


def test_late_child_goes_out_after_its_turn(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("late")
    t.track_human_message("q")
    tracer = backend.provider.get_tracer("app")
    slow_tool = tracer.start_span(
        "slow_tool",
        attributes={
            sc.SPAN_KIND: sc.KIND_TOOL,
            sc.TOOL_NAME: "slow_tool",
            sc.CONVERSATION_ID: "late",
        },
    )
    t.send_tracked_data()
    assert [s["kind"] for s in wire_spans(backend.transport)] == ["turn"]
    slow_tool.end()
    assert backend.exporter.force_flush()
    bodies = backend.transport.bodies()
    assert len(bodies) == 2
    [late] = [s for c in bodies[1]["conversations"] for s in c["spans"]]
    [turn] = wire_spans(backend.transport, "turn")
    assert late["kind"] == "tool"
    assert late["parent_span_id"] == turn["span_id"]
    assert bodies[1]["conversations"][0]["conversation_id"] == "late"


def test_late_child_via_records_is_released_immediately(exporters) -> None:
    transport = ScriptedTransport()
    e = exporters(transport)
    trace_id = conversation_trace_id("late-rec")
    e.export_records([turn_record(trace_id, 0xA1, "late-rec")])
    e.force_flush()
    e.export_records([tool_record(trace_id, 0xB2, "late-rec", parent=0xA1)])
    # released at once: no root needed, it is visible before any drain
    assert e._assembler.pending_spans == 0
    e.force_flush()
    assert [[s["kind"] for s in c["spans"]] for c in blocks(transport)] == [["turn"], ["tool"]]


def test_children_wait_for_their_root(exporters) -> None:
    transport = ScriptedTransport()
    e = exporters(transport)
    trace_id = conversation_trace_id("wait")
    e.export_records([tool_record(trace_id, 2, "wait", parent=1)])
    e.export_records([tool_record(trace_id, 3, "wait", parent=1)])
    assert e._assembler.pending_spans == 2
    e.export_records([turn_record(trace_id, 1, "wait")])
    e.force_flush()
    assert ingest_posts(transport) == 1
    [block] = blocks(transport)
    assert sorted(s["kind"] for s in block["spans"]) == ["tool", "tool", "turn"]


def test_assembler_memory_bound_releases_oldest_and_drops_foreign() -> None:
    assembler = TraceAssembler(max_pending_spans=4)
    out = []
    for n in range(3):  # three conversation traces, two spans each, no roots yet
        tid = conversation_trace_id(f"bound-{n}")
        out += assembler.add(
            [
                tool_record(tid, n * 10 + 1, f"bound-{n}", parent=99),
                tool_record(tid, n * 10 + 2, f"bound-{n}", parent=99),
            ],
            now=0.0,
        )
    assert [g.conversation_id for g in out] == ["bound-0"]
    assert len(out[0].records) == 2
    assert assembler.pending_spans == 4
    foreign = [record(0xF00D, 500 + i, parent=1) for i in range(3)]
    out = assembler.add(foreign, now=0.0)
    assert assembler.pending_spans <= 4
    assert [g.conversation_id for g in out] == ["bound-1", "bound-2"]
    out = assembler.add([record(0xBEEF, 900, parent=1) for _ in range(2)], now=0.0)
    assert out == []
    assert assembler.pending_spans <= 4
    assert assembler.foreign_dropped >= 1


def test_assembler_expires_waiting_traces() -> None:
    assembler = TraceAssembler(max_age=300.0, foreign_max_age=120.0)
    tid = conversation_trace_id("old")
    assembler.add([tool_record(tid, 1, "old", parent=9)], now=0.0)
    assembler.add([record(0xABC, 2, parent=3)], now=0.0)
    assert assembler.expire(now=100.0) == []
    assert assembler.expire(now=130.0) == []  # foreign dropped, not released
    assert assembler.foreign_dropped == 1
    [group] = assembler.expire(now=301.0)
    assert group.conversation_id == "old"
    assert assembler.pending_spans == 0


def test_exporter_memory_bound_delivers_oldest(exporters) -> None:
    transport = ScriptedTransport()
    e = exporters(transport, _max_pending_spans=3)
    for n in range(5):
        tid = conversation_trace_id(f"mb-{n}")
        e.export_records([tool_record(tid, n + 1, f"mb-{n}", parent=0x77)])
    assert e._assembler.pending_spans <= 3
    e._worker.flush(10)
    delivered = {c["conversation_id"] for c in blocks(transport)}
    assert delivered == {"mb-0", "mb-1"}


def test_force_flush_drains_incomplete_traces(exporters) -> None:
    transport = ScriptedTransport()
    e = exporters(transport)
    tid = conversation_trace_id("drain")
    e.export_records([tool_record(tid, 5, "drain", parent=4)])
    assert ingest_posts(transport) == 0
    assert e.force_flush() is True
    assert [c["conversation_id"] for c in blocks(transport)] == ["drain"]
    assert e.stats.delivered_spans == 1


def test_shutdown_drains_and_then_refuses(exporters) -> None:
    transport = ScriptedTransport()
    e = exporters(transport)
    tid = conversation_trace_id("shut")
    e.export_records([tool_record(tid, 5, "shut", parent=4)])
    e.shutdown(timeout_millis=5000)
    assert [c["conversation_id"] for c in blocks(transport)] == ["shut"]
    assert transport.closed
    spans = capture(
        lambda t: (
            t.track_human_message("x", conversation_id="after"),
            t.send_tracked_data("after"),
        )
    )
    assert e.export(spans) == SpanExportResult.FAILURE
    e.shutdown()  # twice is fine


@pytest.mark.usefixtures("internal_errors_hidden")
def test_export_never_raises(exporters, caplog: pytest.LogCaptureFixture) -> None:
    e = exporters(ScriptedTransport())
    with caplog.at_level(logging.ERROR, logger="agentsight_otel"):
        assert e.export([object()]) == SpanExportResult.FAILURE  # type: ignore[list-item]
    assert any(
        "internal error while exporting spans" in r.getMessage() and r.exc_info
        for r in caplog.records
    )


def test_foreign_traces_never_reach_the_backend(exporters) -> None:
    transport = ScriptedTransport()
    e = exporters(transport)
    e.export_records([record(0x1234, 1), record(0x1234, 2, parent=1)])
    e.force_flush()
    assert ingest_posts(transport) == 0


def test_unknown_environment_is_dropped_with_a_warning(
    backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend.tracker.get_or_create_conversation("stage", environment="staging")
    backend.tracker.track_human_message("x")
    with caplog.at_level(logging.WARNING, logger="agentsight_otel"):
        backend.tracker.send_tracked_data()
    [block] = blocks(backend.transport)
    assert "environment" not in block
    assert any("staging" in r.getMessage() for r in caplog.records)


def test_environment_listed_by_the_backend_is_kept(make_backend) -> None:
    transport = ScriptedTransport().script(
        "/api/me/", HttpResponse(200, {}, json.dumps({"environments": ["staging"]}).encode())
    )
    b = make_backend(transport=transport)
    b.tracker.get_or_create_conversation("stage2", environment="staging")
    b.tracker.track_human_message("x")
    b.tracker.send_tracked_data()
    assert blocks(transport)[0]["environment"] == "staging"


def test_one_batch_with_two_roots_of_one_conversation(exporters) -> None:
    transport = ScriptedTransport()
    e = exporters(transport)
    spans = capture(full_conversation)  # a visit span and a turn span in one trace
    assert e.export(spans) == SpanExportResult.SUCCESS
    e.force_flush()
    kinds = sorted({s["kind"] for s in wire_spans(transport)})
    assert kinds == ["attachment", "button", "conversation", "llm", "tool", "turn"]


def test_thousand_messages_through_a_batch_span_processor() -> None:
    ledger, transport = DeliveryLedger(), ScriptedTransport()
    e = AgentSightSpanExporter(
        api_key=TEST_API_KEY,
        endpoint="http://agentsight.test",
        _transport=transport,
        _clock=FakeClock(),
        _ledger=ledger,
    )
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(e, schedule_delay_millis=60_000))
    tracker = ConversationTracker(tracer_provider=provider, _ledger=ledger, api_key=TEST_API_KEY)
    try:
        tracker.get_or_create_conversation("batched")
        for i in range(1000):
            tracker.track_human_message(f"m{i}")
        tracker.send_tracked_data(timeout=0)
        provider.force_flush()
        e.force_flush()
        assert messages(transport, "batched") == [f"m{i}" for i in range(1000)]
    finally:
        tracker.shutdown(timeout=1)
        provider.shutdown()
