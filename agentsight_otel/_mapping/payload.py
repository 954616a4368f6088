"""Span records of conversation traces → AgentSight ingest blocks (INGEST.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from agentsight_otel import _semconv as sc
from agentsight_otel._ids import derived_span_id, hex_span_id, hex_trace_id
from agentsight_otel._mapping.records import Attributes, EventRecord, SpanRecord
from agentsight_otel._mapping.timefmt import duration_ms, iso_utc
from agentsight_otel._mapping.usage import usage_attributes, usage_from_attributes
from agentsight_otel._sanitize import jsonable

DEFAULT_ENVIRONMENTS = frozenset({"production", "development"})
_DERIVED_EVENTS = {
    sc.BUTTON_EVENT: sc.KIND_BUTTON,
    sc.ATTACHMENT_EVENT: sc.KIND_ATTACHMENT,
    sc.USAGE_EVENT: sc.KIND_LLM,
}
WireSpan = dict[str, Any]
_SPAN_HEX = re.compile(r"[0-9a-fA-F]{16}")


@dataclass(frozen=True, slots=True)
class TraceGroup:
    """Finished records of one conversation trace, ready to map."""

    conversation_id: str
    records: Sequence[SpanRecord]


@dataclass(slots=True)
class Block:
    """One conversation block: its fields, its wire spans and the interaction roots it carries."""

    conversation_id: str
    fields: dict[str, Any]
    spans: list[WireSpan]
    root_span_ids: list[int] = field(default_factory=list)

    def as_wire(self, spans: list[WireSpan] | None = None) -> dict[str, Any]:
        """The block as the contract's JSON object, with all (or the given) spans."""
        return {**self.fields, "spans": self.spans if spans is None else spans}


def dumps(value: object) -> bytes:
    """Compact strict JSON as UTF-8; values JSON cannot hold (NaN, surrogates) are converted."""
    try:
        return orjson.dumps(value)
    except TypeError:
        text = json.dumps(jsonable(value), separators=(",", ":"), ensure_ascii=False)
        # A lone surrogate has no UTF-8 form (a backend's decoder fails on its escape too):
        # it becomes U+FFFD, as any decoder shows undecodable input.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


class PayloadBuilder:
    """Maps trace groups to blocks; collects warnings instead of logging them."""

    def __init__(self, environments: Collection[str] = DEFAULT_ENVIRONMENTS) -> None:
        self.environments = frozenset(environments)
        self.warnings: list[str] = []
        # Every interaction of a conversation repeats its metadata: parse each document once.
        self._parsed: dict[str, dict[str, Any] | None] = {}

    def build(self, groups: Iterable[TraceGroup]) -> list[Block]:
        """One block per conversation, spans sorted by start time."""
        merged: dict[str, list[SpanRecord]] = {}
        for group in groups:
            merged.setdefault(group.conversation_id, []).extend(group.records)
        otel_cache: dict[tuple[Any, ...], dict[str, Any]] = {}
        return [self._block(cid, records, otel_cache) for cid, records in merged.items()]

    def _block(
        self,
        conversation_id: str,
        records: list[SpanRecord],
        otel_cache: dict[tuple[Any, ...], dict[str, Any]],
    ) -> Block:
        """Map one conversation's records."""
        wire: list[WireSpan] = []
        by_id = {r.span_id: r for r in records}
        shadowed = _usage_ancestors(records, by_id)
        block = Block(conversation_id, {"conversation_id": conversation_id}, wire)
        roots: list[SpanRecord] = []
        for record in records:
            kind = record.attributes.get(sc.SPAN_KIND)
            if kind in sc.ROOT_KINDS:
                roots.append(record)
            otel = _otel(record, otel_cache)
            if isinstance(kind, str):
                _own_spans(record, kind, conversation_id, otel, wire)
            elif record.span_id not in shadowed:
                _foreign_usage(record, conversation_id, by_id, otel, wire)
        wire.sort(key=_wire_order)
        for root in sorted(roots, key=_start_order):
            block.root_span_ids.append(root.span_id)
            self._collect_fields(root.attributes, block.fields)
        return block

    def _collect_fields(self, attributes: Attributes, fields: dict[str, Any]) -> None:
        """Conversation fields from a root span; later roots win."""
        for key, attribute in sc.CONVERSATION_FIELDS.items():
            value = attributes.get(attribute)
            if isinstance(value, str) and value:
                fields[key] = value
        environment = fields.get("environment")
        if environment is not None and environment not in self.environments:
            del fields["environment"]
            self.warnings.append(
                f"environment {environment!r} is not one the backend accepts "
                f"({', '.join(sorted(self.environments))}); sent without it"
            )
        raw = attributes.get(sc.CONVERSATION_METADATA)
        if isinstance(raw, str):
            document = self._parsed.get(raw)
            if document is None:
                document = self._parsed[raw] = _parse_object(raw)
            if document:
                fields["metadata"] = document


