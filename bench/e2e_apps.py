"""The end-to-end benchmark's three applications: one support conversation, three ways to ship it.

Each application tracks the same four-turn conversations (per turn: a user message with
metadata, two tool calls, a button click, one model call's token usage, an agent reply) and
delivers them to the capture server at ``url``:

- ``ours``: ``ConversationTracker`` (its private pipeline: a span queue +
  ``AgentSightSpanExporter``), tools through ``@traced_action``, each turn ended by
  ``send_tracked_data(timeout=0)``: the send asks for delivery, the application does not wait
  for the answer (sends that come while a delivery is out are coalesced into the next one).
- ``ours-wait``: the same with ``send_tracked_data()``, which waits for the backend's answer
  after every turn, so every turn is a request of its own (shown, no target).
- ``vendor``: the vendor SDK ``agentsight`` 0.1.x with its own HTTP exporter
  (``agentsight.conversation``/``turn``, ``@agentsight.tool``, ``agentsight.button``; usage
  as the ``llm`` span its instrumentations emit), batches flushed at the end.
- ``otlp``: plain OpenTelemetry SDK, ``BatchSpanProcessor`` + OTLP/HTTP protobuf exporter,
  emitting by hand the spans and events ``ours`` emits (same names, attributes, events).

Each contender uses its defaults but for the span queue (``QUEUE_SPANS`` for all): ours and
the vendor gzip their bodies (the capture server advertises ``gzip-ingest`` as AgentSight
does); the OTLP exporter sends protobuf uncompressed.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.trace import Status, StatusCode

from agentsight_otel import _semconv as sc

KEY = "ags_" + "0123456789abcdef" * 2 + "_abcdef"
TURNS = 4
QUESTION = (
    "Hi, I ordered a pair of headphones last week (order 4471-A) and the tracking page "
    "still says label created. Can you check where it is?"
)
REPLY = (
    "I'm sorry about the wait. The carrier scanned your parcel this morning: it is out for "
    "delivery and should arrive before 18:00 today."
)
METADATA = {"message_id": "msg_001", "channel": "web", "locale": "en-US"}
REPLY_METADATA = {"model": "gpt-4o-mini"}
FIELDS = {"customer_id": "cust-4821", "device": "desktop", "name": "Order status"}
CONVERSATION_METADATA = {"plan": "premium"}
MODEL, PROVIDER, PROMPT, COMPLETION = "gpt-4o-mini", "openai", 412, 96
# Our private pipeline's queue depth, given to the others too: with the SDK's default of 2,048
# spans, plain OTLP drops spans ("Queue full") once the application outruns its exporter.
QUEUE_SPANS = 32_768


def lookup_order(order_id: str) -> dict[str, Any]:
    """The first tool: finds an order."""
    return {"order_id": order_id, "status": "shipped", "carrier": "PostNL", "total_eur": 89.9}


def track_parcel(carrier: str, tracking_code: str) -> str:
    """The second tool: asks the carrier."""
    return f"{carrier} {tracking_code}: out for delivery, expected before 18:00"


class Ours:
    """This project: the tracker, ``@traced_action`` tools, a send per turn."""

    spans_per_turn = 5  # on the wire: the turn, two tools, the button and usage (llm) spans
    send_timeout: float | None = 0.0

    def __init__(self, url: str) -> None:
        from agentsight_otel import ConversationTracker, traced_action

        self.tracker = ConversationTracker(api_key=KEY, endpoint=url)
        self.lookup = traced_action(lookup_order)
        self.track = traced_action(track_parcel)

    def conversation(self, cid: str) -> None:
        """One four-turn conversation, each turn sent."""
        send = self.tracker.send_tracked_data
        timeout = self.send_timeout
        tracker = self.tracker
        tracker.get_or_create_conversation(
            cid, **FIELDS, environment="production", metadata=CONVERSATION_METADATA
        )
        for _ in range(TURNS):
            tracker.track_human_message(QUESTION, METADATA)
            order = self.lookup("4471-A")
            self.track(order["carrier"], "3SABCD1234567")
            tracker.track_button("resolution", label="Track parcel", value="track")
            tracker.track_token_usage(PROMPT, COMPLETION, model=MODEL, provider=PROVIDER)
            tracker.track_agent_message(REPLY, REPLY_METADATA)
            send(timeout=timeout)

    def flush(self) -> None:
        """Nothing to do: every send asked for delivery."""

    def close(self) -> None:
        """Shut the private pipeline down."""
        self.tracker.shutdown()


class OursWaiting(Ours):
    """This project, each send waiting for the backend's answer (the default)."""

    send_timeout = None


