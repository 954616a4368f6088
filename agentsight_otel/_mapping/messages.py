"""Chat messages as GenAI instrumentation records them, read into one shape.

Sources, first found wins per direction: ``gen_ai.input.messages`` / ``gen_ai.output.messages``
(JSON text or structured), the ``gen_ai.client.inference.operation.details`` event, the older
per-message events (``gen_ai.user.message``, ``gen_ai.choice``, ...), the 1.27 prompt/completion
events, OpenInference's ``llm.input_messages.N.message.*`` and OpenLLMetry's
``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*``; then a framework's own names (the Vercel AI
SDK's ``ai.prompt*`` / ``ai.response.*``) and OpenInference's ``input.value`` /
``output.value`` on model calls. Only text is kept: tool calls, tool results
and system instructions are plumbing, not transcript.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

import orjson

from agentsight_otel import _semconv as sc
from agentsight_otel._mapping import openinference, vercel
from agentsight_otel._mapping.history import history_end
from agentsight_otel._mapping.records import Attributes, SpanRecord
from agentsight_otel._sanitize import loads_json

USER, ASSISTANT, TOOL = "user", "assistant", "tool"
_INPUT_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": USER,
    "gen_ai.assistant.message": ASSISTANT,
    "gen_ai.tool.message": TOOL,
}
_OUTPUT_EVENTS = {"gen_ai.choice": ASSISTANT}
_OI_INPUT, _OI_OUTPUT = "llm.input_messages.", "llm.output_messages."
_LL_INPUT, _LL_OUTPUT = "gen_ai.prompt.", "gen_ai.completion."
_FLAT_PROBES = (
    f"{_OI_INPUT}0.message.role",
    f"{_OI_OUTPUT}0.message.role",
    f"{_LL_INPUT}0.role",
    f"{_LL_OUTPUT}0.role",
    f"{_LL_INPUT}0.content",
    f"{_LL_OUTPUT}0.content",
)
_TOOL_RESULTS = ("tool_call_response", "tool_result")
_CARRIERS = frozenset(
    (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, *_FLAT_PROBES, *vercel.MESSAGE_KEYS)
)
_LEGACY_EVENTS = {"gen_ai.content.prompt": "gen_ai.prompt", "gen_ai.content.completion": None}


# One chat message: (role, its text parts joined, "" when it has none). A plain tuple: one is
# built per message read, on the export path.
Message = tuple[str, str]


class _Lazy(Sequence[Message]):
    """Messages converted only when read: a turn reads the end of a resent history, not all."""

    __slots__ = ("_convert", "_items")

    def __init__(self, items: Sequence[Any], convert: Callable[[Any], Message]) -> None:
        self._items = items
        self._convert = convert

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> Message: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Message]: ...
    def __getitem__(self, index: int | slice) -> Message | Sequence[Message]:
        if isinstance(index, slice):
            return [self._convert(item) for item in self._items[index]]
        return self._convert(self._items[index])

    def __iter__(self) -> Iterator[Message]:
        return map(self._convert, self._items)

    def __reversed__(self) -> Iterator[Message]:
        return map(self._convert, reversed(self._items))


def carries_messages(record: SpanRecord) -> bool:
    """Whether a span carries message content in any known form (a cheap look, no parsing)."""
    attributes = record.attributes
    if not _CARRIERS.isdisjoint(attributes):
        return True
    if openinference.carries_values(attributes):
        return True
    events = record.events
    return bool(events) and any(_is_message_event(event.name) for event in events)


def user_texts(record: SpanRecord) -> list[str] | None:
    """The end user's new messages in a span's input; None when it records no input messages."""
    value = record.attributes.get(sc.GEN_AI_INPUT_MESSAGES)
    if type(value) is str:  # the usual case, read without the general path's steps
        end = history_end(value, _RUN_ROLES)
        if end is not None:
            texts, ended = _user_run(end)
            if ended:  # the run starts within the end read: the rest is not needed
                return texts
        document = _parsed(value)
        if type(document) is list:
            return _user_run(document)[0] if document else None
        messages: Sequence[Message] | None = _as_messages(document)
    else:
        messages = input_messages(record)
    return new_user_texts(messages) if messages else None


def answer(record: SpanRecord) -> str:
    """The assistant's text in a span's output ("" when it records none)."""
    value = record.attributes.get(sc.GEN_AI_OUTPUT_MESSAGES)
    if type(value) is str:  # the usual case, read without the general path's steps
        document = _parsed(value)
        if type(document) is list:
            if len(document) == 1:  # the usual answer: one message
                role, text = _message(document[0])
                return text if role == ASSISTANT else ""
            return _assistant_text(map(_message, document))
        messages: Sequence[Message] | None = _as_messages(document)
    else:
        messages = output_messages(record)
    return _assistant_text(messages) if messages else ""


def input_messages(record: SpanRecord) -> Sequence[Message] | None:
    """The messages sent to the model (or agent), or None when the span records none."""
    found = _read(record, sc.GEN_AI_INPUT_MESSAGES, _INPUT_EVENTS, _OI_INPUT, _LL_INPUT, True)
    if found is not None:
        return found
    attributes = record.attributes
    document = vercel.input_document(attributes)
    if document is None:
        document = openinference.input_document(attributes)
    return None if document is None else _Lazy(document, _message)


def output_messages(record: SpanRecord) -> Sequence[Message] | None:
    """The messages the model (or agent) answered, or None when the span records none."""
    found = _read(record, sc.GEN_AI_OUTPUT_MESSAGES, _OUTPUT_EVENTS, _OI_OUTPUT, _LL_OUTPUT, False)
    if found is not None:
        return found
    attributes = record.attributes
    text = vercel.output_text(attributes)
    if text is not None:
        return [(ASSISTANT, text)]
    document = openinference.output_document(attributes)
    return None if document is None else _Lazy(document, _message)


def _read(
    record: SpanRecord,
    key: str,
    events: Mapping[str, str],
    oi_prefix: str,
    ll_prefix: str,
    is_input: bool,
) -> Sequence[Message] | None:
    """One direction's messages from the first source that has them."""
    attributes = record.attributes
    value = attributes.get(key)
    if value is not None:
        return _from_document(value)
    for event in record.events:
        if event.name == sc.OPERATION_DETAILS_EVENT and key in event.attributes:
            return _from_document(event.attributes[key])
    from_events = _from_events(record, events, is_input)
    if from_events is not None:
        return from_events
    if f"{oi_prefix}0.message.role" in attributes:
        return _flattened(attributes, oi_prefix, ".message.role", ".message.content")
    if f"{ll_prefix}0.role" in attributes or f"{ll_prefix}0.content" in attributes:
        return _flattened(attributes, ll_prefix, ".role", ".content")
    return None