@lru_cache(maxsize=1024)
def _trace_hex(trace_id: int) -> str:
    """A trace id's hex form; a conversation's spans all share one."""
    return hex_trace_id(trace_id)


def _parse_object(raw: str) -> dict[str, Any] | None:
    """A JSON object from its text, or None when it is not one."""
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _start_order(record: SpanRecord) -> tuple[int, int]:
    """Sort key: start time, then span id for a stable order."""
    return record.start_ns, record.span_id


def _wire_order(span: WireSpan) -> tuple[str, str]:
    """Sort key of wire spans: start time (ISO sorts as time), then id."""
    return span["started_at"], span["span_id"]


def _own_spans(
    record: SpanRecord, kind: str, conversation_id: str, otel: dict[str, Any], wire: list[WireSpan]
) -> None:
    """The span itself plus one record per derived event (button, attachment, usage)."""
    attributes = record.attributes
    events: list[EventRecord] = []
    turn_hex = hex_span_id(record.span_id)
    for index, event in enumerate(record.events):
        derived_kind = _DERIVED_EVENTS.get(event.name)
        if derived_kind is None:
            events.append(event)
            continue
        span_id = derived_span_id(record.trace_id, record.span_id, index)
        derived = _derived(record, event, derived_kind, span_id, conversation_id, turn_hex, otel)
        if derived is not None:
            wire.append(derived)
    if kind == sc.KIND_TURN and sc.TURN_ID not in attributes:
        attributes = {**attributes, sc.TURN_ID: turn_hex}
    if attributes.get(sc.CONVERSATION_ID) != conversation_id:
        # A span claiming another conversation than its trace's: the block's id decides, as
        # the backend rejects a block whose spans disagree with it.
        attributes = {**attributes, sc.CONVERSATION_ID: conversation_id}
    wire.append(_wire(record, kind, record.name, attributes, events, otel))


def _wire(
    record: SpanRecord,
    kind: str,
    name: str,
    attributes: Attributes,
    events: Sequence[EventRecord],
    otel: dict[str, Any],
) -> WireSpan:
    """A wire span for a real span."""
    parent = record.parent_span_id
    # A span ending before it started (a sender's clock or bug) would make the backend refuse
    # its whole conversation: it ends when it started instead.
    end_ns = record.end_ns if record.end_ns >= record.start_ns else record.start_ns
    return {
        "span_id": hex_span_id(record.span_id),
        "trace_id": _trace_hex(record.trace_id),
        "parent_span_id": hex_span_id(parent) if parent is not None else None,
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
        ],
        "otel": otel,
    }


