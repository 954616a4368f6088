"""Pure validation of ingest bodies: a parsed JSON document in, normalised blocks or errors out."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from agentsight_otel._fields import FIELDS, NAMES, Kind
from agentsight_otel._sanitize import unicode_json
from agentsight_otel._semconv import WIRE_SPAN_KEYS

JSONObject = dict[str, Any]
Errors = dict[str, list[str]]

MAX_FIELD_LENGTH = 255
MAX_REPORTED_BLOCKS = 20
CONVERSATION_ID = "agentsight.conversation.id"
BLOCK_KEYS = frozenset({"conversation_id", "spans", *NAMES})
TOP_LEVEL_KEYS = frozenset({"sdk", "conversations"})
ENVIRONMENTS = {"production": "production", "development": "development"}
ENVIRONMENT_ALIASES = {"prod": "production", "dev": "development"}
STATUSES = frozenset({"unset", "ok", "error"})
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class BlockErrors:
    """The field errors of one rejected conversation block."""

    index: int
    conversation_id: str | None
    errors: Errors

    def to_json(self) -> JSONObject:
        """The block's entry in a 400 body."""
        return {"index": self.index, "conversation_id": self.conversation_id, "errors": self.errors}


@dataclass(frozen=True)
class Rejection:
    """Why a whole ingest body was refused."""

    detail: str
    blocks: list[BlockErrors] = field(default_factory=list)

    def to_json(self) -> JSONObject:
        """The 400 body; per-block errors only when there are blocks to name."""
        if not self.blocks:
            return {"detail": self.detail}
        shown = self.blocks[:MAX_REPORTED_BLOCKS]
        return {
            "detail": self.detail,
            "conversations": [block.to_json() for block in shown],
            "truncated": len(self.blocks) > len(shown),
        }


def _refuse_constant(name: str) -> object:
    """NaN and Infinity are not JSON; json.loads would accept them and JSON output would fail."""
    raise ValueError(f"{name} is not valid JSON")


