"""The free-text fields PII redaction covers: one table for the tracker, the exporter and bridge.

The tracker redacts these fields at the call (every exporter on the provider sees redacted
values); the mapping redacts the same fields of every span record it is given before building a
body, so spans that arrive over OTLP (the bridge) or from other code on the provider are covered
too. GenAI message parts, tool call arguments and results are redacted where the mapping
extracts them (``transcript``, ``tools``), before they are clipped.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from agentsight_otel import _semconv as sc
from agentsight_otel._mapping.identity import is_genai
from agentsight_otel._mapping.messages import loaded
from agentsight_otel._mapping.records import Attributes, EventRecord, SpanRecord
from agentsight_otel._mapping.tools import is_tool
from agentsight_otel._redaction import Redactor
from agentsight_otel._sanitize import encode_value


class Shape(enum.Enum):
    """How a field holds its text."""

    TEXT = "text"  # a string (or a list of strings)
    JSON = "json"  # JSON text: keys and strings inside are redacted, the document re-encoded
    FILES = "files"  # the attachment record: a JSON list of {filename, size, mime_type}


@dataclass(frozen=True, slots=True)
class Field:
    """One redacted field: its attribute key on a span or event, its shape, who fills it."""

    key: str
    shape: Shape
    source: str


EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
# Not attributes: the span status text and, of GenAI spans other than tools, the span name.
STATUS_DESCRIPTION: Final = "otel.status_description"
GENAI_SPAN_NAME: Final = "name (GenAI spans)"

_CONVERSATION = "get_or_create_conversation / initialize_conversation / conversation(...)"
REDACTED: Final[tuple[Field, ...]] = (
    Field(sc.MESSAGE_CONTENT, Shape.TEXT, "track_human_message / track_agent_message: message"),
    Field(sc.MESSAGE_METADATA, Shape.JSON, "track_*_message: metadata"),
    Field(sc.CONVERSATION_FIELDS["customer_id"], Shape.TEXT, f"{_CONVERSATION}: customer_id"),
    Field(sc.CONVERSATION_FIELDS["device"], Shape.TEXT, f"{_CONVERSATION}: device"),
    Field(sc.CONVERSATION_FIELDS["source"], Shape.TEXT, f"{_CONVERSATION}: source"),
    Field(sc.CONVERSATION_FIELDS["language"], Shape.TEXT, f"{_CONVERSATION}: language"),
    Field(sc.CONVERSATION_FIELDS["name"], Shape.TEXT, f"{_CONVERSATION}: name"),
    Field(sc.CONVERSATION_METADATA, Shape.JSON, f"{_CONVERSATION}: metadata"),
    Field(sc.METADATA, Shape.JSON, "track_action / track_button / track_attachments: metadata"),
    Field(sc.TOOL_ARGUMENTS, Shape.JSON, "track_action: tools_used; @traced_action: arguments"),
    Field(sc.TOOL_RESPONSE, Shape.TEXT, "track_action: response; @traced_action: result"),
    Field(sc.TOOL_ERROR, Shape.TEXT, "track_action: error_msg; @traced_action: the exception"),
    Field(sc.BUTTON_LABEL, Shape.TEXT, "track_button: label"),
    Field(sc.BUTTON_VALUE, Shape.TEXT, "track_button: value"),
    Field(sc.ATTACHMENT_FILES, Shape.FILES, "track_attachments / attachments=: file names"),
    Field(EXCEPTION_MESSAGE, Shape.TEXT, "@traced_action: the exception's message"),
    Field(EXCEPTION_STACKTRACE, Shape.TEXT, "@traced_action: the exception's stack trace"),
    Field(GEN_AI_AGENT_NAME, Shape.TEXT, "GenAI instrumentation: the agent's name"),
    Field(STATUS_DESCRIPTION, Shape.TEXT, "error text of actions, tools and GenAI turns"),
    Field(GENAI_SPAN_NAME, Shape.TEXT, "GenAI instrumentation: invoke_agent <agent name>"),
)

# Every other key on the wire, and why it is sent as it is.
_IDENTIFIER = "an identifier the backend groups, joins or counts by"
KEPT: Final[dict[str, str]] = {
    sc.CONVERSATION_ID: _IDENTIFIER,
    sc.GEN_AI_CONVERSATION_ID: _IDENTIFIER,
    sc.SESSION_ID: _IDENTIFIER,
    sc.LANGFUSE_SESSION_ID: _IDENTIFIER,
    sc.TRACELOOP_SESSION_ID: _IDENTIFIER,
    sc.CONVERSATION_FIELDS["customer_ip_address"]: "checked to be an IP address, not free text",
    sc.CONVERSATION_FIELDS["environment"]: "a checked slug (production, development, ...)",
    sc.SPAN_KIND: "one of the contract's kinds",
    sc.ENTITY_NAME: "the action name or button label as redacted, or a GenAI span's name",
    sc.TURN_ID: _IDENTIFIER,
    sc.TURN_COMPLETE: "a boolean",
    sc.TURN_INCOMPLETE_REASON: "one of the contract's reasons",
    sc.TURN_SEGMENT: "a fixed word",
    sc.MESSAGE_SENDER: "end_user or agent",
    sc.MESSAGE_ID: "a random reference made by the library",
    sc.TOOL_NAME: "action and tool names are identifiers (escalation is counted by name)",
    sc.BUTTON_EVENT_NAME: "the button's event name, an identifier",
    sc.ATTACHMENT_SENDER: "end_user or agent",
    sc.ATTACHMENT_MODE: "one of the modes",
    sc.ATTACHMENT_COUNT: "a number",
    sc.ATTACHMENT_MESSAGE_ID: "a random reference made by the library",
    sc.GEN_AI_SYSTEM: "the model provider's name",
    sc.GEN_AI_REQUEST_MODEL: "a model name",
    sc.REQUESTED_MODEL: "a model name",
    sc.GEN_AI_OPERATION: "an operation name (chat, execute_tool, ...)",
    sc.INPUT_TOKENS: "a number",
    sc.OUTPUT_TOKENS: "a number",
    sc.CACHE_READ_TOKENS: "a number",
    sc.CACHE_WRITE_TOKENS: "a number",
    sc.REASONING_TOKENS: "a number",
    sc.OPENINFERENCE_KIND: "a span kind",
    sc.TRACELOOP_KIND: "a span kind",
    sc.GEN_AI_TOOL_NAME: "action and tool names are identifiers (escalation is counted by name)",
    # Read, never sent as they are: the mapping sends the redacted texts it extracts.
    sc.GEN_AI_INPUT_MESSAGES: "redacted where the mapping extracts the messages",
    sc.GEN_AI_OUTPUT_MESSAGES: "redacted where the mapping extracts the messages",
    sc.GEN_AI_TOOL_ARGUMENTS: "redacted where the mapping extracts them",
    sc.GEN_AI_TOOL_RESULT: "redacted where the mapping extracts them",
    # The wire span's own keys (INGEST.md); attributes and events hold the fields above.
    "span_id": _IDENTIFIER,
    "trace_id": _IDENTIFIER,
    "parent_span_id": _IDENTIFIER,
    "kind": "one of the contract's kinds",
    "name": "action and tool names are identifiers; a button's is its redacted label",
    "started_at": "a time",
    "ended_at": "a time",
    "duration_ms": "a number",
    "status": "unset, ok or error",
    "attributes": "holds the fields above",
    "events": "hold the fields above",
    "otel": "span kind, flags, links, resource and scope: set by the application's setup",
}

_BY_KEY: Final = {f.key: f.shape for f in REDACTED}


def redact_record(record: SpanRecord, redactor: Redactor) -> SpanRecord:
    """The record with every field of the table redacted (the record itself when none is set)."""
    attributes = redact_attributes(record.attributes, redactor)
    events = [_event(event, redactor) for event in record.events]
    changed = attributes is not record.attributes or any(
        new is not old for new, old in zip(events, record.events, strict=True)
    )
    description = record.status_description
    if description:
        description = redactor.text(description)
        changed = changed or description != record.status_description
    name = record.name
    own = record.attributes
    # Instrumentations name spans after what users name (invoke_agent <agent name>); tool names
    # are identifiers, and read from the tool's own attribute first.
    if sc.SPAN_KIND not in own and is_genai(own) and not is_tool(own):
        name = redactor.text(name)
        changed = changed or name != record.name
    if not changed:
        return record
    return replace(
        record,
        name=name,
        attributes=attributes,
        events=events,
        status_description=description,
    )


def redact_attributes(attributes: Attributes, redactor: Redactor) -> Attributes:
    """The attributes with the table's fields redacted (the same mapping when none is there)."""
    found = [key for key in attributes if key in _BY_KEY]
    if not found:
        return attributes
    redacted = dict(attributes)
    for key in found:
        redacted[key] = _redacted(_BY_KEY[key], attributes[key], redactor)
    return redacted


def _event(event: EventRecord, redactor: Redactor) -> EventRecord:
    """An event with the table's fields redacted."""
    attributes = redact_attributes(event.attributes, redactor)
    if attributes is event.attributes:
        return event
    return EventRecord(event.name, event.timestamp_ns, attributes)


def _redacted(shape: Shape, value: object, redactor: Redactor) -> Any:
    """One field's value redacted by its shape; JSON that does not parse is redacted as text."""
    if shape is Shape.TEXT or not isinstance(value, str):
        return redactor.value(value)
    document = loaded(value)
    if document is value:  # not JSON (clipped, or not JSON at all): its text is redacted
        return redactor.text(value)
    if shape is Shape.FILES and isinstance(document, list):
        return json.dumps([_file(item, redactor) for item in document])
    return encode_value(redactor.value(document))


def _file(item: object, redactor: Redactor) -> object:
    """One attachment descriptor with its file name redacted."""
    if isinstance(item, Mapping):
        return {key: redactor.text(v) if key == "filename" else v for key, v in item.items()}
    return redactor.value(item)
