"""Span records: the one shape finished spans take, whether from the SDK or from OTLP."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


_STATUS = {StatusCode.UNSET: "unset", StatusCode.OK: "ok", StatusCode.ERROR: "error"}
_KINDS = {kind: kind.name for kind in SpanKind}
_NO_SCOPE = Scope("", "", "")


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
        context, start, end, events, links, dropped_events, dropped_links = parts
        if context is None or start is None or end is None:
            continue
        resource = resources.get(id(span.resource))
        if resource is None:
            resource = resources[id(span.resource)] = dict(span.resource.attributes)
        scope = scopes.get(id(span.instrumentation_scope))
        if scope is None:
            scope = scopes[id(span.instrumentation_scope)] = _scope(span)
        parent = span.parent
        status = span.status
        records.append(
            SpanRecord(
                trace_id=context.trace_id,
                span_id=context.span_id,
                parent_span_id=parent.span_id if parent is not None else None,
                name=span.name,
                span_kind=_KINDS[span.kind],
                start_ns=start,
                end_ns=end,
                status=_STATUS[status.status_code],
                status_description=status.description or None,
                # Plain dicts: the SDK's mapping types would push json off its fast path.
                attributes=_plain(getattr(span, "_attributes", None) or span.attributes),
                events=[EventRecord(e.name, e.timestamp, _plain(e.attributes)) for e in events]
                if events
                else [],
                links=[
                    LinkRecord(link.context.trace_id, link.context.span_id, _plain(link.attributes))
                    for link in links
                ]
                if links
                else [],
                resource=resource,
                scope=scope,
                trace_state=_trace_state(context.trace_state) if context.trace_state else None,
                parent_is_remote=bool(parent is not None and parent.is_remote),
                dropped_attributes=span.dropped_attributes,
                dropped_events=dropped_events,
                dropped_links=dropped_links,
            )
        )
    return records


_Parts = tuple[Any, Any, Any, Sequence[Any], Sequence[Any], int, int]


def _internal_parts(span: ReadableSpan) -> _Parts:
    """The fields of a finished SDK span read directly: no locked copies of events and links.

    A finished span never changes, so reading its event and link deques in place is safe and
    saves two copies per span on the export path; any other span class takes the public API.
    """
    events, links = span._events, span._links
    return (
        span._context,
        span._start_time,
        span._end_time,
        events._dq if isinstance(events, BoundedList) else events,  # type: ignore[attr-defined]
        links._dq if isinstance(links, BoundedList) else links,  # type: ignore[attr-defined]
        events.dropped if isinstance(events, BoundedList) else 0,
        links.dropped if isinstance(links, BoundedList) else 0,
    )


def _public_parts(span: ReadableSpan) -> _Parts:
    """The same fields through the public properties."""
    return (
        span.context,
        span.start_time,
        span.end_time,
        span.events,
        span.links,
        span.dropped_events,
        span.dropped_links,
    )


def _plain(attributes: Attributes | None) -> Attributes:
    """Attributes as a plain dict, without copying the SDK's own dict when it can be reached.

    Finished spans never change, so sharing the SDK's dict is safe; reaching it avoids a
    per-attribute walk through ``BoundedAttributes`` for every span and event.
    """
    if not attributes:
        return EMPTY
    if type(attributes) is dict:
        return attributes
    inner = getattr(attributes, "_dict", None)
    return inner if type(inner) is dict else dict(attributes)


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
