"""OpenInference's ``input.value`` / ``output.value`` on model calls, read as chat messages.

Used only when an LLM span has no ``llm.input_messages.*`` / ``llm.output_messages.*``: the
values hold the request and response as the instrumented client saw them. JSON
(``application/json``): a Chat Completions request (``messages``) or response (``choices``), a
Responses API request (``input``, ``instructions``) or response (``output`` items), or a bare
list of messages or input items (the Agents SDK's). Anything else is plain text
(``text/plain``, OpenInference's default): the user's prompt, or the model's answer.
"""

from __future__ import annotations

from typing import Any

from agentsight_otel import _semconv as sc
from agentsight_otel._mapping.records import Attributes
from agentsight_otel._sanitize import loads_json

INPUT_VALUE, OUTPUT_VALUE = "input.value", "output.value"
_INPUT_MIME, _OUTPUT_MIME = "input.mime_type", "output.mime_type"
_JSON = "application/json"
# Responses API content parts that are text, by direction.
_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "refusal"})


def carries_values(attributes: Attributes) -> bool:
    """Whether a span is an OpenInference model call holding a request or response value."""
    return attributes.get(sc.OPENINFERENCE_KIND) == "LLM" and (
        INPUT_VALUE in attributes or OUTPUT_VALUE in attributes
    )


def input_document(attributes: Attributes) -> list[Any] | None:
    """The messages a model call was sent, as chat-API messages; None when it holds none."""
    document = _value(attributes, INPUT_VALUE, _INPUT_MIME)
    if document is None:
        return None
    if isinstance(document, str):
        return [{"role": "user", "content": document}]
    if isinstance(document, dict):
        if isinstance(document.get("messages"), list):
            return list(document["messages"])
        given = document.get("input")
        instructions = document.get("instructions")
        found = [{"role": "system", "content": instructions}] if instructions else []
        if isinstance(given, str):
            return [*found, {"role": "user", "content": given}]
        if isinstance(given, list):
            return [*found, *(_item(item) for item in given)]
        return None
    if isinstance(document, list):
        return [_item(item) for item in document]
    return None


def output_document(attributes: Attributes) -> list[Any] | None:
    """The messages a model call answered, as chat-API messages; None when it holds none."""
    document = _value(attributes, OUTPUT_VALUE, _OUTPUT_MIME)
    if document is None:
        return None
    if isinstance(document, str):
        return [{"role": "assistant", "content": document}]
    if isinstance(document, dict):
        choices = document.get("choices")
        if isinstance(choices, list):
            return [c["message"] for c in choices if isinstance(c, dict) and "message" in c]
        output = document.get("output")
        if isinstance(output, list):
            return [_item(item) for item in output]
        return None
    if isinstance(document, list):
        return [_item(item) for item in document]
    return None


def _value(attributes: Attributes, key: str, mime_key: str) -> Any:
    """The value: parsed when it is JSON, the text when plain; None when absent or unreadable."""
    value = attributes.get(key)
    if not isinstance(value, str) or attributes.get(sc.OPENINFERENCE_KIND) != "LLM":
        return None
    if attributes.get(mime_key, "text/plain") != _JSON:
        return value
    try:
        return loads_json(value)
    except ValueError:
        return None


def _item(item: Any) -> Any:
    """A chat message or Responses API item as a chat message (tool plumbing has no text)."""
    if not isinstance(item, dict):
        return item
    kind = item.get("type", "message")
    if kind != "message":  # function calls, their outputs, reasoning: nobody said anything
        output = isinstance(kind, str) and kind.endswith("_output")
        return {"role": "tool" if output else "assistant", "content": ""}
    content = item.get("content")
    if isinstance(content, list):
        content = "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type", "text") in _TEXT_PARTS
            and isinstance(part.get("text"), str)
        )
    return {"role": item.get("role", "user"), "content": content}