def loads_strict(text: str | bytes) -> Any:
    """json.loads that refuses NaN/Infinity and mends lone surrogates; ValueError if invalid."""
    try:
        return unicode_json(json.loads(text, parse_constant=_refuse_constant), text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def normalize_environment(value: str) -> str | None:
    """The canonical environment slug for a value or alias, or None when unknown."""
    lowered = value.strip().lower()
    return ENVIRONMENTS.get(lowered) or ENVIRONMENT_ALIASES.get(lowered)


def validate_ingest(body: object) -> list[JSONObject] | Rejection:
    """Check a parsed ingest body; return its blocks (environment normalised) or a Rejection."""
    problem = _top_level_problem(body)
    if problem is not None:
        return Rejection(problem)
    body = cast("JSONObject", body)  # _top_level_problem checked that it is an object
    blocks: list[JSONObject] = []
    failures: list[BlockErrors] = []
    for index, block in enumerate(body["conversations"]):
        errors = block_errors(block)
        if errors:
            failures.append(BlockErrors(index, _raw_conversation_id(block), errors))
        else:
            blocks.append(_normalized(block))
    if failures:
        detail = f"{len(failures)} conversation block(s) rejected; nothing was stored."
        return Rejection(detail, failures)
    return blocks


def _top_level_problem(body: object) -> str | None:
    """A description of what is wrong outside the blocks, if anything."""
    if not isinstance(body, dict):
        return "The body must be a JSON object."
    unknown = sorted(set(body) - TOP_LEVEL_KEYS)
    if unknown:
        return f"Unknown top-level key(s): {', '.join(unknown)}."
    missing = sorted(TOP_LEVEL_KEYS - set(body))
    if missing:
        return f"Missing top-level key(s): {', '.join(missing)}."
    sdk = body["sdk"]
    if not isinstance(sdk, dict) or not all(
        isinstance(sdk.get(k), str) for k in ("name", "version")
    ):
        return "'sdk' must be an object with string 'name' and 'version'."
    if not isinstance(body["conversations"], list):
        return "'conversations' must be a list."
    return None


def _raw_conversation_id(block: object) -> str | None:
    """The block's conversation_id as sent, so a 400 can name it even when it is the bad field."""
    if isinstance(block, dict):
        value = block.get("conversation_id")
        if isinstance(value, str):
            return value
    return None


def _normalized(block: JSONObject) -> JSONObject:
    """A copy of a valid block with its environment slug made canonical."""
    result = dict(block)
    for entry in FIELDS:
        if entry.kind is Kind.ENVIRONMENT and entry.name in result:
            result[entry.name] = normalize_environment(result[entry.name])
    return result


def block_errors(block: object) -> Errors:
    """Every problem with one conversation block, keyed by field path."""
    errors: Errors = {}
    if not isinstance(block, dict):
        return {"non_field_errors": ["A conversation block must be a JSON object."]}
    for key in sorted(set(block) - BLOCK_KEYS):
        _add(errors, key, "Unknown field.")
    conversation_id = block.get("conversation_id")
    for message in conversation_id_errors(conversation_id):
        _add(errors, "conversation_id", message)
    conversation_fields_errors(block, errors)
    spans = block.get("spans")
    if not isinstance(spans, list):
        _add(errors, "spans", "This field is required and must be a list.")
        return errors
    for index, span in enumerate(spans):
        _check_span(errors, f"spans[{index}]", span, conversation_id)
    return errors


def conversation_fields_errors(block: JSONObject, errors: Errors) -> None:
    """Check the optional conversation fields a block or an upsert may carry."""
    for entry in FIELDS:
        if entry.name in block:
            _FIELD_CHECKS[entry.kind](errors, entry.name, block[entry.name])


def conversation_id_errors(value: object) -> list[str]:
    """The problems with a conversation_id value: required, non-empty, at most 255 characters."""
    if not isinstance(value, str) or not value:
        return ["This field is required and must be a non-empty string."]
    if len(value) > MAX_FIELD_LENGTH:
        return [f"Ensure this field has no more than {MAX_FIELD_LENGTH} characters."]
    return []


def _check_string(errors: Errors, key: str, value: object) -> None:
    """A string of at most MAX_FIELD_LENGTH characters."""
    if not isinstance(value, str):
        _add(errors, key, "Must be a string.")
    elif len(value) > MAX_FIELD_LENGTH:
        _add(errors, key, f"Ensure this field has no more than {MAX_FIELD_LENGTH} characters.")


def _check_environment(errors: Errors, key: str, value: object) -> None:
    """An environment slug or alias."""
    if not isinstance(value, str) or normalize_environment(value) is None:
        choices = ", ".join([*ENVIRONMENTS, *ENVIRONMENT_ALIASES])
        _add(errors, key, f"Unknown environment; expected one of: {choices}.")


def _check_object(errors: Errors, key: str, value: object) -> None:
    """A JSON object."""
    if not isinstance(value, dict):
        _add(errors, key, "Must be a JSON object.")


# How the server checks each kind of conversation field; an IP address is taken as a string.
_FIELD_CHECKS: dict[Kind, Callable[[Errors, str, object], None]] = {
    Kind.TEXT: _check_string,
    Kind.IP: _check_string,
    Kind.ENVIRONMENT: _check_environment,
    Kind.JSON: _check_object,
}


def _check_span(errors: Errors, path: str, span: object, conversation_id: object) -> None:
    """Every problem with one span, recorded under its path."""
    if not isinstance(span, dict):
        _add(errors, path, "A span must be a JSON object.")
        return
    for key in WIRE_SPAN_KEYS:
        if key not in span:
            _add(errors, f"{path}.{key}", "This field is required.")
    _check_ids(errors, path, span)
    for key in ("kind", "name"):
        if key in span and not isinstance(span[key], str):
            _add(errors, f"{path}.{key}", "Must be a string.")
    if isinstance(span.get("kind"), str) and not span["kind"]:
        _add(errors, f"{path}.kind", "Must not be empty.")
    for key in ("started_at", "ended_at"):
        if key in span:
            _check_timestamp(errors, f"{path}.{key}", span[key])
    _check_timing(errors, path, span)
    if "attributes" in span:
        _check_attributes(errors, f"{path}.attributes", span["attributes"], conversation_id)
    if "events" in span:
        _check_events(errors, f"{path}.events", span["events"])
    if "otel" in span and not isinstance(span["otel"], dict):
        _add(errors, f"{path}.otel", "Must be a JSON object.")


def _check_ids(errors: Errors, path: str, span: JSONObject) -> None:
    """span_id and parent_span_id: 16 lowercase hex; trace_id: 32; never all zeros."""
    checks = (("span_id", _SPAN_ID, False), ("trace_id", _TRACE_ID, False))
    for key, pattern, nullable in (*checks, ("parent_span_id", _SPAN_ID, True)):
        if key not in span or (nullable and span[key] is None):
            continue
        value = span[key]
        width = 32 if key == "trace_id" else 16
        if not isinstance(value, str) or not pattern.fullmatch(value) or not value.strip("0"):
            _add(errors, f"{path}.{key}", f"Must be {width} lowercase hex digits, not all zero.")


def _check_timing(errors: Errors, path: str, span: JSONObject) -> None:
    """duration_ms is a finite number >= 0 and status one of the three names."""
    if "duration_ms" in span:
        duration = span["duration_ms"]
        number = isinstance(duration, (int, float)) and not isinstance(duration, bool)
        if not number or not math.isfinite(duration) or duration < 0:
            _add(errors, f"{path}.duration_ms", "Must be a number >= 0.")
    if "status" in span and span["status"] not in STATUSES:
        _add(errors, f"{path}.status", "Must be one of: unset, ok, error.")


def _check_attributes(errors: Errors, path: str, value: object, conversation_id: object) -> None:
    """attributes: an object naming the block's conversation."""
    if not isinstance(value, dict):
        _add(errors, path, "Must be a JSON object.")
    elif value.get(CONVERSATION_ID) != conversation_id:
        _add(errors, path, f"'{CONVERSATION_ID}' must equal the block's conversation_id.")


def _check_events(errors: Errors, path: str, events: object) -> None:
    """events: a list of {name, timestamp, attributes}."""
    if not isinstance(events, list):
        _add(errors, path, "Must be a list.")
        return
    for index, event in enumerate(events):
        where = f"{path}[{index}]"
        if not isinstance(event, dict):
            _add(errors, where, "An event must be a JSON object.")
            continue
        if not isinstance(event.get("name"), str):
            _add(errors, f"{where}.name", "This field is required and must be a string.")
        _check_timestamp(errors, f"{where}.timestamp", event.get("timestamp"))
        if not isinstance(event.get("attributes"), dict):
            _add(errors, f"{where}.attributes", "This field is required and must be an object.")


def _check_timestamp(errors: Errors, key: str, value: object) -> None:
    """An ISO-8601 timestamp with a UTC offset."""
    if parse_timestamp(value) is None:
        _add(errors, key, "Must be an ISO-8601 timestamp with a UTC offset.")


def parse_timestamp(value: object) -> datetime | None:
    """The aware datetime an ISO-8601 string names, or None when it is not one."""
    if not isinstance(value, str):
        return None
    # Python 3.10's fromisoformat does not read a "Z" suffix; 3.11 does. Answer the same on both.
    text = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


def _add(errors: Errors, key: str, message: str) -> None:
    """Record one message under a field path."""
    errors.setdefault(key, []).append(message)
