"""Span records of conversation traces → AgentSight ingest blocks (INGEST.md)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from agentsight_otel import _semconv as sc
from agentsight_otel._fields import ATTRIBUTES as FIELD_ATTRIBUTES
from agentsight_otel._fields import FIELDS, Kind
from agentsight_otel._ids import derived_span_id, hex_span_id
from agentsight_otel._mapping.genai import ForeignMapping
from agentsight_otel._mapping.identity import customer_of
from agentsight_otel._mapping.records import Attributes, EventRecord, SpanRecord
from agentsight_otel._mapping.redacted import redact_record
from agentsight_otel._mapping.segments import MAX_NEW_USER_MESSAGES
from agentsight_otel._mapping.usage import (
    drop_repeated_usage,
    usage_attributes,
    usage_from_attributes,
)
from agentsight_otel._mapping.wire import (
    OtelCache,
    WireSpan,
    otel_part,
    point_span,
    start_order,
    wire_order,
    wire_span,
)
from agentsight_otel._redaction import Redactor
from agentsight_otel._sanitize import jsonable, loads_json

DEFAULT_ENVIRONMENTS = frozenset({"production", "development"})
REPEATED_USAGE = (
    "track_token_usage reported a model call an instrumentation also recorded (same turn, model "
    "and counts): it is counted once; call track_token_usage only for calls nothing instruments"
)
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

    def __init__(
        self,
        environments: Collection[str] = DEFAULT_ENVIRONMENTS,
        redactor: Redactor | None = None,
    ) -> None:
        self.environments = frozenset(environments)
        self.redactor = redactor
        # (rate-limit key, text): logged at WARNING by the delivery thread.
        self.warnings: list[tuple[str, str]] = []
        # INFO-level advice (message capture is off in an instrumentation), once per text.
        self.notices: list[str] = []
        # Earliest new end-user messages of GenAI turns left out past the per-turn bound.
        self.cut_messages = 0
        # Every interaction of a conversation repeats its metadata: parse each document once.
        self._parsed: dict[str, dict[str, Any] | None] = {}

    def build(self, groups: Iterable[TraceGroup]) -> list[Block]:
        """One block per conversation, spans sorted by start time."""
        merged: dict[str, list[SpanRecord]] = {}
        redactor = self.redactor
        for group in groups:
            records = group.records
            if redactor is not None:
                # Whoever wrote the spans (a tracker without redaction, over OTLP, or any code
                # on the provider), the free-text fields are redacted before anything is built.
                records = [redact_record(record, redactor) for record in records]
            merged.setdefault(group.conversation_id, []).extend(records)
        otel_cache: OtelCache = {}
        blocks = [self._block(cid, records, otel_cache) for cid, records in merged.items()]
        # Spans that only carry a conversation's id (an application's own HTTP span started
        # inside one, say) map to nothing: no empty block is sent for them.
        return [block for block in blocks if block.spans]

    def _block(
        self, conversation_id: str, records: list[SpanRecord], otel_cache: OtelCache
    ) -> Block:
        """Map one conversation's records."""
        wire: list[WireSpan] = []
        block = Block(conversation_id, {"conversation_id": conversation_id}, wire)
        roots: list[SpanRecord] = []
        foreign: list[SpanRecord] = []
        turns: set[int] | None = None
        for record in records:
            kind = record.attributes.get(sc.SPAN_KIND)
            if kind in sc.ROOT_KINDS:
                roots.append(record)
            if isinstance(kind, str):
                if turns is None:  # the tracker's turns, read only when its spans are here
                    turns = {
                        r.span_id for r in records if r.attributes.get(sc.SPAN_KIND) == sc.KIND_TURN
                    }
                otel = otel_part(record, otel_cache)
                _own_spans(record, kind, conversation_id, otel, wire, turns)
            else:
                foreign.append(record)
        if foreign:
            by_id = {r.span_id: r for r in records}
            mapping = ForeignMapping(conversation_id, by_id, otel_cache, self.redactor)
            instrumented: list[WireSpan] = []
            mapping.map(foreign, instrumented)
            if drop_repeated_usage(wire, instrumented) and REPEATED_USAGE not in self.notices:
                self.notices.append(REPEATED_USAGE)
            wire.extend(instrumented)
            roots.extend(mapping.turn_roots)
            self.notices.extend(n for n in mapping.notices if n not in self.notices)
            if mapping.cut_messages:
                self.cut_messages += mapping.cut_messages
                self.warnings.append(("cut-messages", _cut_warning(mapping.cut_messages)))
        wire.sort(key=wire_order)
        for root in sorted(roots, key=start_order):
            block.root_span_ids.append(root.span_id)
            self._collect_fields(root.attributes, block.fields)
        return block

    def _collect_fields(self, attributes: Attributes, fields: dict[str, Any]) -> None:
        """Conversation fields from a root span; later roots win."""
        if not FIELD_ATTRIBUTES.isdisjoint(attributes):  # GenAI roots rarely carry any
            self._stamped_fields(attributes, fields)
        if "customer_id" not in fields and (customer := customer_of(attributes)):
            fields["customer_id"] = customer  # the AI SDK's `userId` metadata

    def _stamped_fields(self, attributes: Attributes, fields: dict[str, Any]) -> None:
        """The fields ``conversation(...)`` or the tracker stamped on a root span."""
        for entry in FIELDS:
            value = attributes.get(entry.attribute)
            if entry.kind is Kind.JSON:
                document = self._document(value)
                if document:
                    fields[entry.name] = document
            elif isinstance(value, str) and value:
                fields[entry.name] = value
        environment = fields.get("environment")
        if environment is not None and environment not in self.environments:
            del fields["environment"]
            self.warnings.append(
                (
                    "environment",
                    f"environment {environment!r} is not one the backend accepts "
                    f"({', '.join(sorted(self.environments))}); sent without it",
                )
            )

    def _document(self, raw: object) -> dict[str, Any] | None:
        """The JSON object a field's text holds (parsed once per text), or None."""
        if not isinstance(raw, str):
            return None
        document = self._parsed.get(raw)
        if document is None:
            document = self._parsed[raw] = _parse_object(raw)
        return document


