"""Span records of conversation traces → encoded AgentSight ingest blocks (INGEST.md)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentsight_otel import semconv as sc
from agentsight_otel.ids import derived_span_id, hex_span_id, hex_trace_id
from agentsight_otel.mapping.records import EMPTY, Attributes, EventRecord, SpanRecord
from agentsight_otel.mapping.timefmt import duration_ms, iso_utc
from agentsight_otel.mapping.usage import usage_attributes, usage_from_attributes
from agentsight_otel.sanitize import jsonable

DEFAULT_ENVIRONMENTS = frozenset({"production", "development"})
_DERIVED_EVENTS = {
    sc.BUTTON_EVENT: sc.KIND_BUTTON,
    sc.ATTACHMENT_EVENT: sc.KIND_ATTACHMENT,
    sc.USAGE_EVENT: sc.KIND_LLM,
}


@dataclass(frozen=True, slots=True)
class TraceGroup:
    """Finished records of one conversation trace, ready to map."""

    conversation_id: str
    records: Sequence[SpanRecord]


@dataclass(slots=True)
class EncodedBlock:
    """One conversation block: its JSON head, its encoded spans and the roots it carries."""

    conversation_id: str
    head: str
    spans: list[str]
    root_span_ids: list[int] = field(default_factory=list)

    def encode(self, spans: Sequence[str] | None = None) -> str:
        """The block's JSON with all (or the given) spans."""
        return self.head + ",".join(self.spans if spans is None else spans) + "]}"


def dumps(value: object) -> str:
    """Compact strict JSON; values JSON cannot hold (NaN, odd types) are converted."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError):
        return json.dumps(jsonable(value), separators=(",", ":"))


class PayloadBuilder:
    """Maps trace groups to encoded blocks; collects warnings instead of logging them."""

    def __init__(self, environments: Collection[str] = DEFAULT_ENVIRONMENTS) -> None:
        self.environments = frozenset(environments)
        self.warnings: list[str] = []

    def build(self, groups: Iterable[TraceGroup]) -> list[EncodedBlock]:
        """One block per conversation, spans sorted by start time."""
        merged: dict[str, list[SpanRecord]] = {}
        for group in groups:
            merged.setdefault(group.conversation_id, []).extend(group.records)
        otel_cache: dict[tuple[Any, ...], str] = {}
        return [self._block(cid, records, otel_cache) for cid, records in merged.items()]

    def _block(
        self,
        conversation_id: str,
        records: list[SpanRecord],
        otel_cache: dict[tuple[Any, ...], str],
    ) -> EncodedBlock:
        """Encode one conversation's records."""
        wire: list[tuple[int, int, str]] = []
        by_id = {r.span_id: r for r in records}
        shadowed = _usage_ancestors(records, by_id)
        roots: list[int] = []
        fields: dict[str, Any] = {"conversation_id": conversation_id}
        for record in sorted(records, key=_start_order):
            kind = record.attributes.get(sc.SPAN_KIND)
            if kind in sc.ROOT_KINDS:
                roots.append(record.span_id)
                self._collect_fields(record.attributes, fields)
            otel = _otel_json(record, otel_cache)
            if isinstance(kind, str):
                wire.extend(self._own_spans(record, kind, conversation_id, otel))
            elif record.span_id not in shadowed:
                wire.extend(_foreign_usage(record, conversation_id, by_id, otel))
        wire.sort(key=lambda item: (item[0], item[1]))
        head = dumps(fields)[:-1] + ',"spans":['
        return EncodedBlock(conversation_id, head, [text for _, _, text in wire], roots)

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
            try:
                document = json.loads(raw)
            except ValueError:
                document = None
            if isinstance(document, dict):
                fields["metadata"] = document

    def _own_spans(
        self, record: SpanRecord, kind: str, conversation_id: str, otel: str
    ) -> list[tuple[int, int, str]]:
        """The span itself plus one record per derived event (button, attachment, usage)."""
        attributes = record.attributes
        events: list[EventRecord] = []
        derived: list[tuple[int, int, str]] = []
        turn_hex = hex_span_id(record.span_id)
        for index, event in enumerate(record.events):
            derived_kind = _DERIVED_EVENTS.get(event.name)
            if derived_kind is None:
                events.append(event)
                continue
            span_id = derived_span_id(record.trace_id, record.span_id, index)
            core = _derived_core(record, event, derived_kind, span_id, conversation_id, turn_hex)
            if core is not None:
                derived.append((event.timestamp_ns, span_id, _encode(core, otel)))
        if kind == sc.KIND_TURN and sc.TURN_ID not in attributes:
            attributes = {**attributes, sc.TURN_ID: turn_hex}
        core = _core(record, kind, record.name, attributes, events)
        return [(record.start_ns, record.span_id, _encode(core, otel)), *derived]


