"""Pure projections: one validated span in, the rows the backend derives from it out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from agentsight_otel import _semconv as sc
from agentsight_otel._server.validation import JSONObject, loads_strict, parse_timestamp

MESSAGE_EVENT = "agentsight.message"
ESCALATION_ACTIONS = frozenset({"fallback_to_human", "open_ticket", "ticket", "contact_human"})
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Row:
    """One row for one projection table; column names come from this module only."""

    table: str
    values: dict[str, object]


def project_span(span: JSONObject) -> list[Row]:
    """The projection rows one newly stored span produces (none for archive-only kinds)."""
    kind = span["kind"]
    if kind == "turn":
        return _turn_rows(span)
    if kind in ("tool", "task"):
        return [_action_row(span)]
    if kind == "button":
        return [_button_row(span)]
    if kind == "attachment":
        return [_attachment_row(span)]
    if kind == "llm":
        return [_usage_row(span)]
    return []


def timestamp_micros(value: object) -> int:
    """Microseconds since the epoch for an ISO-8601 timestamp, so offsets sort correctly."""
    parsed = parse_timestamp(value)
    if parsed is None:
        return 0
    return (parsed - _EPOCH) // timedelta(microseconds=1)


def is_true(value: object) -> bool:
    """OTel booleans arrive as JSON true; tolerate the string form some bridges produce."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _turn_rows(span: JSONObject) -> list[Row]:
    """Messages from a turn's message events, each marked with how its turn ended."""
    attributes = span["attributes"]
    # An incomplete turn (ended at exit, evicted, abandoned, failed) was still delivered:
    # its messages are the conversation's as much as any, so they are read, marked.
    complete = is_true(attributes.get(sc.TURN_COMPLETE))
    reason = None if complete else _text(attributes.get(sc.TURN_INCOMPLETE_REASON))
    turn_id = _text(attributes.get("agentsight.turn.id")) or span["span_id"]
    rows = []
    for event in span["events"]:
        if event["name"] != MESSAGE_EVENT:
            continue
        values = event["attributes"]
        message = {
            "sender": _text(values.get("agentsight.message.sender")) or "unknown",
            "content": _text(values.get("agentsight.message.content")) or "",
            "metadata": _json_text(_object(values.get("agentsight.message.metadata"))),
            "timestamp": event["timestamp"],
            "ts_us": timestamp_micros(event["timestamp"]),
            "turn_id": turn_id,
            "span_id": span["span_id"],
            # Set on messages tracked with files; their uploads carry it in their metadata.
            "message_ref": _text(values.get("agentsight.message.id")),
            "turn_complete": int(complete),
            "incomplete_reason": reason,
        }
        rows.append(Row("messages", message))
    return rows


def _action_row(span: JSONObject) -> Row:
    """A tool or task span as an action log with the span's own timing."""
    attributes = span["attributes"]
    name = (
        _text(attributes.get("agentsight.tool.name"))
        or _text(attributes.get("agentsight.entity.name"))
        or span["name"]
    )
    arguments = attributes.get("agentsight.tool.arguments")
    values = {
        "name": name,
        "kind": span["kind"],
        "started_at": span["started_at"],
        "ended_at": span["ended_at"],
        "duration_ms": float(span["duration_ms"]),
        "status": span["status"],
        "arguments": None if arguments is None else _json_text(_decoded(arguments)),
        "response": _text(attributes.get("agentsight.tool.response")),
        "error": _text(attributes.get("agentsight.tool.error")),
        "escalation": int(name in ESCALATION_ACTIONS),
        "ts_us": timestamp_micros(span["started_at"]),
        "turn_id": _text(attributes.get("agentsight.turn.id")),
        "span_id": span["span_id"],
    }
    return Row("actions", values)


def _button_row(span: JSONObject) -> Row:
    """A button span as one click."""
    attributes = span["attributes"]
    values = {
        "event": _text(attributes.get("agentsight.button.event")),
        "label": _text(attributes.get("agentsight.button.label")),
        "value": _text(attributes.get("agentsight.button.value")),
        "metadata": _json_text(_object(attributes.get("agentsight.metadata"))),
        "timestamp": span["started_at"],
        "ts_us": timestamp_micros(span["started_at"]),
        "span_id": span["span_id"],
    }
    return Row("buttons", values)


def _attachment_row(span: JSONObject) -> Row:
    """An attachment span as a record that files were shared."""
    attributes = span["attributes"]
    decoded = _decoded(attributes.get("agentsight.attachment.files"))
    files = decoded if isinstance(decoded, list) else []
    count = _integer(attributes.get("agentsight.attachment.count"), default=len(files))
    values = {
        "sender": _text(attributes.get("agentsight.attachment.sender")),
        "mode": _text(attributes.get("agentsight.attachment.mode")),
        "count": count,
        "files": _json_text(files),
        "timestamp": span["started_at"],
        "ts_us": timestamp_micros(span["started_at"]),
        "span_id": span["span_id"],
        "message_ref": _text(attributes.get("agentsight.attachment.message_id")),
    }
    return Row("attachments", values)


def _usage_row(span: JSONObject) -> Row:
    """An llm span as one model call's token usage."""
    attributes = span["attributes"]
    values: dict[str, object] = {
        # The span's name is no model: usage tracked without one stays "unknown".
        "model": _text(attributes.get("gen_ai.request.model"))
        or _text(attributes.get("gen_ai.response.model"))
        or "unknown",
        "system": _text(attributes.get("gen_ai.system")),
        "input_tokens": _integer(attributes.get("gen_ai.usage.input_tokens")),
        "output_tokens": _integer(attributes.get("gen_ai.usage.output_tokens")),
        "cache_read_tokens": _integer(attributes.get(sc.CACHE_READ_TOKENS)),
        "cache_write_tokens": _integer(attributes.get(sc.CACHE_WRITE_TOKENS)),
        "reasoning_tokens": _integer(attributes.get(sc.REASONING_TOKENS)),
        "timestamp": span["started_at"],
        "ts_us": timestamp_micros(span["started_at"]),
        "span_id": span["span_id"],
    }
    return Row("llm_usage", values)


def _text(value: object) -> str | None:
    """A string attribute, with other primitives stringified and absence kept as None."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _integer(value: object, default: int = 0) -> int:
    """A token count or file count; non-numbers count as the default."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return default


def _decoded(value: object) -> object:
    """A JSON-string attribute decoded; text that is not JSON is kept as the string."""
    if not isinstance(value, str):
        return value
    try:
        return loads_strict(value)
    except ValueError:
        return value


def _object(value: object) -> JSONObject:
    """A metadata attribute as an object; anything that does not decode to one is empty."""
    decoded = _decoded(value)
    return decoded if isinstance(decoded, dict) else {}


def _json_text(value: object) -> str:
    """Compact JSON for a TEXT column."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
