"""The Vercel AI SDK's own telemetry (``ai.*`` spans): its names, and what they say.

``experimental_telemetry`` (v5, v6; v7's ``LegacyOpenTelemetry``) writes one span per call the
app makes (``ai.generateText``, ``ai.streamText``, ``ai.generateObject``, ``ai.streamObject``:
a turn), one per model call in it (``...doGenerate`` / ``...doStream``, with ``gen_ai.usage.*``)
and one per tool run (``ai.toolCall``). Metadata rides on every span as
``ai.telemetry.metadata.<key>`` (v7: runtime context as ``ai.settings.context.<key>``).
"""

from __future__ import annotations

from typing import Any

from agentsight_otel._mapping.records import Attributes
from agentsight_otel._sanitize import loads_json

OPERATION = "ai.operationId"
TOOL_CALL = "ai.toolCall"
TOOL_NAME = "ai.toolCall.name"
TOOL_ARGUMENTS = "ai.toolCall.args"
TOOL_RESULT = "ai.toolCall.result"
_PROMPT = "ai.prompt"
_PROMPT_MESSAGES = "ai.prompt.messages"
_RESPONSE_TEXT = "ai.response.text"
_RESPONSE_OBJECT = "ai.response.object"
MESSAGE_KEYS = (_PROMPT, _PROMPT_MESSAGES, _RESPONSE_TEXT, _RESPONSE_OBJECT)

_CALLS = ("ai.generateText", "ai.streamText", "ai.generateObject", "ai.streamObject")
# The calls an app makes (turns) and the model calls inside them; embeddings and reranking
# are not conversation turns.
_TURN_OPERATIONS = frozenset(
    (*_CALLS, *(f"{call}.doGenerate" for call in _CALLS), *(f"{call}.doStream" for call in _CALLS))
)
_METADATA, _CONTEXT = "ai.telemetry.metadata.", "ai.settings.context."
# The metadata keys apps set for a chat's session: `sessionId` (Langfuse's and Laminar's AI SDK
# guides), `conversationId` and `threadId`; then the same under v7's runtime context.
_SESSION_NAMES = ("sessionId", "conversationId", "threadId")
IDENTITY_KEYS = tuple(prefix + name for prefix in (_METADATA, _CONTEXT) for name in _SESSION_NAMES)
CUSTOMER_KEYS = (_METADATA + "userId", _CONTEXT + "userId")


def may_start_turn(attributes: Attributes) -> bool:
    """Whether an ``ai.*`` span can be a turn (any span that is not the AI SDK's can)."""
    operation = attributes.get(OPERATION)
    return operation is None or operation in _TURN_OPERATIONS


def is_tool(attributes: Attributes) -> bool:
    """Whether a span is the AI SDK's tool run."""
    return attributes.get(OPERATION) == TOOL_CALL


def input_document(attributes: Attributes) -> list[Any] | None:
    """The chat messages a call was given: the model call's prompt, or the app's call's."""
    messages = attributes.get(_PROMPT_MESSAGES)
    if messages is not None:
        document = _json(messages)
        return document if isinstance(document, list) else None
    prompt = attributes.get(_PROMPT)
    if prompt is None:
        return None
    document = _json(prompt)
    if not isinstance(document, dict):
        return None
    found: list[Any] = []
    system = document.get("system")
    if isinstance(system, str) and system:
        found.append({"role": "system", "content": system})
    for part in (document.get("messages"), document.get("prompt")):
        if isinstance(part, list):
            found.extend(part)
        elif isinstance(part, str):
            found.append({"role": "user", "content": part})
    return found


def output_text(attributes: Attributes) -> str | None:
    """The text a call answered (an object answer as its JSON), or None when none is recorded."""
    text = attributes.get(_RESPONSE_TEXT)
    if isinstance(text, str):
        return text
    answer = attributes.get(_RESPONSE_OBJECT)
    return answer if isinstance(answer, str) else None


def tool_result(value: object) -> object:
    """A tool's result: the AI SDK writes it as JSON, so a string result is quoted; unquote it."""
    document = _json(value)
    return document if isinstance(document, str) else value


def _json(value: object) -> Any:
    """Parsed JSON text, or None when the value is not JSON."""
    if not isinstance(value, str):
        return None
    try:
        return loads_json(value)
    except ValueError:
        return None
