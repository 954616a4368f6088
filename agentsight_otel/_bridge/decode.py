"""OTLP trace requests (protobuf or OTLP/JSON) → span records, exactly as the SDK path makes them.

Pure: bytes or messages in, records out. Nothing here evaluates input; JSON goes through
``json.loads`` and protobuf's own parser, both bounded in depth.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from agentsight_otel._mapping.records import (
    EMPTY,
    Attributes,
    EventRecord,
    LinkRecord,
    Scope,
    SpanRecord,
)
from agentsight_otel._sanitize import unicode_json

M = TypeVar("M")
_KINDS = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUSES = {0: "unset", 1: "ok", 2: "error"}
_SCALARS = frozenset({"string_value", "bool_value", "int_value", "double_value"})
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_MAX_REASONS = 3


class MalformedRequest(ValueError):
    """The body is not an OTLP trace request at all."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """Usable records, and how many spans were rejected and why."""

    records: list[SpanRecord]
    rejected: int = 0
    reasons: tuple[str, ...] = field(default=())

    @property
    def error_message(self) -> str:
        """The partial-success message: the first few reasons, counted."""
        return rejection_message(self.rejected, "span(s)", self.reasons)


def rejection_message(rejected: int, what: str, reasons: Iterable[str]) -> str:
    """A partial-success message: how many of ``what`` were rejected, and the first reasons."""
    if not rejected:
        return ""
    return f"{rejected} {what} rejected: " + "; ".join(reasons)


def decode_protobuf(data: bytes) -> Decoded:
    """Records from a binary-encoded ``ExportTraceServiceRequest``."""
    return decode_request(parse_protobuf(data, ExportTraceServiceRequest))


def parse_protobuf(data: bytes, message: type[M]) -> M:
    """A binary-encoded OTLP request of type ``message``."""
    try:
        parsed: M = message.FromString(data)  # type: ignore[attr-defined]
    except (DecodeError, RecursionError, ValueError) as exc:
        raise MalformedRequest(f"not a protobuf {message.__name__}: {exc}") from None
    return parsed


def decode_json(data: bytes) -> Decoded:
    """Records from an OTLP/JSON request (hex ids, enums as numbers or names)."""
    return decode_request(parse_json(data, ExportTraceServiceRequest(), _ids_to_base64))


def parse_json(data: bytes, message: M, rewrite_ids: Callable[[dict[str, Any]], None]) -> M:
    """An OTLP/JSON request into ``message``, its hex ids rewritten first by ``rewrite_ids``."""
    try:
        document = unicode_json(json.loads(data), data)
    except (ValueError, RecursionError) as exc:
        raise MalformedRequest(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedRequest("an OTLP/JSON request must be a JSON object")
    what = type(message).__name__
    try:
        rewrite_ids(document)
        parsed: M = json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise MalformedRequest(f"not an OTLP/JSON {what}: {exc}") from None
    return parsed


def decode_request(request: ExportTraceServiceRequest) -> Decoded:
    """Records for every usable span; resources and scopes converted once each."""
    records: list[SpanRecord] = []
    rejected = 0
    reasons: list[str] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = Scope(scope_spans.scope.name, scope_spans.scope.version, scope_spans.schema_url)
            for span in scope_spans.spans:
                problem = _problem(span)
                if problem is None:
                    records.append(_record(span, resource, scope))
                    continue
                rejected += 1
                if problem not in reasons and len(reasons) < _MAX_REASONS:
                    reasons.append(problem)
    return Decoded(records, rejected, tuple(reasons))


def _problem(span: Span) -> str | None:
    """Why a span cannot be used (its ids), or None."""
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return "trace_id must be 16 bytes and not all zero"
    if len(span.span_id) != 8 or not any(span.span_id):
        return "span_id must be 8 bytes and not all zero"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return "parent_span_id must be empty or 8 bytes"
    return None


def _record(span: Span, resource: Attributes, scope: Scope) -> SpanRecord:
    """One span as a record, field for field what ``records_from_spans`` makes of SDK spans."""
    parent = int.from_bytes(span.parent_span_id, "big") or None
    status = span.status
    return SpanRecord(
        trace_id=int.from_bytes(span.trace_id, "big"),
        span_id=int.from_bytes(span.span_id, "big"),
        parent_span_id=parent,
        name=span.name,
        span_kind=_KINDS.get(span.kind, "INTERNAL"),
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        status=_STATUSES.get(status.code, "unset"),
        status_description=status.message or None,
        attributes=_attributes(span.attributes) or EMPTY,
        events=[
            EventRecord(e.name, e.time_unix_nano, _attributes(e.attributes) or EMPTY)
            for e in span.events
        ],
        links=_links(span.links),
        resource=resource,
        scope=scope,
        trace_state=span.trace_state or None,
        parent_is_remote=parent is not None and _remote(span.flags),
        dropped_attributes=span.dropped_attributes_count,
        dropped_events=span.dropped_events_count,
        dropped_links=span.dropped_links_count,
    )


def _links(links: Iterable[Span.Link]) -> list[LinkRecord]:
    """Links with valid ids; a link to nowhere carries nothing the mapping could use."""
    return [
        LinkRecord(
            int.from_bytes(link.trace_id, "big"),
            int.from_bytes(link.span_id, "big"),
            _attributes(link.attributes) or EMPTY,
        )
        for link in links
        if len(link.trace_id) == 16 and len(link.span_id) == 8
    ]


def _remote(flags: int) -> bool:
    """The parent's is-remote bit, when the sender said it knows it."""
    return bool(flags & _HAS_IS_REMOTE) and bool(flags & _IS_REMOTE)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """Key-values in their order; a repeated key keeps its last value, as a dict would."""
    result: dict[str, Any] = {}
    for pair in pairs:
        value = pair.value
        kind = value.WhichOneof("value")
        # Scalars inline: this loop is most of the bridge's decoding time.
        result[pair.key] = getattr(value, kind) if kind in _SCALARS else _value(value, kind)
    return result


