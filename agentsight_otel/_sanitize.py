"""Turning caller input into bounded, JSON-safe span attribute values (INGEST.md limits)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from typing import Any, cast

import orjson

from agentsight_otel.exceptions import ValidationError

MAX_TEXT = 16_384
MAX_JSON = 16_384
MAX_FIELD = 255
MAX_DEPTH = 32
TRUNCATION_MARKER = "...[truncated]"
_LEAF_BUDGET = 1_024


def require_text(value: object, name: str) -> str:
    """A non-blank string, truncated to the content limit with a marker."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string, not {type(value).__name__}")
    if not value or value.isspace():
        raise ValidationError(f"{name} must not be empty or whitespace")
    return truncate(value)


def truncate(text: str, limit: int = MAX_TEXT) -> str:
    """The first ``limit`` characters followed by the marker when the text is longer."""
    if not text.isascii():  # O(1) in CPython: ASCII text skips the call
        text = unicode_text(text)
    return text if len(text) <= limit else text[:limit] + TRUNCATION_MARKER


def unicode_text(text: str) -> str:
    """The text with lone surrogates (from undecodable input) replaced by U+FFFD."""
    # They have no UTF-8 form: OTLP's encoder drops (and logs) an attribute holding one and
    # JSON backends refuse their escapes, so they are replaced at the call, for every route.
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


# A \\uD800-\\uDFFF escape: JSON may carry lone surrogates (the vendor SDK sends them).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def unicode_json(document: Any, raw: str | bytes) -> Any:
    """``document`` (parsed from ``raw``) with lone surrogates replaced by U+FFFD."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return _unicode_value(document) if _SURROGATE_ESCAPE.search(data) else document


def loads_json(raw: str | bytes) -> Any:
    """Producer JSON text parsed; ValueError when it is not JSON.

    The fast parser refuses what Python's ``json.dumps`` writes (lone-surrogate escapes, NaN,
    integers past 64 bits): such text is read by the standard parser instead, its lone
    surrogates replaced by U+FFFD, so the document is kept, not dropped.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
    try:
        return _unicode_value(json.loads(text))
    except RecursionError as exc:  # nested deeper than the interpreter's stack allows
        raise ValueError("JSON nested too deeply") from exc


def _unicode_value(value: Any) -> Any:
    """Strings (keys included) made encodable, all the way down."""
    if isinstance(value, str):
        return unicode_text(value)
    if isinstance(value, list):
        return [_unicode_value(item) for item in value]
    if isinstance(value, dict):
        return {unicode_text(key): _unicode_value(item) for key, item in value.items()}
    return value


def optional_field(value: object, name: str) -> str | None:
    """An optional conversation field: a string, clipped to 255 characters; blank means absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string, not {type(value).__name__}")
    value = unicode_text(value.strip())
    return value[:MAX_FIELD] or None


def encode_metadata(value: object, name: str = "metadata") -> str | None:
    """A metadata dict as a JSON string within the size limit; None stays None."""
    if value is None:
        return None
    if type(value) is not dict:
        if not isinstance(value, Mapping):
            raise ValidationError(f"{name} must be a dict, not {type(value).__name__}")
        value = dict(value)
    return _fit_document(value)


def encode_value(value: object) -> str:
    """Any value as JSON text within the size limit (tool arguments)."""
    if type(value) is dict or isinstance(value, Mapping):  # the usual type told before the ABC
        return _fit_document(dict(value))
    return truncate(_dumps(value), MAX_JSON)


def to_text(value: object) -> str:
    """A tool result as text: strings as they are, anything else as JSON."""
    return truncate(value if isinstance(value, str) else _dumps(value))


def _dumps(value: object) -> str:
    """Strict JSON, converting what JSON cannot encode instead of failing."""
    try:
        return orjson.dumps(value, default=_convert, option=orjson.OPT_NON_STR_KEYS).decode()
    except (ValueError, TypeError, RecursionError):
        return json.dumps(jsonable(value), ensure_ascii=False)


def _fit_document(document: dict[str, Any]) -> str:
    """The document as JSON, trimmed (leaves first, then trailing keys) until it fits."""
    text = _dumps(document)
    if len(text) <= MAX_JSON:
        return text
    reduced = cast("dict[str, Any]", jsonable(document, leaf_budget=_LEAF_BUDGET))  # a dict in
    text = json.dumps(reduced, ensure_ascii=False)
    dropped = 0
    while len(text) > MAX_JSON and reduced:
        reduced.pop(next(reversed(reduced)))
        dropped += 1
        text = json.dumps({**reduced, "_truncated_keys": dropped}, ensure_ascii=False)
    return text


def jsonable(
    value: object,
    depth: int = 0,
    seen: frozenset[int] = frozenset(),
    *,
    leaf_budget: int = MAX_TEXT,
) -> object:
    """A deep copy of ``value`` that strict JSON can encode: no cycles, NaN or odd types."""
    if isinstance(value, str):
        return truncate(value, leaf_budget)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= MAX_DEPTH:
        return "<too deep>"
    if id(value) in seen:
        return "<cycle>"
    inner = seen | {id(value)}
    if isinstance(value, Mapping):
        return {
            unicode_text(_text_of(k)): jsonable(v, depth + 1, inner, leaf_budget=leaf_budget)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=_repr_of) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v, depth + 1, inner, leaf_budget=leaf_budget) for v in items]
    return jsonable(_convert(value), depth + 1, inner, leaf_budget=leaf_budget)


def _convert(value: object) -> object:
    """What JSON's ``default`` hook gives for a value it cannot encode."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=_repr_of)
    return _text_of(value)


def _text_of(value: object) -> str:
    """``str(value)``; a placeholder naming the type when the caller's ``__str__`` fails."""
    try:
        return str(value)
    except Exception:  # not ours: the caller's object cannot be printed
        return f"<unprintable {type(value).__name__}>"


def _repr_of(value: object) -> str:
    """``repr(value)`` for ordering set members; the type's name when it fails."""
    try:
        return repr(value)
    except Exception:  # not ours: the caller's object cannot be printed
        return f"<unprintable {type(value).__name__}>"