def _derived(
    record: SpanRecord,
    event: EventRecord,
    kind: str,
    span_id: int,
    conversation_id: str,
    turn_hex: str,
    otel: dict[str, Any],
) -> WireSpan | None:
    """A point-in-time wire span for a button, attachment or usage event."""
    attributes: dict[str, Any] = {
        sc.CONVERSATION_ID: conversation_id,
        sc.SPAN_KIND: kind,
        sc.ENTITY_NAME: "",
    }
    if kind == sc.KIND_LLM:
        usage = usage_from_attributes(event.attributes, own=True)
        if usage is None:
            return None
        attributes.update(usage_attributes(usage))
        name = usage.model or "llm"
    else:
        attributes.update(event.attributes)
        name = _derived_name(kind, event.attributes)
    attributes[sc.ENTITY_NAME] = name
    attributes[sc.TURN_ID] = turn_hex
    stamp = iso_utc(event.timestamp_ns)
    return {
        "span_id": hex_span_id(span_id),
        "trace_id": _trace_hex(record.trace_id),
        "parent_span_id": turn_hex,
        "kind": kind,
        "name": name,
        "started_at": stamp,
        "ended_at": stamp,
        "duration_ms": 0.0,
        "status": "unset",
        "attributes": attributes,
        "events": [],
        "otel": otel if not otel["links"] and not otel["dropped"]["events"] else _no_extras(otel),
    }


def _no_extras(otel: dict[str, Any]) -> dict[str, Any]:
    """The parent's ``otel`` part without its links and drop counts."""
    return {**otel, "links": [], "dropped": {"attributes": 0, "events": 0, "links": 0}}


def _derived_name(kind: str, attributes: Attributes) -> str:
    """The vendor's names: the button label, or ``N attachment(s)``."""
    if kind == sc.KIND_BUTTON:
        label = attributes.get(sc.BUTTON_LABEL)
        return label if isinstance(label, str) and label else "button"
    return f"{attributes.get(sc.ATTACHMENT_COUNT, 0)} attachment(s)"


def _foreign_usage(
    record: SpanRecord,
    conversation_id: str,
    by_id: dict[int, SpanRecord],
    otel: dict[str, Any],
    wire: list[WireSpan],
) -> None:
    """An instrumentation span that recorded a model call's usage, as an ``llm`` record."""
    usage = usage_from_attributes(record.attributes)
    if usage is None:
        return
    attributes: dict[str, Any] = {
        sc.CONVERSATION_ID: conversation_id,
        sc.SPAN_KIND: sc.KIND_LLM,
        sc.ENTITY_NAME: usage.model or record.name,
        **usage_attributes(usage),
    }
    turn = _enclosing_root(record, by_id)
    if turn is not None:
        attributes[sc.TURN_ID] = hex_span_id(turn)
    wire.append(_wire(record, sc.KIND_LLM, usage.model or record.name, attributes, (), otel))


def _usage_ancestors(records: Sequence[SpanRecord], by_id: dict[int, SpanRecord]) -> set[int]:
    """Spans with a usage-carrying descendant: only the innermost span of a call counts."""
    shadowed: set[int] = set()
    for record in records:
        if sc.SPAN_KIND in record.attributes or usage_from_attributes(record.attributes) is None:
            continue
        parent = by_id.get(record.parent_span_id or 0)
        while parent is not None and parent.span_id not in shadowed:
            shadowed.add(parent.span_id)
            parent = by_id.get(parent.parent_span_id or 0)
    return shadowed


def _enclosing_root(record: SpanRecord, by_id: dict[int, SpanRecord]) -> int | None:
    """The span id of the interaction a record sits in, when it is in the group."""
    parent = by_id.get(record.parent_span_id or 0)
    for _ in range(64):
        if parent is None:
            return None
        if parent.attributes.get(sc.SPAN_KIND) in sc.ROOT_KINDS:
            return parent.span_id
        turn = parent.attributes.get(sc.TURN_ID)
        # Any sender can set this attribute: only a real span id is read, so a malformed one
        # cannot fail the mapping of everything delivered with it.
        if isinstance(turn, str) and _SPAN_HEX.fullmatch(turn):
            return int(turn, 16)
        parent = by_id.get(parent.parent_span_id or 0)
    return None


def _otel(record: SpanRecord, cache: dict[tuple[Any, ...], dict[str, Any]]) -> dict[str, Any]:
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
