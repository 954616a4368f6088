"""Mapping tracker calls to OpenTelemetry: traces, events, links, instrumentation usage."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import sys
import textwrap

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased

from agentsight_otel import AgentSightSpanExporter, ConversationTracker
from agentsight_otel import _semconv as sc
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._ids import conversation_trace_id, hex_span_id, hex_trace_id
from agentsight_otel._tracker import pipeline as pipeline_module
from agentsight_otel.testing import TEST_API_KEY, FakeBackend, ScriptedTransport

from .helpers import blocks, memory_tracker, messages, wire_spans

IDS = (sc.CONVERSATION_ID, sc.GEN_AI_CONVERSATION_ID, sc.SESSION_ID)


def test_trace_id_derivation_matches_the_documented_formula() -> None:
    for cid in ("chat-123", "ünïcode-☃", "x" * 255):
        digest = hashlib.sha256(b"agentsight.conversation/" + cid.encode("utf-8")).digest()
        assert conversation_trace_id(cid) == int.from_bytes(digest[:16], "big")
    assert conversation_trace_id("a") != conversation_trace_id("b")


def test_two_trackers_put_a_conversation_in_one_trace(make_backend) -> None:
    first, second = make_backend(), make_backend()
    expected = hex_trace_id(conversation_trace_id("shared-conv"))
    first.tracker.initialize_conversation("shared-conv")
    for b in (first, second):
        b.tracker.get_or_create_conversation("shared-conv")
        b.tracker.track_human_message("hi")
        b.tracker.track_action("lookup", duration_ms=1)
        b.tracker.track_button("e", "l", "v")
        b.tracker.send_tracked_data()
    for b in (first, second):
        spans = wire_spans(b.transport)
        assert len(spans) >= 3
        assert {s["trace_id"] for s in spans} == {expected}


def test_trace_id_is_the_same_in_another_process() -> None:
    code = "from agentsight_otel._ids import conversation_trace_id as f; print(f('proc-conv'))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert int(out.stdout.strip()) == conversation_trace_id("proc-conv")


def test_thousand_messages_all_arrive_in_order(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("thousand")
    for i in range(1000):
        t.track_human_message(f"m{i}")
    result = t.send_tracked_data()
    assert result["status"] == "delivered"
    assert result["summary"]["questions"] == 1000
    assert messages(backend.transport, "thousand") == [f"m{i}" for i in range(1000)]
    turns = wire_spans(backend.transport, "turn")
    assert all(s["otel"]["dropped"]["events"] == 0 for s in turns)
    assert {s["trace_id"] for s in turns} == {hex_trace_id(conversation_trace_id("thousand"))}


def test_users_own_span_limits_lose_nothing() -> None:
    provider = TracerProvider(span_limits=SpanLimits(max_events=10))
    tracker, memory, _ = memory_tracker(provider=provider)
    tracker.get_or_create_conversation("limited")
    for i in range(95):
        tracker.track_agent_message(f"a{i}")
    tracker.send_tracked_data()
    turns = sorted(memory.get_finished_spans(), key=lambda s: s.start_time)
    contents = [e.attributes[sc.MESSAGE_CONTENT] for s in turns for e in s.events]
    assert contents == [f"a{i}" for i in range(95)]
    assert all(s.dropped_events == 0 for s in turns)
    assert {s.context.trace_id for s in turns} == {conversation_trace_id("limited")}


def test_interaction_events_use_the_tracked_time(backend: FakeBackend) -> None:
    summary_items = []
    t = backend.tracker
    t.get_or_create_conversation("times")
    t.track_human_message("q")
    t.track_agent_message("a")
    summary_items = t.get_tracked_data_summary()["items"]
    t.send_tracked_data()
    [turn] = wire_spans(backend.transport, "turn")
    assert [e["timestamp"] for e in turn["events"]] == [i["timestamp"] for i in summary_items]


def test_turn_starts_no_later_than_its_first_event(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("order")
    for _ in range(20):
        t.track_human_message("q")
        t.send_tracked_data()
    for turn in wire_spans(backend.transport, "turn"):
        assert turn["started_at"] <= turn["events"][0]["timestamp"]


def test_interaction_opened_inside_another_trace_links_to_it(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("linked")
    web = backend.provider.get_tracer("web-framework")
    with web.start_as_current_span("GET /chat") as request_span:
        t.track_human_message("hi")
        t.track_agent_message("hello")
        t.send_tracked_data()
    ctx = request_span.get_span_context()
    [turn] = wire_spans(backend.transport, "turn")
    assert turn["trace_id"] == hex_trace_id(conversation_trace_id("linked"))
    assert turn["trace_id"] != hex_trace_id(ctx.trace_id)
    assert turn["parent_span_id"] is None
    assert [(lk["trace_id"], lk["span_id"]) for lk in turn["otel"]["links"]] == [
        (hex_trace_id(ctx.trace_id), hex_span_id(ctx.span_id))
    ]
    # the request span is the application's own telemetry: it is not sent to AgentSight
    assert all(s["span_id"] != hex_span_id(ctx.span_id) for s in wire_spans(backend.transport))


def test_explicit_conversation_does_not_link_to_the_current_conversation(
    backend: FakeBackend,
) -> None:
    t = backend.tracker
    t.get_or_create_conversation("A")
    t.track_human_message("a")
    t.track_human_message("b", conversation_id="B")
    t.send_tracked_data(conversation_id="B")
    t.send_tracked_data()
    [turn_b] = wire_spans(backend.transport, "turn", "B")
    assert turn_b["otel"]["links"] == []


def test_instrumented_llm_span_becomes_one_llm_record(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("instr")
    t.track_human_message("q")
    tracer = backend.provider.get_tracer("opentelemetry.instrumentation.openai")
    with (
        tracer.start_as_current_span(
            "agent step",
            attributes={"llm.token_count.prompt": 120, "llm.token_count.completion": 30},
        ),
        tracer.start_as_current_span(
            "chat gpt-4o",
            attributes={
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 30,
            },
        ),
    ):
        pass
    with tracer.start_as_current_span("plain http call"):
        pass
    t.track_agent_message("a")
    t.send_tracked_data()
    [turn] = wire_spans(backend.transport, "turn")
    [llm] = wire_spans(backend.transport, "llm")
    assert llm["attributes"]["gen_ai.usage.input_tokens"] == 120
    assert llm["attributes"]["gen_ai.usage.output_tokens"] == 30
    assert llm["attributes"]["gen_ai.request.model"] == "gpt-4o"
    assert llm["attributes"][sc.CONVERSATION_ID] == "instr"
    assert llm["attributes"][sc.TURN_ID] == turn["span_id"]
    assert llm["trace_id"] == turn["trace_id"]
    kinds = sorted(s["kind"] for s in wire_spans(backend.transport))
    assert kinds == ["llm", "turn"]


def test_instrumented_cached_input_is_reported_uncached(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("cache")
    t.track_human_message("q")
    tracer = backend.provider.get_tracer("instr")
    with tracer.start_as_current_span(
        "chat",
        attributes={
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 10,
            "gen_ai.usage.cache_read.input_tokens": 60,
        },
    ):
        pass
    t.send_tracked_data()
    [llm] = wire_spans(backend.transport, "llm")
    assert llm["attributes"]["gen_ai.usage.input_tokens"] == 40
    assert llm["attributes"][sc.CACHE_READ_TOKENS] == 60


def test_spans_carry_conversation_ids_for_other_tools() -> None:
    tracker, memory, _ = memory_tracker()
    tracker.initialize_conversation("ids-conv")
    tracker.get_or_create_conversation("ids-conv")
    tracker.track_human_message("q")
    tracker.send_tracked_data()
    spans = memory.get_finished_spans()
    assert {s.attributes[sc.SPAN_KIND] for s in spans} == {"conversation", "turn"}
    for span in spans:
        assert [span.attributes.get(k) for k in IDS] == ["ids-conv"] * 3


def test_action_spans_carry_conversation_ids_for_other_tools() -> None:
    tracker, memory, _ = memory_tracker()
    tracker.get_or_create_conversation("ids-action")
    tracker.track_action("lookup", duration_ms=2)
    tracker.send_tracked_data()
    [tool] = [s for s in memory.get_finished_spans() if s.attributes[sc.SPAN_KIND] == "tool"]
    assert [tool.attributes.get(k) for k in IDS] == ["ids-action"] * 3


def test_initialize_conversation_sends_a_visit_at_once(backend: FakeBackend) -> None:
    t = backend.tracker
    result = t.initialize_conversation(
        "visit-1",
        customer_id="u-9",
        source="web",
        language="en-US",
        customer_ip_address="203.0.113.7",
        metadata={"page": "/p/1"},
    )
    assert [i["type"] for i in result["items"]] == ["conversation"]
    assert result["items"][0]["success"] is True
    [block] = blocks(backend.transport)
    assert [s["kind"] for s in block["spans"]] == ["conversation"]
    assert block["conversation_id"] == "visit-1"
    assert (block["customer_id"], block["source"], block["language"]) == ("u-9", "web", "en-US")
    assert block["customer_ip_address"] == "203.0.113.7"
    assert block["metadata"] == {"page": "/p/1"}
    assert block["environment"] == "production"
    # engagement later arrives as a turn in the same trace
    t.get_or_create_conversation("visit-1")
    t.track_question("hello")
    t.send_tracked_data()
    spans = wire_spans(backend.transport, conversation_id="visit-1")
    assert [s["kind"] for s in spans] == ["conversation", "turn"]
    assert spans[0]["trace_id"] == spans[1]["trace_id"]


def test_initialize_conversation_does_not_make_it_current(backend: FakeBackend) -> None:
    t = backend.tracker
    t.initialize_conversation("visit-only")
    t.track_human_message("x")
    [item] = t.get_tracked_data_summary()["items"]
    assert item["conversation_id"] != "visit-only"


def test_private_provider_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = ScriptedTransport()
    monkeypatch.setattr(
        pipeline_module,
        "AgentSightSpanExporter",
        functools.partial(AgentSightSpanExporter, _transport=transport),
    )
    global_before = trace.get_tracer_provider()
    assert not isinstance(global_before, TracerProvider)
    tracker = ConversationTracker(
        api_key=TEST_API_KEY, endpoint="http://agentsight.test", _ledger=DeliveryLedger()
    )
    try:
        tracker.get_or_create_conversation("private")
        tracker.track_human_message("hi")
        result = tracker.send_tracked_data()
    finally:
        tracker.shutdown(timeout=5)
    assert result["status"] == "delivered"
    assert messages(transport, "private") == ["hi"]
    assert trace.get_tracer_provider() is global_before


GLOBAL_PROVIDER_SCRIPT = textwrap.dedent("""
    import json
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from agentsight_otel import AgentSightSpanExporter, conversation_tracker
    from agentsight_otel.testing import ScriptedTransport, FakeClock, TEST_API_KEY

    memory = InMemorySpanExporter()
    transport = ScriptedTransport()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(AgentSightSpanExporter(
        api_key=TEST_API_KEY, endpoint="http://agentsight.test", _transport=transport,
        _clock=FakeClock())))
    trace.set_tracer_provider(provider)

    conversation_tracker.get_or_create_conversation("global-conv")
    conversation_tracker.track_human_message("hello")
    conversation_tracker.track_action("lookup", duration_ms=3)
    result = conversation_tracker.send_tracked_data()
    provider.shutdown()
    print(json.dumps({
        "status": result["status"],
        "memory": sorted(s.attributes.get("agentsight.span.kind") for s in
                         memory.get_finished_spans()),
        "trace_ids": sorted({format(s.context.trace_id, "032x")
                             for s in memory.get_finished_spans()}),
        "wire": [s["kind"] for b in transport.bodies() for c in b["conversations"]
                 for s in c["spans"]],
    }))
