"""The Vercel AI SDK's own telemetry (``ai.*`` spans) as AgentSight turns, by both routes.

``data/vercel_ai_6.json`` holds the spans ``ai`` 6.0.333 wrote in the real run of
examples/vercel-ai/chat.mjs (tests/collector/test_vercel_ai.py runs it through the Collector):
a ``generateText`` turn that runs a tool, then a ``streamText`` turn whose tool fails. Node has
no in-process exporter of ours, so here they are replayed as the Python SDK's spans into the
in-process exporter and, over OTLP/HTTP, into the bridge: both send the same bytes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from agentsight_otel import AgentSightSpanExporter
from agentsight_otel._bridge.runner import Bridge
from agentsight_otel._config import resolve_settings
from agentsight_otel._mapping.identity import ranked_conversation
from agentsight_otel._mapping.payload import PayloadBuilder, TraceGroup
from agentsight_otel._mapping.records import SpanRecord
from agentsight_otel.testing import TEST_API_KEY, ScriptedTransport
from tests.bridge.helpers import ENDPOINT, bridge_config, ingest_bodies
from tests.genai.records import build, of_kind, span, transcript

FIXTURE = Path(__file__).parent / "data" / "vercel_ai_6.json"
ANSWERS = [
    ("end_user", "What's the weather in Paris?"),
    ("agent", "It is sunny in Paris."),
    ("end_user", "And tomorrow?"),
    ("agent", "Sorry, I cannot get tomorrow's forecast."),
]


def captured() -> list[dict[str, Any]]:
    """The spans as ``ai`` wrote them."""
    spans: list[dict[str, Any]] = json.loads(FIXTURE.read_text())
    return spans


def readable(
    spans: Sequence[dict[str, Any]], edit: Callable[[dict[str, Any]], dict[str, Any]] = dict
) -> list[ReadableSpan]:
    """The captured spans as the Python SDK's finished spans (``edit`` changes attributes)."""
    resource = Resource.create({"service.name": "vercel-ai-chat"})
    out = []
    for item in spans:
        trace_id = int(item["trace_id"], 16)
        context = SpanContext(trace_id, int(item["span_id"], 16), False, TraceFlags(1))
        parent = item["parent_span_id"]
        status = item["status"]
        out.append(
            ReadableSpan(
                name=item["name"],
                context=context,
                parent=SpanContext(trace_id, int(parent, 16), False) if parent else None,
                resource=resource,
                attributes=edit(item["attributes"]),
                events=[
                    Event(e["name"], e["attributes"], int(e["time_ns"])) for e in item["events"]
                ],
                status=Status(StatusCode(status["code"]), status.get("message")),
                start_time=int(item["start_ns"]),
                end_time=int(item["end_ns"]),
                instrumentation_scope=InstrumentationScope(item["scope"]["name"]),
            )
        )
    return out


def test_the_ai_sdk_chat_maps_to_two_turns_by_both_routes_byte_for_byte() -> None:
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint=ENDPOINT)
    bridge_backend, in_process_backend = ScriptedTransport(), ScriptedTransport()
    bridge = Bridge(bridge_config(), settings=settings, transport=bridge_backend).start()
    in_process = AgentSightSpanExporter(_settings=settings, _transport=in_process_backend)
    otlp = OTLPSpanExporter(endpoint=f"{bridge.http_url}/v1/traces")
    try:
        spans = readable(captured())
        in_process.export(spans)
        otlp.export(spans)
        assert in_process.force_flush(10_000)
        assert bridge.flush(10)
    finally:
        in_process.shutdown()
        otlp.shutdown()
        bridge.stop(5.0)
    expected = ingest_bodies(in_process_backend)
    assert expected and ingest_bodies(bridge_backend) == expected
    blocks = [b for body in expected for b in json.loads(body)["conversations"]]
    assert {b["conversation_id"] for b in blocks} == {"s-1"}
    assert {b["customer_id"] for b in blocks} == {"u-7"}
    said = [
        (
            e["attributes"]["agentsight.message.sender"],
            e["attributes"]["agentsight.message.content"],
        )
        for b in blocks
        for s in b["spans"]
        if s["kind"] == "turn"
        for e in s["events"]
    ]
    assert said == ANSWERS
    kinds = sorted(s["kind"] for b in blocks for s in b["spans"])
    assert kinds == ["llm", "llm", "llm", "llm", "tool", "tool", "turn", "turn"]


