"""Wire spans: one span record (or part of one) as the ingest contract's span object."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from functools import lru_cache
from typing import Any, Literal

from agentsight_otel._ids import hex_span_id, hex_trace_id
from agentsight_otel._mapping.records import Attributes, EventRecord, SpanRecord
from agentsight_otel._mapping.timefmt import duration_ms, iso_utc

WireSpan = dict[str, Any]
WireEvent = dict[str, Any]
OtelCache = dict[tuple[Any, ...], dict[str, Any]]


class _Parent(Enum):
    """``wire_span``'s default parent: the record's own."""

    OWN = "own"


@lru_cache(maxsize=1024)
def trace_hex(trace_id: int) -> str:
    """A trace id's hex form; a conversation's spans all share one."""
    return hex_trace_id(trace_id)


def start_order(record: SpanRecord) -> tuple[int, int]:
    """Sort key: start time, then span id for a stable order."""
    return record.start_ns, record.span_id


def wire_order(span: WireSpan) -> tuple[str, str]:
    """Sort key of wire spans: start time (ISO sorts as time), then id."""
    return span["started_at"], span["span_id"]


def wire_span(
    record: SpanRecord,
    kind: str,
    name: str,
    attributes: Attributes,
    events: Sequence[EventRecord],
    otel: dict[str, Any],
    parent_hex: str | Literal[_Parent.OWN] | None = _Parent.OWN,
) -> WireSpan:
    """A wire span for a real span (``parent_hex`` overrides the record's own parent)."""
    if parent_hex is _Parent.OWN:
        parent = record.parent_span_id
        parent_hex = hex_span_id(parent) if parent is not None else None
    # A span ending before it started (a sender's clock or bug) would make the backend refuse
    # its whole conversation: it ends when it started instead.
    end_ns = record.end_ns if record.end_ns >= record.start_ns else record.start_ns
    return {
        "span_id": hex_span_id(record.span_id),
        "trace_id": trace_hex(record.trace_id),
        "parent_span_id": parent_hex,
        "kind": kind,
        "name": name,
        "started_at": iso_utc(record.start_ns),
        "ended_at": iso_utc(end_ns),
        "duration_ms": duration_ms(record.start_ns, end_ns),
        "status": record.status,
        "attributes": attributes,
        "events": [
            {"name": e.name, "timestamp": iso_utc(e.timestamp_ns), "attributes": e.attributes}
            for e in events
        ]
        if events
        else [],
        "otel": otel,
    }


def point_span(
    record: SpanRecord,
    span_id: int,
    kind: str,
    name: str,
    attributes: Attributes,
    timestamp_ns: int,
    parent_hex: str,
    otel: dict[str, Any],
) -> WireSpan:
    """A zero-length wire span derived from a record (a button, an attachment, a usage)."""
    stamp = iso_utc(timestamp_ns)
    return {
        "span_id": hex_span_id(span_id),
        "trace_id": trace_hex(record.trace_id),
        "parent_span_id": parent_hex,
        "kind": kind,
        "name": name,
        "started_at": stamp,
        "ended_at": stamp,
        "duration_ms": 0.0,
        "status": "unset",
        "attributes": attributes,
        "events": [],
        "otel": otel if not otel["links"] and not otel["dropped"]["events"] else no_extras(otel),
    }


def no_extras(otel: dict[str, Any]) -> dict[str, Any]:
    """The parent's ``otel`` part without its links and drop counts."""
    return {**otel, "links": [], "dropped": {"attributes": 0, "events": 0, "links": 0}}


def otel_part(record: SpanRecord, cache: OtelCache) -> dict[str, Any]:
    """The span's ``otel`` part; the common shapes are built once per build and shared."""
    if record.links or record.dropped_attributes or record.dropped_events or record.dropped_links:
        return _otel_uncached(record)
    key = (
        record.span_kind,
        record.trace_state,
        record.parent_is_remote,
        record.status_description,
        id(record.resource),
        id(record.scope),
    )
    otel = cache.get(key)
    if otel is None:
        otel = cache[key] = _otel_uncached(record)
    return otel


def _otel_uncached(record: SpanRecord) -> dict[str, Any]:
    """Build the ``otel`` part of one span."""
    return {
        "span_kind": record.span_kind,
        "trace_flags": 1,
        "trace_state": record.trace_state,
        "is_remote": record.parent_is_remote,
        "status_description": record.status_description,
        "links": [
            {
                "trace_id": hex_trace_id(link.trace_id),
                "span_id": hex_span_id(link.span_id),
                "attributes": link.attributes,
            }
            for link in record.links
        ],
        "resource": record.resource,
        "dropped": {
            "attributes": record.dropped_attributes,
            "events": record.dropped_events,
            "links": record.dropped_links,
        },
        "scope": {
            "name": record.scope.name,
            "version": record.scope.version,
            "schema_url": record.scope.schema_url,
        },
    }