""")


def test_users_global_sdk_provider_is_used() -> None:
    out = subprocess.run(
        [sys.executable, "-c", GLOBAL_PROVIDER_SCRIPT],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["status"] == "delivered"
    assert report["memory"] == ["tool", "turn"]
    assert report["trace_ids"] == [hex_trace_id(conversation_trace_id("global-conv"))]
    assert sorted(report["wire"]) == ["tool", "turn"]


def test_tracker_spans_without_agentsight_exporter_are_handed_off() -> None:
    tracker, memory, _ = memory_tracker()
    tracker.get_or_create_conversation("handoff")
    tracker.track_human_message("q")
    result = tracker.send_tracked_data()
    assert result["status"] == "handed_off"
    assert result["summary"]["errors"] == 0
    assert len(memory.get_finished_spans()) == 1


def test_send_restores_the_callers_current_span(backend: FakeBackend) -> None:
    t = backend.tracker
    web = backend.provider.get_tracer("web")
    t.get_or_create_conversation("restore")
    for i in range(300):  # rolls over twice while current
        t.track_human_message(f"m{i}")
    assert trace.get_current_span().get_span_context().is_valid
    t.send_tracked_data()
    assert not trace.get_current_span().get_span_context().is_valid
    with web.start_as_current_span("handler") as handler:
        t.track_human_message("inside")
        t.send_tracked_data()
        assert trace.get_current_span() is handler
    assert not trace.get_current_span().get_span_context().is_valid


def test_no_ended_turn_becomes_current_again(backend: FakeBackend) -> None:
    t = backend.tracker
    app = backend.provider.get_tracer("app")
    t.get_or_create_conversation("lingering")
    t.track_human_message("q")
    with app.start_as_current_span("llm step"):
        t.send_tracked_data()
    with app.start_as_current_span("unrelated later work") as later:
        pass
    assert later.context.trace_id != conversation_trace_id("lingering")


def test_ratio_sampling_keeps_or_drops_a_conversation_whole() -> None:
    kept, dropped = set(), set()
    for process in range(2):  # two providers, as two processes would sample
        provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.5)))
        tracker, memory, _ = memory_tracker(provider=provider)
        for n in range(30):
            cid = f"sampled-{n}"
            tracker.track_human_message("q", conversation_id=cid)
            tracker.track_action("lookup", duration_ms=1, conversation_id=cid)
            result = tracker.send_tracked_data(cid)
            assert result["summary"]["questions"] == 1
        seen: dict[str, set[str]] = {}
        for span in memory.get_finished_spans():
            cid = span.attributes[sc.CONVERSATION_ID]
            seen.setdefault(cid, set()).add(span.attributes[sc.SPAN_KIND])
        assert all(kinds == {"turn", "tool"} for kinds in seen.values())
        if process == 0:
            kept = set(seen)
            dropped = {f"sampled-{n}" for n in range(30)} - kept
        else:
            assert set(seen) == kept  # the same decision in the other process
    assert kept and dropped


def test_unsampled_interaction_does_not_wait_for_delivery(make_backend) -> None:
    b = make_backend()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    tracker = ConversationTracker(
        tracer_provider=provider,
        _ledger=b.tracker._wiring.ledger,
        api_key=TEST_API_KEY,
        endpoint="http://agentsight.test",
        _transport=b.transport,
        send_timeout=30,
    )
    tracker.track_human_message("q", conversation_id="off")
    result = tracker.send_tracked_data(conversation_id="off")
    assert result["status"] == "handed_off"
    assert "sampler" in result["detail"]
