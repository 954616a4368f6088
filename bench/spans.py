"""Realistic finished spans, built once with an SDK provider and an in-memory exporter.

Shaped as the ingest contract (and the vendor SDK) shape them, so both SDKs' mappers take them
as they are: every span carries the conversation fields; a visit ``conversation`` span per
conversation; per turn a ``turn`` span holding message events, ``tool`` children (some failing,
with an exception event), an ``llm`` child with GenAI usage, and now and then ``button`` and
``attachment`` children.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from agentsight_otel import _semconv as sc

T0 = 1_795_000_000_000_000_000  # a fixed epoch (ns), so the content is the same every run
MS = 1_000_000
USER = (
    "Hi, I ordered a pair of headphones last week (order 4471-A) and the tracking page "
    "still says label created. Can you check where it is, and whether I can still change "
    "the delivery address?"
)
AGENT = (
    "I checked order 4471-A: the parcel left our warehouse yesterday and is with the "
    "carrier now, so the tracking page should update within 24 hours. The address can no "
    "longer be changed for this shipment, but I can ask the carrier to hold it at a pickup "
    "point near you if that helps."
)
TOOL_RESPONSE = json.dumps(
    {
        "order": "4471-A",
        "status": "in_transit",
        "carrier": "DHL",
        "eta": "2026-11-24",
        "events": ["label", "picked", "departed"],
    }
)


def _conversation_attributes(index: int) -> dict[str, Any]:
    """What the vendor SDK stamps on every span of a conversation."""
    return {
        sc.CONVERSATION_ID: f"bench-conv-{index:04d}",
        sc.CONVERSATION_FIELDS["customer_id"]: f"customer-{index % 97}",
        sc.CONVERSATION_FIELDS["device"]: "desktop",
        sc.CONVERSATION_FIELDS["name"]: "Order status",
        sc.CONVERSATION_FIELDS["environment"]: "production",
        sc.CONVERSATION_METADATA: json.dumps({"session_id": f"s-{index}", "plan": "pro"}),
    }


class _Builder:
    """Emits one conversation's spans with synthetic, deterministic times."""

    def __init__(self, tracer: trace.Tracer, attributes: dict[str, Any], start: int) -> None:
        self.tracer, self.attributes, self.now = tracer, attributes, start

    def tick(self, ms: int = 1) -> int:
        """Advance the synthetic clock."""
        self.now += ms * MS
        return self.now

    def point(self, kind: str, name: str, extra: dict[str, Any], parent: Any = None) -> None:
        """A short span of ``kind`` (optionally the child of ``parent``)."""
        context = trace.set_span_in_context(parent) if parent is not None else None
        attributes = {**self.attributes, sc.SPAN_KIND: kind, sc.ENTITY_NAME: name, **extra}
        span = self.tracer.start_span(
            name, context=context, attributes=attributes, start_time=self.tick()
        )
        span.end(end_time=self.tick())

    def tool(self, turn: Any, turn_id: str, name: str, fail: bool) -> None:
        """A tool call child span; a failing one carries an exception event."""
        attributes = {
            **self.attributes,
            sc.SPAN_KIND: sc.KIND_TOOL,
            sc.ENTITY_NAME: name,
            sc.TOOL_NAME: name,
            sc.TURN_ID: turn_id,
            sc.TOOL_ARGUMENTS: json.dumps({"order_id": "4471-A", "verbose": True}),
        }
        span = self.tracer.start_span(
            name,
            context=trace.set_span_in_context(turn),
            attributes=attributes,
            start_time=self.tick(),
        )
        if fail:
            span.set_attribute(sc.TOOL_ERROR, "carrier API timed out after 5s")
            span.add_event(
                "exception",
                {
                    "exception.type": "TimeoutError",
                    "exception.message": "carrier API timed out after 5s",
                    "exception.escaped": "False",
                },
                self.tick(),
            )
            span.set_status(Status(StatusCode.ERROR, "TimeoutError: carrier API timed out"))
        else:
            span.set_attribute(sc.TOOL_RESPONSE, TOOL_RESPONSE)
            span.set_status(Status(StatusCode.OK))
        span.end(end_time=self.tick(40))

    def turn(self, number: int) -> None:
        """One turn: messages on the turn span, children for tools, usage, clicks, files."""
        turn = self.tracer.start_span(
            "turn",
            attributes={**self.attributes, sc.SPAN_KIND: sc.KIND_TURN, sc.ENTITY_NAME: "turn"},
            start_time=self.tick(),
        )
        turn_id = format(turn.get_span_context().span_id, "016x")
        turn.set_attribute(sc.TURN_ID, turn_id)
        message = {
            sc.MESSAGE_SENDER: sc.SENDER_USER,
            sc.MESSAGE_CONTENT: USER,
            sc.MESSAGE_METADATA: json.dumps({"message_id": f"m-{number}"}),
        }
        turn.add_event(sc.MESSAGE_EVENT, message, self.tick())
        self.tool(turn, turn_id, "order_lookup", fail=False)
        self.tool(turn, turn_id, "carrier_status", fail=number % 4 == 3)
        self.point(
            sc.KIND_LLM,
            "gpt-4o-mini",
            {
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.operation.name": "chat",
                sc.INPUT_TOKENS: 812,
                sc.OUTPUT_TOKENS: 96,
                sc.TURN_ID: turn_id,
            },
            parent=turn,
        )
        if number % 2 == 1:
            self.point(
                sc.KIND_BUTTON,
                "Hold at pickup point",
                {
                    sc.BUTTON_EVENT_NAME: "delivery_option",
                    sc.BUTTON_LABEL: "Hold at pickup point",
                    sc.BUTTON_VALUE: "pickup",
                    sc.METADATA: json.dumps({"price": 0}),
                    sc.TURN_ID: turn_id,
                },
                parent=turn,
            )
        if number % 3 == 2:
            files = [{"filename": "receipt.pdf", "size": 48213, "mime_type": "application/pdf"}]
            self.point(
                sc.KIND_ATTACHMENT,
                "1 attachment(s)",
                {
                    sc.ATTACHMENT_SENDER: sc.SENDER_USER,
                    sc.ATTACHMENT_COUNT: 1,
                    sc.ATTACHMENT_FILES: json.dumps(files),
                    sc.TURN_ID: turn_id,
                },
                parent=turn,
            )
        turn.add_event(
            sc.MESSAGE_EVENT,
            {
                sc.MESSAGE_SENDER: sc.SENDER_AGENT,
                sc.MESSAGE_CONTENT: AGENT,
                sc.MESSAGE_METADATA: json.dumps({"model": "gpt-4o"}),
            },
            self.tick(),
        )
        turn.set_attribute(sc.TURN_COMPLETE, True)
        turn.set_status(Status(StatusCode.OK))
        turn.end(end_time=self.tick())


def make_spans(conversations: int = 20, turns: int = 5) -> list[ReadableSpan]:
    """Finished spans in end order (children before their turn), as an exporter gets them."""
    exporter = InMemorySpanExporter()
    resource = Resource.create(
        {
            "service.name": "support-bot",
            "service.version": "2.3.1",
            "deployment.environment": "production",
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("agentsight", "0.1.4")
    for index in range(conversations):
        builder = _Builder(tracer, _conversation_attributes(index), T0 + index * 60_000 * MS)
        builder.point(sc.KIND_CONVERSATION, "conversation_opened", {})
        for number in range(turns):
            builder.turn(number)
    provider.shutdown()
    return list(exporter.get_finished_spans())


def describe(spans: Sequence[ReadableSpan]) -> str:
    """``500 spans (100 turn, 200 tool, ...)``."""
    kinds = Counter(str((s.attributes or {}).get(sc.SPAN_KIND)) for s in spans)
    events = sum(len(s.events) for s in spans)
    parts = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
    return f"{len(spans)} spans ({parts}; {events} events)"