def _is_message_event(name: str) -> bool:
    """Whether an event carries messages."""
    return (
        name == sc.OPERATION_DETAILS_EVENT
        or name in _INPUT_EVENTS
        or name in _OUTPUT_EVENTS
        or name in _LEGACY_EVENTS
    )


def _from_events(
    record: SpanRecord, roles: Mapping[str, str], is_input: bool
) -> Sequence[Message] | None:
    """Messages from per-message events, or from the 1.27 prompt/completion events."""
    found: list[Message] | None = None
    legacy = "gen_ai.prompt" if is_input else "gen_ai.completion"
    for event in record.events:
        role = roles.get(event.name)
        if role is not None:
            found = [] if found is None else found
            found.append(_event_message(role, event.attributes))
        elif event.name in _LEGACY_EVENTS and legacy in event.attributes:
            return _from_document(event.attributes[legacy])
    return found


def _event_message(role: str, attributes: Attributes) -> Message:
    """One per-message event: content inline, or inside its ``message`` body."""
    content = attributes.get("content")
    if content is None:
        body = loaded(attributes.get("message", attributes.get("gen_ai.event.content")))
        if isinstance(body, Mapping):
            content = body.get("content", body.get("message"))
            if isinstance(content, Mapping):
                content = content.get("content")
    return role, _text(content)


def _flattened(
    attributes: Attributes, prefix: str, role_key: str, content_key: str
) -> Sequence[Message]:
    """OpenInference's and OpenLLMetry's one-attribute-per-field messages, in index order."""
    count = 0
    while (
        f"{prefix}{count}{role_key}" in attributes or f"{prefix}{count}{content_key}" in attributes
    ):
        count += 1

    def convert(index: int) -> Message:
        base = f"{prefix}{index}"
        role = attributes.get(base + role_key)
        content = attributes.get(base + content_key)
        if content is None:
            content = _oi_contents(attributes, f"{base}.message.contents.")
        return (role if isinstance(role, str) else USER), _text(content)

    return _Lazy(range(count), convert)