def _cut_warning(cut: int) -> str:
    """What the log says when GenAI turns had more new end-user messages than a turn keeps."""
    return (
        f"a GenAI turn had more than {MAX_NEW_USER_MESSAGES:,} new end-user messages: the "
        f"oldest {cut:,} were not sent (counted in stats.cut_messages)"
    )


def _parse_object(raw: str) -> dict[str, Any] | None:
    """A JSON object from its text, or None when it is not one."""
    try:
        document = loads_json(raw)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _own_spans(
    record: SpanRecord,
    kind: str,
    conversation_id: str,
    otel: dict[str, Any],
    wire: list[WireSpan],
    turns: Collection[int] = (),
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
    elif sc.TURN_ID not in attributes and record.parent_span_id in turns:
        # An action span written without a turn id (by hand, or by another SDK) whose parent
        # is the turn belongs to that turn.
        attributes = {**attributes, sc.TURN_ID: hex_span_id(record.parent_span_id or 0)}
    if attributes.get(sc.CONVERSATION_ID) != conversation_id:
        # A span claiming another conversation than its trace's: the block's id decides, as
        # the backend rejects a block whose spans disagree with it.
        attributes = {**attributes, sc.CONVERSATION_ID: conversation_id}
    wire.append(wire_span(record, kind, record.name, attributes, events, otel))


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
    return point_span(record, span_id, kind, name, attributes, event.timestamp_ns, turn_hex, otel)


def _derived_name(kind: str, attributes: Attributes) -> str:
    """The vendor's names: the button label, or ``N attachment(s)``."""
    if kind == sc.KIND_BUTTON:
        label = attributes.get(sc.BUTTON_LABEL)
        return label if isinstance(label, str) and label else "button"
    return f"{attributes.get(sc.ATTACHMENT_COUNT, 0)} attachment(s)"
