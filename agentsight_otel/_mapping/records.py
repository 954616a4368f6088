"""Span records: the one shape finished spans take, whether from the SDK or from OTLP."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanKind, StatusCode

Attributes = Mapping[str, Any]
EMPTY: Attributes = {}


@dataclass(slots=True)
class EventRecord:
    """A span event."""

    name: str
    timestamp_ns: int
    attributes: Attributes


@dataclass(slots=True)
class LinkRecord:
    """A span link."""

    trace_id: int
    span_id: int
    attributes: Attributes


@dataclass(frozen=True, slots=True)
class Scope:
    """The instrumentation scope that produced a span."""

    name: str
    version: str
    schema_url: str


@dataclass(slots=True)
class SpanRecord:
    """A finished span with everything the wire format needs.

    ``parent_is_remote`` is whether the parent context came from another process, the one
    remote flag both the SDK and OTLP carry.
    """

    trace_id: int
    span_id: int
    parent_span_id: int | None
    name: str
    span_kind: str
    start_ns: int
    end_ns: int
    status: str
    status_description: str | None
    attributes: Attributes
    events: Sequence[EventRecord]
    links: Sequence[LinkRecord]
    resource: Attributes
    scope: Scope
    trace_state: str | None
    parent_is_remote: bool
    dropped_attributes: int
    dropped_events: int
    dropped_links: int


# Keyed by the members' identity: an Enum's own __hash__ runs in Python, twice per span.
_STATUS = {
    id(code): name
    for code, name in (
        (StatusCode.UNSET, "unset"),
        (StatusCode.OK, "ok"),
        (StatusCode.ERROR, "error"),
    )
}
_KINDS = {id(kind): kind.name for kind in SpanKind}
_NO_SCOPE = Scope("", "", "")
# What a record is built from: context, start, end, attributes, events, links and the three
# dropped counts (attributes, events, links).
_Parts = tuple[Any, Any, Any, Any, Sequence[Any], Sequence[Any], int, int, int]


def records_from_spans(spans: Iterable[ReadableSpan]) -> list[SpanRecord]:
    """Records for SDK spans; resources and scopes are converted once per object."""
    resources: dict[int, Attributes] = {}
    scopes: dict[int, Scope] = {}
    records = []
    for span in spans:
        try:
            parts = _internal_parts(span)
        except AttributeError:  # not the SDK's own span class: go through the public API
            parts = _public_parts(span)
        if parts[0] is None or parts[1] is None or parts[2] is None:
            continue
        resource = resources.get(id(span.resource))
        if resource is None:
            resource = resources[id(span.resource)] = dict(span.resource.attributes)
        scope = scopes.get(id(span.instrumentation_scope))
        if scope is None:
            scope = scopes[id(span.instrumentation_scope)] = _scope(span)
        records.append(_record(span, parts, resource, scope))
    return records


def _record(span: ReadableSpan, parts: _Parts, resource: Attributes, scope: Scope) -> SpanRecord:
    """One span's record from its parts (positional: the constructor runs once per span)."""
    context, start, end, attributes, events, links, dropped, dropped_events, dropped_links = parts
    parent = span.parent
    status = span.status
    return SpanRecord(
        context.trace_id,
        context.span_id,
        parent.span_id if parent is not None else None,
        span.name,
        _KINDS[id(span.kind)],
        start,
        end,
        _STATUS[id(status.status_code)],
        status.description or None,
        # Plain dicts: the SDK's mapping types would push json off its fast path.
        _plain(attributes),
        [EventRecord(e.name, e.timestamp, _plain(e.attributes)) for e in events] if events else [],
        [LinkRecord(k.context.trace_id, k.context.span_id, _plain(k.attributes)) for k in links]
        if links
        else [],
        resource,
        scope,
        _trace_state(context.trace_state) if context.trace_state else None,
        bool(parent is not None and parent.is_remote),
        dropped,
        dropped_events,
        dropped_links,
    )


def _internal_parts(span: ReadableSpan) -> _Parts:
    """The fields of a finished SDK span read directly: no locked copies of events and links.

    A finished span never changes, so reading its attributes and its event and link deques in
    place is safe and saves copies per span on the export path; any other span class takes the
    public API.
    """
    attributes, events, links = span._attributes, span._events, span._links
    return (
        span._context,
        span._start_time,
        span._end_time,
        attributes,
        events._dq if isinstance(events, BoundedList) else events,  # type: ignore[attr-defined]
        links._dq if isinstance(links, BoundedList) else links,  # type: ignore[attr-defined]
        attributes.dropped if isinstance(attributes, BoundedAttributes) else 0,
        events.dropped if isinstance(events, BoundedList) else 0,
        links.dropped if isinstance(links, BoundedList) else 0,
    )


def _public_parts(span: ReadableSpan) -> _Parts:
    """The same fields through the public properties."""
    return (
        span.context,
        span.start_time,
        span.end_time,
        span.attributes,
        span.events,
        span.links,
        span.dropped_attributes,
        span.dropped_events,
        span.dropped_links,
    )


def _plain(attributes: Attributes | None) -> Attributes:
    """Attributes as a plain dict, without copying the SDK's own dict when it can be reached.

    Finished spans never change, so sharing the SDK's dict is safe; reaching it avoids a
    per-attribute walk through ``BoundedAttributes`` for every span and event.
    """
    if type(attributes) is dict:
        return attributes or EMPTY
    inner = getattr(attributes, "_dict", None)
    if type(inner) is dict:
        return inner or EMPTY
    return dict(attributes) if attributes else EMPTY


def _scope(span: ReadableSpan) -> Scope:
    """The span's instrumentation scope with absent parts as empty strings."""
    scope = span.instrumentation_scope
    if scope is None:
        return _NO_SCOPE
    return Scope(scope.name or "", scope.version or "", scope.schema_url or "")


def _trace_state(trace_state: Mapping[str, str] | None) -> str | None:
    """W3C tracestate header form, or None when empty."""
    if not trace_state:
        return None
    return ",".join(f"{key}={value}" for key, value in trace_state.items())