def _start_order(record: SpanRecord) -> tuple[int, int]:
    """Sort key: start time, then span id for a stable order."""
    return record.start_ns, record.span_id


def _core(
    record: SpanRecord, kind: str, name: str, attributes: Attributes, events: Sequence[EventRecord]
) -> dict[str, Any]:
    """The wire span without its ``otel`` part."""
    return {
        "span_id": hex_span_id(record.span_id),
        "trace_id": hex_trace_id(record.trace_id),
        "parent_span_id": (
            hex_span_id(record.parent_span_id) if record.parent_span_id is not None else None
        ),
        "kind": kind,
        "name": name,
        "started_at": iso_utc(record.start_ns),
        "ended_at": iso_utc(record.end_ns),
        "duration_ms": duration_ms(record.start_ns, record.end_ns),
        "status": record.status,
        "attributes": attributes,
        "events": [
            {"name": e.name, "timestamp": iso_utc(e.timestamp_ns), "attributes": e.attributes}
            for e in events
        ],
    }


def _derived_core(
    record: SpanRecord,
    event: EventRecord,
    kind: str,
    span_id: int,
    conversation_id: str,
    turn_hex: str,
) -> dict[str, Any] | None:
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
        "trace_id": hex_trace_id(record.trace_id),
        "parent_span_id": hex_span_id(record.span_id),
        "kind": kind,
        "name": name,
        "started_at": stamp,
        "ended_at": stamp,
        "duration_ms": 0.0,
        "status": "unset",
        "attributes": attributes,
        "events": [],
    }


def _derived_name(kind: str, attributes: Attributes) -> str:
    """The vendor's names: the button label, or ``N attachment(s)``."""
    if kind == sc.KIND_BUTTON:
        label = attributes.get(sc.BUTTON_LABEL)
        return label if isinstance(label, str) and label else "button"
    return f"{attributes.get(sc.ATTACHMENT_COUNT, 0)} attachment(s)"


def _foreign_usage(
    record: SpanRecord, conversation_id: str, by_id: dict[int, SpanRecord], otel: str
) -> list[tuple[int, int, str]]:
    """An instrumentation span that recorded a model call's usage, as an ``llm`` record."""
    usage = usage_from_attributes(record.attributes)
    if usage is None:
        return []
    attributes: dict[str, Any] = {
        sc.CONVERSATION_ID: conversation_id,
        sc.SPAN_KIND: sc.KIND_LLM,
        sc.ENTITY_NAME: usage.model or record.name,
        **usage_attributes(usage),
    }
    turn = _enclosing_root(record, by_id)
    if turn is not None:
        attributes[sc.TURN_ID] = hex_span_id(turn)
    core = _core(record, sc.KIND_LLM, usage.model or record.name, attributes, ())
    return [(record.start_ns, record.span_id, _encode(core, otel))]


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
    turn = record.attributes.get(sc.TURN_ID)
    if isinstance(turn, str):
        return int(turn, 16) if len(turn) == 16 else None
    parent = by_id.get(record.parent_span_id or 0)
    for _ in range(64):
        if parent is None:
            return None
        if parent.attributes.get(sc.SPAN_KIND) in sc.ROOT_KINDS:
            return parent.span_id
        parent = by_id.get(parent.parent_span_id or 0)
    return None


def _otel_json(record: SpanRecord, cache: dict[tuple[Any, ...], str]) -> str:
    """The span's ``otel`` part; the common shapes are encoded once per build."""
    if record.links or record.dropped_attributes or record.dropped_events or record.dropped_links:
        return _otel_uncached(record)
    key = (
        record.span_kind,
        record.trace_state,
        record.parent_is_remote,
        record.status_description,
        id(record.resource),
        record.scope,
    )
    text = cache.get(key)
    if text is None:
        text = cache[key] = _otel_uncached(record)
    return text


def _otel_uncached(record: SpanRecord) -> str:
    """Encode the ``otel`` part of one span."""
    links = [
        {
            "trace_id": hex_trace_id(link.trace_id),
            "span_id": hex_span_id(link.span_id),
            "attributes": link.attributes or EMPTY,
        }
        for link in record.links
    ]
    return dumps(
        {
            "span_kind": record.span_kind,
            "trace_flags": 1,
            "trace_state": record.trace_state,
            "is_remote": record.parent_is_remote,
            "status_description": record.status_description,
            "links": links,
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
    )


def _encode(core: dict[str, Any], otel: str) -> str:
    """A wire span's JSON: the core with the pre-encoded ``otel`` part spliced in."""
    return dumps(core)[:-1] + ',"otel":' + otel + "}"


def encode_body(sdk: str, blocks: Sequence[str]) -> bytes:
    """An ingest body from the encoded ``sdk`` object and encoded blocks."""
    return ('{"sdk":' + sdk + ',"conversations":[' + ",".join(blocks) + "]}").encode("ascii")