def records() -> list[SpanRecord]:
    """The captured spans as mapping records, times and ids as ``ai`` wrote them."""
    out = []
    for item in captured():
        record = span(
            int(item["span_id"], 16),
            int(item["parent_span_id"], 16) if item["parent_span_id"] else None,
            name=item["name"],
            attributes=item["attributes"],
            status={0: "unset", 1: "ok", 2: "error"}[item["status"]["code"]],
            description=item["status"].get("message"),
            scope=item["scope"]["name"],
            trace_id=int(item["trace_id"], 16),
        )
        start, end = int(item["start_ns"]), int(item["end_ns"])
        out.append(dataclasses.replace(record, start_ns=start, end_ns=end))
    return out


def test_calls_are_turns_model_calls_usage_and_tool_runs_actions_with_their_timing() -> None:
    spans = records()
    block, builder = build(spans, cid="s-1")
    assert transcript(block) == ANSWERS
    turns = of_kind(block, "turn")
    roots = {r.name: r for r in spans if r.parent_span_id is None}
    assert [t["name"] for t in turns] == ["ai.generateText", "ai.streamText"]
    for turn in turns:
        assert turn["span_id"] == f"{roots[turn['name']].span_id:016x}"
    llm = of_kind(block, "llm")
    assert [s["attributes"]["gen_ai.usage.input_tokens"] for s in llm] == [20, 40, 60, 80]
    assert {s["attributes"]["gen_ai.request.model"] for s in llm} == {"test-model"}
    weather, forecast = of_kind(block, "tool")
    by_id = {f"{r.span_id:016x}": r for r in spans}
    for action in (weather, forecast):
        source = by_id[action["span_id"]]
        assert action["duration_ms"] == pytest.approx(
            (source.end_ns - source.start_ns) / 1e6, abs=0.001
        )
    assert weather["attributes"]["agentsight.tool.name"] == "get_weather"
    assert json.loads(weather["attributes"]["agentsight.tool.arguments"]) == {"city": "Paris"}
    assert weather["attributes"]["agentsight.tool.response"] == "sunny in Paris"
    assert weather["attributes"]["agentsight.turn.id"] == turns[0]["span_id"]
    assert forecast["attributes"]["agentsight.tool.name"] == "get_forecast"
    assert forecast["attributes"]["agentsight.tool.error"] == "forecast service unavailable"
    assert forecast["attributes"]["agentsight.turn.id"] == turns[1]["span_id"]
    assert builder.notices == []


def test_session_keys_name_the_conversation_weakest_of_all() -> None:
    assert ranked_conversation({"ai.telemetry.metadata.sessionId": "s"}) == (5, "s")
    assert ranked_conversation({"ai.telemetry.metadata.threadId": "t"}) == (7, "t")
    assert ranked_conversation({"ai.settings.context.conversationId": "c"}) == (9, "c")
    both = {"ai.telemetry.metadata.sessionId": "s", "session.id": "o"}
    assert ranked_conversation(both) == (2, "o")


def test_an_explicit_customer_wins_over_the_user_id() -> None:
    spans = records()
    named = [
        dataclasses.replace(
            r, attributes={**r.attributes, "agentsight.conversation.customer_id": "c-1"}
        )
        if r.parent_span_id is None
        else r
        for r in spans
    ]
    block, _ = build(named, cid="s-1")
    assert block["customer_id"] == "c-1"
    block, _ = build(spans, cid="s-1")
    assert block["customer_id"] == "u-7"


def test_without_recorded_inputs_and_outputs_the_ai_sdk_setting_is_named() -> None:
    hidden = ("ai.prompt", "ai.prompt.messages", "ai.response.text", "ai.response.toolCalls")
    spans = [
        dataclasses.replace(
            r, attributes={k: v for k, v in r.attributes.items() if k not in hidden}
        )
        for r in records()
    ]
    block, builder = build(spans, cid="s-1")
    assert len(of_kind(block, "turn")) == 2 and transcript(block) == []
    (notice,) = builder.notices
    assert "recordInputs" in notice and "OTEL_" not in notice


def test_unknown_instrumentations_get_no_guessed_setting() -> None:
    bare = {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 3}
    _, builder = build([span(1, None, attributes=bare, scope="acme.llm")])
    (notice,) = builder.notices
    assert "acme.llm" in notice and "OTEL_" not in notice and "TRACELOOP" not in notice


def test_embeddings_are_not_turns() -> None:
    embed = {"ai.operationId": "ai.embed", "ai.telemetry.metadata.sessionId": "s-1"}
    inner = {**embed, "ai.operationId": "ai.embed.doEmbed"}
    group = TraceGroup("s-1", [span(1, None, attributes=embed), span(2, 1, attributes=inner)])
    assert PayloadBuilder().build([group]) == []
