"""Tool spans of GenAI instrumentation (``execute_tool``, OpenInference and OpenLLMetry TOOL)."""

from __future__ import annotations

from typing import Any

from agentsight_otel import _semconv as sc
from agentsight_otel._mapping import vercel
from agentsight_otel._mapping.messages import loaded
from agentsight_otel._mapping.records import Attributes, SpanRecord
from agentsight_otel._redaction import Redactor
from agentsight_otel._sanitize import MAX_FIELD, encode_value, to_text, truncate

_NAME = (sc.GEN_AI_TOOL_NAME, "tool.name", "traceloop.entity.name", vercel.TOOL_NAME)
_ARGUMENTS = (
    sc.GEN_AI_TOOL_ARGUMENTS,
    "input.value",
    "traceloop.entity.input",
    vercel.TOOL_ARGUMENTS,
)
_RESULT = (sc.GEN_AI_TOOL_RESULT, "output.value", "traceloop.entity.output")


def is_tool(attributes: Attributes) -> bool:
    """Whether a span is a tool execution in any of the conventions (or the AI SDK's)."""
    return (
        attributes.get(sc.GEN_AI_OPERATION) == "execute_tool"
        or attributes.get(sc.OPENINFERENCE_KIND) == "TOOL"
        or attributes.get(sc.TRACELOOP_KIND) == "tool"
        or vercel.is_tool(attributes)
    )


def tool_attributes(
    record: SpanRecord, conversation_id: str, turn_hex: str, redactor: Redactor | None
) -> dict[str, Any]:
    """The contract's action attributes for a tool span."""
    attributes = record.attributes
    name = _first(attributes, _NAME) or record.name.removeprefix("execute_tool ") or "tool"
    name = str(name)[:MAX_FIELD]
    result: dict[str, Any] = {
        sc.CONVERSATION_ID: conversation_id,
        sc.SPAN_KIND: sc.KIND_TOOL,
        sc.ENTITY_NAME: name,
        sc.TOOL_NAME: name,
        sc.TURN_ID: turn_hex,
    }
    arguments = _first(attributes, _ARGUMENTS)
    if arguments is not None:
        value = loaded(arguments)
        result[sc.TOOL_ARGUMENTS] = encode_value(redactor.value(value) if redactor else value)
    response = _first(attributes, _RESULT)
    if response is None and vercel.TOOL_RESULT in attributes:
        response = vercel.tool_result(attributes[vercel.TOOL_RESULT])
    if response is not None:
        result[sc.TOOL_RESPONSE] = to_text(redactor.value(response) if redactor else response)
    if record.status == "error":
        error = _error_text(record)
        result[sc.TOOL_ERROR] = redactor.text(error) if redactor else error
    return result


def _first(attributes: Attributes, keys: tuple[str, ...]) -> Any:
    """The first present value among ``keys``."""
    value = attributes.get(keys[0])  # the GenAI convention's: looked up before the loop
    if value is not None:
        return value
    for key in keys[1:]:
        value = attributes.get(key)
        if value is not None:
            return value
    return None


def _error_text(record: SpanRecord) -> str:
    """What failed: the status description, the recorded exception, or the error type."""
    if record.status_description:
        return truncate(record.status_description)
    for event in record.events:
        if event.name == "exception":
            message = event.attributes.get("exception.message")
            kind = event.attributes.get("exception.type")
            if message or kind:
                return truncate(": ".join(str(p) for p in (kind, message) if p))
    return str(record.attributes.get("error.type") or "error")
