"""Attribute, event and kind names shared by the tracker, the mapping and the bridge."""

from typing import Final

from agentsight_otel import _fields

# Conversation identity, carried on every span of a conversation.
CONVERSATION_ID: Final = "agentsight.conversation.id"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
SESSION_ID: Final = "session.id"
LANGFUSE_SESSION_ID: Final = "langfuse.session.id"
TRACELOOP_SESSION_ID: Final = "traceloop.association.properties.session_id"

# Conversation fields, carried on turn and visit spans; the wire block is built from them.
# Both come from the one field table (_fields.py).
CONVERSATION_FIELDS: Final = {field.name: field.attribute for field in _fields.SCALARS}
CONVERSATION_METADATA: Final = _fields.BY_NAME["metadata"].attribute

SPAN_KIND: Final = "agentsight.span.kind"
ENTITY_NAME: Final = "agentsight.entity.name"
METADATA: Final = "agentsight.metadata"

KIND_TURN: Final = "turn"
KIND_TOOL: Final = "tool"
KIND_TASK: Final = "task"
KIND_BUTTON: Final = "button"
KIND_ATTACHMENT: Final = "attachment"
KIND_LLM: Final = "llm"
KIND_CONVERSATION: Final = "conversation"
ROOT_KINDS: Final = frozenset({KIND_TURN, KIND_CONVERSATION})

TURN_ID: Final = "agentsight.turn.id"
TURN_COMPLETE: Final = "agentsight.turn.complete"
TURN_INCOMPLETE_REASON: Final = "agentsight.turn.incomplete_reason"
TURN_SEGMENT: Final = "agentsight.turn.segment"

MESSAGE_EVENT: Final = "agentsight.message"
MESSAGE_SENDER: Final = "agentsight.message.sender"
MESSAGE_CONTENT: Final = "agentsight.message.content"
MESSAGE_METADATA: Final = "agentsight.message.metadata"
# A client-made reference on a message that has files, repeated on their record and upload.
MESSAGE_ID: Final = "agentsight.message.id"
SENDER_USER: Final = "end_user"
SENDER_AGENT: Final = "agent"

TOOL_NAME: Final = "agentsight.tool.name"
TOOL_ARGUMENTS: Final = "agentsight.tool.arguments"
TOOL_RESPONSE: Final = "agentsight.tool.response"
TOOL_ERROR: Final = "agentsight.tool.error"

BUTTON_EVENT: Final = "agentsight.button"
BUTTON_EVENT_NAME: Final = "agentsight.button.event"
BUTTON_LABEL: Final = "agentsight.button.label"
BUTTON_VALUE: Final = "agentsight.button.value"

ATTACHMENT_EVENT: Final = "agentsight.attachment"
ATTACHMENT_SENDER: Final = "agentsight.attachment.sender"
ATTACHMENT_MODE: Final = "agentsight.attachment.mode"
ATTACHMENT_COUNT: Final = "agentsight.attachment.count"
ATTACHMENT_FILES: Final = "agentsight.attachment.files"
ATTACHMENT_MESSAGE_ID: Final = "agentsight.attachment.message_id"

USAGE_EVENT: Final = "gen_ai.client.token.usage"
GEN_AI_SYSTEM: Final = "gen_ai.system"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_OPERATION: Final = "gen_ai.operation.name"
INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS: Final = "agentsight.llm.cache_read_tokens"
CACHE_WRITE_TOKENS: Final = "agentsight.llm.cache_write_tokens"
REASONING_TOKENS: Final = "agentsight.llm.reasoning_tokens"
REQUESTED_MODEL: Final = "agentsight.llm.requested_model"

# Names the backend counts as a human escalation when used as an action name.
ESCALATION_ACTIONS: Final = frozenset(
    {"fallback_to_human", "open_ticket", "ticket", "contact_human"}
)

# GenAI instrumentation (OTel GenAI conventions, OpenInference, OpenLLMetry): docs/genai-mapping.md.
OPENINFERENCE_KIND: Final = "openinference.span.kind"
TRACELOOP_KIND: Final = "traceloop.span.kind"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_RESULT: Final = "gen_ai.tool.call.result"
OPERATION_DETAILS_EVENT: Final = "gen_ai.client.inference.operation.details"

INSTRUMENTATION_NAME: Final = "agentsight_otel"

# Every key of a span on the ingest wire (INGEST.md), in the contract's order.
WIRE_SPAN_KEYS: Final = (
    "span_id",
    "trace_id",
    "parent_span_id",
    "kind",
    "name",
    "started_at",
    "ended_at",
    "duration_ms",
    "status",
    "attributes",
    "events",
    "otel",
)
