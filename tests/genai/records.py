"""Building GenAI-shaped span records and mapping them, for the pure mapping tests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry._logs import Logger, LogRecord
from opentelemetry.trace import Tracer

from agentsight_otel import _semconv as sc
from agentsight_otel._mapping.payload import PayloadBuilder, TraceGroup
from agentsight_otel._mapping.records import EventRecord, Scope, SpanRecord
from agentsight_otel._redaction import Redactor

T0 = 1_800_000_000_000_000_000
MS = 1_000_000
# One event-mode model call: openai-v2's scope, the history it resends, what it answers.
OPENAI_V2 = "opentelemetry.instrumentation.openai_v2"
SYSTEM = {"gen_ai.system": "openai"}
HISTORY = [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello!"), ("user", "Weather?")]
ANSWER = "Sunny."


def span(
    span_id: int,
    parent: int | None = None,
    *,
    name: str = "span",
    attributes: Mapping[str, Any] | None = None,
    start_ms: int = 0,
    end_ms: int = 1,
    status: str = "unset",
    description: str | None = None,
    events: Iterable[EventRecord] = (),
    scope: str = "opentelemetry.instrumentation.openai_v2",
    trace_id: int = 0xABC,
) -> SpanRecord:
    """A finished record; times in milliseconds after T0."""
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        span_kind="INTERNAL",
        start_ns=T0 + start_ms * MS,
        end_ns=T0 + end_ms * MS,
        status=status,
        status_description=description,
        attributes=dict(attributes or {}),
        events=list(events),
        links=[],
        resource={"service.name": "agent"},
        scope=Scope(scope, "1", ""),
        trace_state=None,
        parent_is_remote=False,
        dropped_attributes=0,
        dropped_events=0,
        dropped_links=0,
    )


def agent(span_id: int, *, end_ms: int, **extra: Any) -> SpanRecord:
    """An agent invocation root (``invoke_agent``) as frameworks record it."""
    attributes = {"gen_ai.operation.name": "invoke_agent"}
    return span(span_id, None, name="invoke_agent", attributes=attributes, end_ms=end_ms, **extra)


def text(role: str, content: str) -> dict[str, Any]:
    """A GenAI-convention message with one text part."""
    return {"role": role, "parts": [{"type": "text", "content": content}]}


def tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """An assistant message asking for a tool."""
    part = {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}
    return {"role": "assistant", "parts": [part]}


def tool_result(call_id: str, result: str) -> dict[str, Any]:
    """A tool's result sent back to the model."""
    return {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": call_id, "response": result}],
    }


def chat(
    span_id: int,
    parent: int | None,
    inputs: Sequence[dict[str, Any]],
    outputs: Sequence[dict[str, Any]],
    *,
    start_ms: int,
    end_ms: int,
    input_tokens: int = 10,
    **extra: Any,
) -> SpanRecord:
    """A model call as OpenTelemetry's GenAI instrumentation records it, content on the span."""
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "test-model",
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": 5,
        sc.GEN_AI_INPUT_MESSAGES: json.dumps(list(inputs)),
        sc.GEN_AI_OUTPUT_MESSAGES: json.dumps(list(outputs)),
        **extra.pop("attributes", {}),
    }
    return span(
        span_id,
        parent,
        name="chat test-model",
        attributes=attributes,
        start_ms=start_ms,
        end_ms=end_ms,
        **extra,
    )


def build(
    records: Sequence[SpanRecord], cid: str = "c1", redactor: Redactor | None = None
) -> tuple[dict[str, Any], PayloadBuilder]:
    """The one block the records map to, and the builder (for its notices)."""
    builder = PayloadBuilder(redactor=redactor)
    blocks = builder.build([TraceGroup(cid, list(records))])
    assert len(blocks) == 1
    return blocks[0].as_wire(), builder


def of_kind(block: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The block's wire spans of one kind."""
    return [s for s in block["spans"] if s["kind"] == kind]


def transcript(block: dict[str, Any]) -> list[tuple[str, str]]:
    """(sender, content) of every message event, in wire order."""
    return [
        (e["attributes"][sc.MESSAGE_SENDER], e["attributes"][sc.MESSAGE_CONTENT])
        for s in of_kind(block, "turn")
        for e in s["events"]
        if e["name"] == sc.MESSAGE_EVENT
    ]


def event_mode_turn(tracer: Tracer, logger: Logger, cid: str) -> None:
    """An agent turn whose model call writes old-convention log records, as openai-v2 does.

    ``message_to_event`` / ``choice_to_event``: one record per message resent, then the
    choice; content in the body, no timestamp. A plain log record rides along.
    """
    root = {"gen_ai.operation.name": "invoke_agent", "gen_ai.conversation.id": cid}
    call = {"gen_ai.operation.name": "chat", **SYSTEM, "gen_ai.usage.input_tokens": 8}
    with (
        tracer.start_as_current_span("invoke_agent weather", attributes=root),
        tracer.start_as_current_span("chat test-model", attributes=call),
    ):
        logger.emit(LogRecord(event_name="app.note", body="a plain log line"))  # not GenAI
        for role, content in HISTORY:
            body = {"content": content}
            logger.emit(
                LogRecord(event_name=f"gen_ai.{role}.message", attributes=SYSTEM, body=body)
            )
        choice = {"index": 0, "finish_reason": "stop", "message": {"content": ANSWER}}
        logger.emit(LogRecord(event_name="gen_ai.choice", attributes=SYSTEM, body=choice))
