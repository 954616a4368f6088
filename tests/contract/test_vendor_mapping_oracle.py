"""The vendor's ``build_payload`` as an oracle for our mapping: the same finished spans, shaped
as the vendor SDK shapes them, must become the same conversation blocks.

Our half is the public ``AgentSightSpanExporter`` on a scripted transport (the whole exporter
path: records, assembly, mapping, packing). Compared: every block's conversation fields, and
every span's ids, kind, name, times, status, attributes and events, in order, plus its ``otel``
part except ``trace_flags`` (we write 1; the vendor writes the span's real flags, 3 with the
W3C random-trace-id bit). Importing the vendor's exporter module touches no global state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agentsight.sdk.exporter import build_payload
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from agentsight_otel import AgentSightSpanExporter
from agentsight_otel import _semconv as sc
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.testing import TEST_API_KEY, ScriptedTransport

T0 = 1_795_000_000_000_000_000
MS = 1_000_000


class _Conversation:
    """Writes one conversation's spans the way the vendor SDK does, on a synthetic clock."""

    def __init__(self, tracer: trace.Tracer, cid: str, metadata: dict[str, Any], start: int):
        self.tracer, self.now = tracer, start
        self.attributes = {
            sc.CONVERSATION_ID: cid,
            sc.CONVERSATION_FIELDS["customer_id"]: f"{cid}-customer",
            sc.CONVERSATION_FIELDS["device"]: "mobile",
            sc.CONVERSATION_FIELDS["name"]: "Refund",
            sc.CONVERSATION_FIELDS["environment"]: "production",
            sc.CONVERSATION_METADATA: json.dumps(metadata),
        }

    def tick(self) -> int:
        self.now += MS
        return self.now

    def span(
        self,
        kind: str,
        name: str,
        extra: dict[str, Any],
        parent: Any = None,
        status: Status | None = None,
    ) -> Any:
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(
            name,
            context=context,
            start_time=self.tick(),
            attributes={**self.attributes, sc.SPAN_KIND: kind, sc.ENTITY_NAME: name, **extra},
        )
        if status is not None:
            span.set_status(status)
        return span

    def write(self) -> None:
        """A visit, then one turn with messages, two tools, usage, a click and a file."""
        self.span(sc.KIND_CONVERSATION, "conversation_opened", {}).end(end_time=self.tick())
        turn = self.span(sc.KIND_TURN, "turn", {})
        turn_id = {sc.TURN_ID: format(turn.get_span_context().span_id, "016x")}
        turn.set_attribute(sc.TURN_ID, turn_id[sc.TURN_ID])
        turn.add_event(
            sc.MESSAGE_EVENT,
            {
                sc.MESSAGE_SENDER: sc.SENDER_USER,
                sc.MESSAGE_CONTENT: "I want a refund",
                sc.MESSAGE_METADATA: '{"message_id": "m1"}',
            },
            self.tick(),
        )
        ok = self.span(
            sc.KIND_TOOL,
            "refund_lookup",
            {
                sc.TOOL_NAME: "refund_lookup",
                sc.TOOL_ARGUMENTS: '{"order": "A-1"}',
                sc.TOOL_RESPONSE: "eligible",
                **turn_id,
            },
            turn,
            Status(StatusCode.OK),
        )
        ok.end(end_time=self.tick())
        failed = self.span(
            sc.KIND_TASK,
            "issue_refund",
            {sc.TOOL_NAME: "issue_refund", sc.TOOL_ERROR: "gateway down", **turn_id},
            turn,
            Status(StatusCode.ERROR, "RuntimeError: gateway down"),
        )
        failed.add_event(
            "exception",
            {"exception.type": "RuntimeError", "exception.message": "gateway down"},
            self.tick(),
        )
        failed.end(end_time=self.tick())
        self.span(
            sc.KIND_LLM,
            "gpt-4o-mini",
            {
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.operation.name": "chat",
                sc.INPUT_TOKENS: 120,
                sc.OUTPUT_TOKENS: 30,
                **turn_id,
            },
            turn,
        ).end(end_time=self.tick())
        self.span(
            sc.KIND_BUTTON,
            "Yes",
            {
                sc.BUTTON_EVENT_NAME: "confirm_refund",
                sc.BUTTON_LABEL: "Yes",
                sc.BUTTON_VALUE: "yes",
                sc.METADATA: '{"amount": 12.5}',
                **turn_id,
            },
            turn,
        ).end(end_time=self.tick())
        self.span(
            sc.KIND_ATTACHMENT,
            "1 attachment(s)",
            {
                sc.ATTACHMENT_SENDER: sc.SENDER_USER,
                sc.ATTACHMENT_COUNT: 1,
                sc.ATTACHMENT_FILES: json.dumps([{"filename": "r.pdf", "size": 10}]),
                **turn_id,
            },
            turn,
        ).end(end_time=self.tick())
        turn.add_event(
            sc.MESSAGE_EVENT,
            {sc.MESSAGE_SENDER: sc.SENDER_AGENT, sc.MESSAGE_CONTENT: "Refund on its way"},
            self.tick(),
        )
        turn.set_attribute(sc.TURN_COMPLETE, True)
        turn.set_status(Status(StatusCode.OK))
        turn.end(end_time=self.tick())


def vendor_shaped_spans(metadata: Sequence[dict[str, Any]]) -> list[ReadableSpan]:
    """Finished spans of one conversation per metadata document, in end order."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "oracle"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("agentsight", "0.1.4")
    for index, document in enumerate(metadata):
        _Conversation(tracer, f"map-{index}", document, T0 + index * 1000 * MS).write()
    provider.shutdown()
    return list(exporter.get_finished_spans())


def our_blocks(spans: Sequence[ReadableSpan]) -> list[dict[str, Any]]:
    """The conversation blocks our exporter sends for ``spans`` (all in one export call)."""
    transport = ScriptedTransport()
    exporter = AgentSightSpanExporter(
        api_key=TEST_API_KEY,
        endpoint="http://agentsight.test",
        _transport=transport,
        _ledger=DeliveryLedger(),
    )
    try:
        exporter.export(spans)
        assert exporter.force_flush(30_000)
    finally:
        exporter.shutdown(10_000)
    return [block for body in transport.bodies() for block in body["conversations"]]


def comparable(block: dict[str, Any]) -> dict[str, Any]:
    """A block with ``otel.trace_flags`` left out of every span."""
    spans = [
        {**s, "otel": {k: v for k, v in s["otel"].items() if k != "trace_flags"}}
        for s in block["spans"]
    ]
    return {**block, "spans": spans}


def assert_same_blocks(spans: Sequence[ReadableSpan]) -> None:
    vendor = json.loads(json.dumps(build_payload(spans)))["conversations"]
    ours = our_blocks(spans)
    by_id = {block["conversation_id"]: comparable(block) for block in ours}
    assert sorted(by_id) == sorted(b["conversation_id"] for b in vendor)
    for block in vendor:
        mine = by_id[block["conversation_id"]]
        expected = comparable(block)
        assert {k: v for k, v in mine.items() if k != "spans"} == {
            k: v for k, v in expected.items() if k != "spans"
        }
        assert mine["spans"] == expected["spans"]


def test_same_spans_become_the_same_blocks() -> None:
    assert_same_blocks(vendor_shaped_spans([{"plan": "pro", "n": 1}, {"plan": "free", "n": 2}]))


def test_conversations_with_identical_metadata_both_keep_it() -> None:
    assert_same_blocks(vendor_shaped_spans([{"plan": "pro"}, {"plan": "pro"}]))
