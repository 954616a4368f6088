"""Checking a tracking call's input and turning it into span or event attributes (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from agentsight_otel import _semconv as sc
from agentsight_otel._attachments import describe_attachments
from agentsight_otel._mapping.timefmt import iso_utc
from agentsight_otel._sanitize import (
    MAX_FIELD,
    encode_metadata,
    encode_value,
    optional_field,
    require_text,
    to_text,
    truncate,
)
from agentsight_otel._tracker.fields import required_field, token_count
from agentsight_otel._tracker.timing import action_window
from agentsight_otel.exceptions import ValidationError

PREVIEW = 80


def message(sender: str, text: object, metadata: object) -> dict[str, Any]:
    """A message event's attributes."""
    attributes = {sc.MESSAGE_SENDER: sender, sc.MESSAGE_CONTENT: require_text(text, "message")}
    if metadata is not None:
        attributes[sc.MESSAGE_METADATA] = encode_metadata(metadata)  # type: ignore[assignment]
    return attributes


@dataclass(frozen=True, slots=True)
class Action:
    """A checked action: its name, window, error and span attributes."""

    name: str
    start_ns: int
    end_ns: int
    error: str | None
    attributes: dict[str, Any]

    def after(self, stamp_ns: int) -> Action:
        """This action moved to start after ``stamp_ns`` (the item tracked before it), if needed."""
        if self.start_ns > stamp_ns:
            return self
        return replace(
            self, start_ns=stamp_ns + 1, end_ns=stamp_ns + 1 + self.end_ns - self.start_ns
        )

    def item(self, conversation_id: str) -> dict[str, Any]:
        """The tracked item ``track_action`` returns."""
        return {
            "type": "action",
            "conversation_id": conversation_id,
            "action_name": self.name,
            "started_at": iso_utc(self.start_ns),
            "ended_at": iso_utc(self.end_ns),
            "duration_ms": round((self.end_ns - self.start_ns) / 1e6, 3),
            "status": "error" if self.error is not None else "ok",
        }


def action(
    name: object,
    started_at: object,
    ended_at: object,
    duration_ms: object,
    tools_used: object,
    response: object,
    error_msg: object,
    metadata: object,
    kind: str,
    now_ns: int,
) -> Action:
    """An action span's name, times and attributes."""
    clean = require_text(name, "action_name")[:MAX_FIELD]
    if kind not in (sc.KIND_TOOL, sc.KIND_TASK):
        raise ValidationError("kind must be 'tool' or 'task'")
    if error_msg is not None and not isinstance(error_msg, str):
        raise ValidationError("error_msg must be a string")
    start_ns, end_ns = action_window(started_at, ended_at, duration_ms, now_ns)
    attributes: dict[str, Any] = {sc.SPAN_KIND: kind, sc.ENTITY_NAME: clean, sc.TOOL_NAME: clean}
    if tools_used is not None:
        attributes[sc.TOOL_ARGUMENTS] = encode_value(tools_used)
    if response is not None:
        attributes[sc.TOOL_RESPONSE] = to_text(response)
    error = truncate(error_msg) if error_msg is not None else None
    if error is not None:
        attributes[sc.TOOL_ERROR] = error
    _add_metadata(attributes, metadata)
    return Action(clean, start_ns, end_ns, error, attributes)


def button(button_event: object, label: object, value: object, metadata: object) -> dict[str, Any]:
    """A button event's attributes; all three fields are required."""
    attributes: dict[str, Any] = {
        sc.BUTTON_EVENT_NAME: required_field(button_event, "button_event"),
        sc.BUTTON_LABEL: required_field(label, "label"),
        sc.BUTTON_VALUE: required_field(value, "value"),
    }
    _add_metadata(attributes, metadata)
    return attributes


def attachments(
    files: object, mode: str, sender: str, metadata: object
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The files' descriptors and the attachment event's attributes."""
    described = describe_attachments(files, mode)
    if sender not in (sc.SENDER_USER, sc.SENDER_AGENT):
        raise ValidationError("sender must be 'end_user' or 'agent'")
    attributes: dict[str, Any] = {
        sc.ATTACHMENT_SENDER: sender,
        sc.ATTACHMENT_MODE: mode,
        sc.ATTACHMENT_COUNT: len(described),
        sc.ATTACHMENT_FILES: json.dumps(described),
    }
    _add_metadata(attributes, metadata)
    return described, attributes


def token_usage(
    prompt_tokens: object,
    completion_tokens: object,
    total_tokens: object,
    model: object,
    provider: object,
) -> tuple[int, dict[str, Any]]:
    """The call's total and the usage event's attributes."""
    prompt = token_count(prompt_tokens, "prompt_tokens")
    completion = token_count(completion_tokens, "completion_tokens")
    if total_tokens is not None:
        token_count(total_tokens, "total_tokens")  # checked; AgentSight counts the two parts
    total = prompt + completion
    attributes: dict[str, Any] = {
        sc.INPUT_TOKENS: prompt,
        sc.OUTPUT_TOKENS: completion,
        sc.GEN_AI_OPERATION: "chat",
    }
    for key, value, name in (
        (sc.GEN_AI_REQUEST_MODEL, model, "model"),
        (sc.GEN_AI_SYSTEM, provider, "provider"),
    ):
        clean = optional_field(value, name)
        if clean:
            attributes[key] = clean
    return total, attributes


def _add_metadata(attributes: dict[str, Any], metadata: object) -> None:
    """``agentsight.metadata`` as JSON when metadata was given."""
    encoded = encode_metadata(metadata)
    if encoded is not None:
        attributes[sc.METADATA] = encoded