def _oi_contents(attributes: Attributes, prefix: str) -> str:
    """OpenInference multi-part content: its text parts joined."""
    texts: list[str] = []
    for index in range(1_000):
        base = f"{prefix}{index}.message_content."
        kind = attributes.get(base + "type")
        if kind is None:
            break
        text = attributes.get(base + "text")
        if kind == "text" and isinstance(text, str):
            texts.append(text)
    return "\n".join(texts)


def _from_document(value: object) -> Sequence[Message]:
    """Messages from a JSON text or an already structured list."""
    return _as_messages(_parsed(value) if type(value) is str else loaded(value))


def _parsed(text: str) -> Any:
    """JSON text parsed, the fast parser first; the text itself when it is not JSON."""
    try:  # the usual case, first: JSON text the fast parser reads
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return loaded(text)


def _as_messages(document: object) -> Sequence[Message]:
    """A parsed document's messages: a list of them, or one message alone."""
    if type(document) is list:  # the usual case: skips the (slower) ABC checks below
        return _Lazy(document, _message)
    if isinstance(document, Mapping):
        document = [document]
    if not isinstance(document, (list, tuple)):
        return []
    return _Lazy(document, _message)


def loaded(value: object) -> Any:
    """Parsed JSON when the value is JSON text; the value otherwise."""
    if isinstance(value, (str, bytes)):
        try:
            return loads_json(value)
        except ValueError:
            return value
    return value


def _message(item: Any) -> Message:
    """A message in the GenAI shape (``parts``) or the chat API's (``content``)."""
    if type(item) is not dict and not isinstance(item, Mapping):  # parsed JSON: a dict
        return ("", "")  # not a message: ends a run of user messages, says nothing
    role = item.get("role")
    role = role if type(role) is str else USER
    parts = item.get("parts")
    if type(parts) is not list and type(parts) is not tuple:
        return role, _text(item.get("content"))
    if len(parts) == 1:  # the usual message: one part, read without the loop's steps
        part = parts[0]
        if type(part) is dict and part.get("type", "text") == "text":
            content = part.get("content", part.get("text"))
            return role, content if type(content) is str else ""
    texts: list[str] = []
    tool_result = False
    for part in parts:
        if type(part) is not dict and not isinstance(part, Mapping):
            continue
        kind = part.get("type", "text")
        if kind == "text":
            content = part.get("content", part.get("text"))
            if type(content) is str and content:
                texts.append(content)
        elif kind in _TOOL_RESULTS:
            tool_result = True
    if not texts and tool_result:
        role = TOOL  # a tool result sent under the user's role (as some frameworks do)
    return role, texts[0] if len(texts) == 1 else "\n".join(texts)


def _text(content: object) -> str:
    """Text content: a string, or the text items of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
        texts = []
        for item in content:
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, Mapping) and item.get("type", "text") == "text":
                text = item.get("text", item.get("content"))
                if isinstance(text, str):
                    texts.append(text)
        return "\n".join(texts)
    return ""


def new_user_texts(messages: Sequence[Message]) -> list[str]:
    """The end user's messages that start an exchange: those after the last non-user message."""
    if type(messages) is _Lazy and messages._convert is _message:
        return _user_run(messages._items)[0]
    texts: list[str] = []
    for role, text in reversed(messages):
        if role in ("system", "developer"):
            continue
        if role != USER:
            break
        if text:
            texts.append(text)
    texts.reverse()
    return texts


def _user_run(items: Sequence[Any]) -> tuple[list[str], bool]:
    """``new_user_texts`` of raw messages, converting only the run it reads (from the end).

    A message whose role is a string other than user, system or developer ends the run
    whatever its parts are (``_message`` keeps that role or makes it ``tool``): neither it
    nor the resent history before it is converted. Also whether a message ended the run (not
    the start of ``items``).
    """
    texts: list[str] = []
    ended = False
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if type(item) is dict:
            role = item.get("role")
            if type(role) is str and role not in _RUN_ROLES:
                ended = True
                break
        role, text = _message(item)
        if role in ("system", "developer"):
            continue
        if role != USER:
            ended = True
            break
        if text:
            texts.append(text)
    texts.reverse()
    return texts, ended


_RUN_ROLES = frozenset((USER, "system", "developer"))


def _assistant_text(messages: Iterable[Message]) -> str:
    """The assistant's text in a model's (or agent's) output."""
    return "\n".join([text for role, text in messages if role == ASSISTANT and text])