class Vendor:
    """The vendor SDK with its own exporter and pipeline."""

    spans_per_turn = 5  # turn, two tools, the button, the llm span

    def __init__(self, url: str) -> None:
        import agentsight
        from agentsight.sdk.api import _emit_span

        agentsight.init(
            api_key=KEY, endpoint=url, auto_instrument=False, max_queue_size=QUEUE_SPANS
        )
        self.sdk = agentsight
        self.emit_span = _emit_span
        self.lookup = agentsight.tool(lookup_order)
        self.track = agentsight.tool(track_parcel)

    def conversation(self, cid: str) -> None:
        """One four-turn conversation."""
        sdk = self.sdk
        with sdk.conversation(
            cid, **FIELDS, environment="production", metadata=CONVERSATION_METADATA
        ):
            for _ in range(TURNS):
                with sdk.turn():
                    sdk.user_message(QUESTION, METADATA)
                    order = self.lookup("4471-A")
                    self.track(order["carrier"], "3SABCD1234567")
                    sdk.button("resolution", label="Track parcel", value="track")
                    self.emit_span(sc.KIND_LLM, f"chat {MODEL}", _usage())
                    sdk.agent_message(REPLY, REPLY_METADATA)

    def flush(self) -> None:
        """Export what the batch processor holds."""
        self.sdk.flush()

    def close(self) -> None:
        """Shut the SDK down."""
        self.sdk.shutdown()


class PlainOtlp:
    """Plain OpenTelemetry: the same spans by hand, OTLP/HTTP protobuf, batched."""

    spans_per_turn = 3  # the turn and two tools; the rest are events, as OTel sees ours

    def __init__(self, url: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.provider = TracerProvider()
        self.provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=f"{url}/v1/traces"), max_queue_size=QUEUE_SPANS
            )
        )
        self.tracer = self.provider.get_tracer("bench.plain")

    def conversation(self, cid: str) -> None:
        """One four-turn conversation."""
        turn_attributes = {
            sc.CONVERSATION_ID: cid,
            sc.GEN_AI_CONVERSATION_ID: cid,
            sc.SESSION_ID: cid,
            **{sc.CONVERSATION_FIELDS[k]: v for k, v in FIELDS.items()},
            sc.CONVERSATION_FIELDS["environment"]: "production",
            sc.CONVERSATION_METADATA: json.dumps(CONVERSATION_METADATA),
            sc.SPAN_KIND: sc.KIND_TURN,
            sc.ENTITY_NAME: "turn",
        }
        for _ in range(TURNS):
            with self.tracer.start_as_current_span("turn", attributes=turn_attributes) as turn:
                turn_id = format(turn.get_span_context().span_id, "016x")
                turn.set_attribute(sc.TURN_ID, turn_id)
                turn.add_event(sc.MESSAGE_EVENT, _message(sc.SENDER_USER, QUESTION, METADATA))
                order = self._tool(cid, turn_id, lookup_order, {"order_id": "4471-A"})
                arguments = {"carrier": order["carrier"], "tracking_code": "3SABCD1234567"}
                self._tool(cid, turn_id, track_parcel, arguments)
                turn.add_event(
                    sc.BUTTON_EVENT,
                    {
                        sc.BUTTON_EVENT_NAME: "resolution",
                        sc.BUTTON_LABEL: "Track parcel",
                        sc.BUTTON_VALUE: "track",
                    },
                )
                turn.add_event(sc.USAGE_EVENT, _usage())
                turn.add_event(sc.MESSAGE_EVENT, _message(sc.SENDER_AGENT, REPLY, REPLY_METADATA))
                turn.set_attribute(sc.TURN_COMPLETE, True)

    def _tool(self, cid: str, turn_id: str, tool: Any, arguments: dict[str, Any]) -> Any:
        """A tool call as an action span, as ``@traced_action`` records it."""
        name = tool.__name__
        attributes = {
            sc.SPAN_KIND: sc.KIND_TOOL,
            sc.ENTITY_NAME: name,
            sc.TOOL_NAME: name,
            sc.CONVERSATION_ID: cid,
            sc.TURN_ID: turn_id,
            sc.TOOL_ARGUMENTS: json.dumps(arguments),
        }
        with self.tracer.start_as_current_span(name, attributes=attributes) as span:
            result = tool(**arguments)
            text = result if isinstance(result, str) else json.dumps(result)
            span.set_attribute(sc.TOOL_RESPONSE, text)
            span.set_status(Status(StatusCode.OK))
        return result

    def flush(self) -> None:
        """Export what the batch processor holds."""
        self.provider.force_flush()

    def close(self) -> None:
        """Shut the provider down."""
        self.provider.shutdown()


def _message(sender: str, text: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """A message event's attributes."""
    return {
        sc.MESSAGE_SENDER: sender,
        sc.MESSAGE_CONTENT: text,
        sc.MESSAGE_METADATA: json.dumps(metadata),
    }


def _usage() -> dict[str, Any]:
    """One model call's usage attributes."""
    return {
        sc.INPUT_TOKENS: PROMPT,
        sc.OUTPUT_TOKENS: COMPLETION,
        sc.GEN_AI_OPERATION: "chat",
        sc.GEN_AI_REQUEST_MODEL: MODEL,
        sc.GEN_AI_SYSTEM: PROVIDER,
    }


APPS: dict[str, type[Ours] | type[Vendor] | type[PlainOtlp]] = {
    "ours": Ours,
    "ours-wait": OursWaiting,
    "vendor": Vendor,
    "otlp": PlainOtlp,
}