def _value(value: AnyValue, kind: str | None) -> Any:
    """An ``AnyValue`` of the given kind as the SDK holds attribute values (arrays as tuples)."""
    if kind in _SCALARS:
        return getattr(value, kind)
    if kind == "array_value":
        return tuple(_value(item, item.WhichOneof("value")) for item in value.array_value.values)
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


_SPAN_ID_KEYS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")
# A malformed hex id becomes an id of the wrong length, so the span is rejected on its own
# (partial success) instead of failing the whole request.
_BAD_ID = base64.b64encode(b"\x00").decode("ascii")


def _ids_to_base64(document: dict[str, Any]) -> None:
    """OTLP/JSON ids are hex; protobuf's JSON mapping expects base64. Rewrite in place."""
    for resource_spans in _items(document, "resourceSpans", "resource_spans"):
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
            for span in _items(scope_spans, "spans"):
                _rewrite_ids(span)
                for link in _items(span, "links"):
                    _rewrite_ids(link)


def _items(parent: object, *keys: str) -> list[Any]:
    """The list under the first present key, or nothing (ParseDict reports bad shapes)."""
    if not isinstance(parent, dict):
        return []
    for key in keys:
        value = parent.get(key)
        if isinstance(value, list):
            return value
    return []


def _rewrite_ids(item: object) -> None:
    """Hex id strings → base64, in place."""
    if not isinstance(item, dict):
        return
    for key in _SPAN_ID_KEYS:
        value = item.get(key)
        if isinstance(value, str):
            item[key] = _hex_to_base64(value)


def _hex_to_base64(text: str) -> str:
    """One id; empty stays empty (no parent)."""
    try:
        raw = bytes.fromhex(text) if text.isascii() and " " not in text else None
    except ValueError:
        raw = None
    if raw is None:
        return _BAD_ID
    return base64.b64encode(raw).decode("ascii")
