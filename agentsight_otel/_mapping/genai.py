"""Spans not written by the tracker: GenAI turns, tool actions and model-call usage.

Each span is placed in a turn: the tracker's interaction it runs inside, or else the outermost
GenAI span above it (an agent invocation, a workflow, a chain, or a lone model call), which
then is a ``turn`` itself. Everything is found from the records at hand: no memory of earlier
turns, so the mapping is the same in any process or bridge.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from agentsight_otel import _semconv as sc
from agentsight_otel._ids import derived_span_id, hex_span_id
from agentsight_otel._mapping import vercel
from agentsight_otel._mapping.capture import capture_notice
from agentsight_otel._mapping.identity import is_genai
from agentsight_otel._mapping.messages import carries_messages
from agentsight_otel._mapping.records import Attributes, SpanRecord
from agentsight_otel._mapping.tools import is_tool, tool_attributes
from agentsight_otel._mapping.transcript import turn_span
from agentsight_otel._mapping.usage import (
    Usage,
    merged_usage,
    usage_attributes,
    usage_from_attributes,
)
from agentsight_otel._mapping.wire import OtelCache, WireSpan, otel_part, wire_span
from agentsight_otel._redaction import Redactor

_SPAN_HEX = re.compile(r"[0-9a-fA-F]{16}")
_NONE: frozenset[int] = frozenset()
# A GenAI operation that is not a tool run, on a span no other convention marks, starts turns.
_NO_OPERATION = (None, "execute_tool")
_OTHERS = frozenset((sc.OPENINFERENCE_KIND, sc.TRACELOOP_KIND, vercel.OPERATION))
_STARTS = (True, False)
_MAX_DEPTH = 64


class Place(NamedTuple):
    """Where a span belongs: the turn's span id (and its hex), whether the tracker made it."""

    turn: int
    tracked: bool
    hex: str  # written on every span of the turn: formatted once per turn, not per span


def _place_at(turn: int, tracked: bool) -> Place:
    """The place of a span in the turn ``turn``."""
    return Place(turn, tracked, hex_span_id(turn))


@dataclass(slots=True)
class TurnParts:
    """A GenAI turn being built: its root, and its spans that carry messages or call models."""

    turn_hex: str
    root: SpanRecord | None = None
    with_messages: list[SpanRecord] = field(default_factory=list)
    silent_scope: str | None = None


@dataclass(slots=True)
class ForeignMapping:
    """Maps one conversation's foreign records; GenAI turn roots and notices are kept."""

    conversation_id: str
    by_id: dict[int, SpanRecord]
    otel_cache: OtelCache
    redactor: Redactor | None = None
    turn_roots: list[SpanRecord] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    cut_messages: int = 0
    _kinds: dict[int, tuple[bool, bool]] = field(default_factory=dict)

    def map(self, foreign: Sequence[SpanRecord], wire: list[WireSpan]) -> None:
        """Append the wire spans of ``foreign``: the records without a tracker kind."""
        usages, memo, nested = self._classify(foreign)
        kinds = self._kinds
        if nested is None:  # not told by the pass: the records' order or ids were unusual
            nested = _nested(usages, self.by_id)
        shadowed = _merge_nested(usages, self.by_id) if nested else _NONE
        turns: dict[int, TurnParts] = {}
        otel_cache = self.otel_cache
        for record in foreign:
            span_id = record.span_id
            place = memo[span_id]
            parts = None
            with_messages = False
            if place is not None and not place.tracked:
                turn = place.turn
                parts = turns.get(turn)
                if parts is None:  # not setdefault: it would build a TurnParts per span
                    parts = turns[turn] = TurnParts(place.hex)
                if turn == span_id:
                    parts.root = record
                if carries_messages(record):
                    with_messages = True
                    parts.with_messages.append(record)
            if place is not None and kinds[span_id][1]:
                self._tool(record, place, otel_part(record, otel_cache), wire)
            elif span_id in usages and span_id not in shadowed:
                self._usage(record, usages[span_id], place, otel_part(record, otel_cache), wire)
                if parts is not None and not with_messages:
                    parts.silent_scope = record.scope.name
        for parts in turns.values():
            if parts.root is not None:
                self._turn(parts, wire)

    def _classify(
        self, foreign: Sequence[SpanRecord]
    ) -> tuple[dict[int, Usage], dict[int, Place | None], bool | None]:
        """Every record's usage, kind and place, in one pass.

        Also whether a usage-carrying span has another above it (None: not known from this
        pass, when a span came before its parent or shares its id).
        """
        usages: dict[int, Usage] = {}
        memo: dict[int, Place | None] = {}
        kinds = self._kinds
        under_usage: dict[int, bool] = {}  # whether a usage-carrying span is above a span
        by_id = self.by_id
        nested: bool | None = False
        # Spans end (and arrive) before their parents: placed last first, a parent's answer is
        # there for its children, which then take it instead of walking to the root.
        for record in reversed(foreign):
            span_id = record.span_id
            attributes = record.attributes
            usage = usage_from_attributes(attributes)
            if usage is not None:
                usages[span_id] = usage
            kind = kinds.get(span_id)
            if kind is None:
                kind = kinds[span_id] = _kind_of(attributes)
            parent_id = record.parent_span_id or 0
            if parent_id in memo:
                under = under_usage[parent_id] or parent_id in usages
                if sc.TURN_ID not in attributes:  # _place's usual case
                    place = memo[parent_id]
                    memo[span_id] = (
                        _place_at(span_id, False) if place is None and kind[0] else place
                    )
                else:
                    self._place(record, memo)
            elif parent_id in by_id:  # a parent still to come (or a tracker's span)
                under, nested = False, None
                self._place(record, memo)
            else:  # a local root: the turn when it is a GenAI span (_place's case too)
                under = False
                if sc.TURN_ID in attributes:
                    self._place(record, memo)
                else:
                    memo[span_id] = _place_at(span_id, False) if kind[0] else None
            if span_id in under_usage:
                nested = None
            under_usage[span_id] = under
            if under and usage is not None and nested is not None:
                nested = True
        return usages, memo, nested

    def _turn(self, parts: TurnParts, wire: list[WireSpan]) -> None:
        """The turn span of a GenAI invocation, with its new messages as events."""
        assert parts.root is not None
        self.turn_roots.append(parts.root)
        otel = otel_part(parts.root, self.otel_cache)
        spans, cut = turn_span(
            parts.root,
            parts.turn_hex,
            parts.with_messages,
            self.conversation_id,
            otel,
            self.redactor,
        )
        wire.extend(spans)
        self.cut_messages += cut
        if not parts.with_messages and parts.silent_scope is not None:
            notice = capture_notice(parts.silent_scope)
            if notice not in self.notices:
                self.notices.append(notice)

    def _tool(
        self, record: SpanRecord, place: Place, otel: dict[str, Any], wire: list[WireSpan]
    ) -> None:
        """A tool span as an action of its turn, with its real start and end."""
        attributes = tool_attributes(record, self.conversation_id, place.hex, self.redactor)
        name = attributes[sc.TOOL_NAME]
        # Under its turn, whose hex is formatted once per turn.
        wire.append(wire_span(record, sc.KIND_TOOL, name, attributes, (), otel, place.hex))

    def _usage(
        self,
        record: SpanRecord,
        usage: Usage,
        place: Place | None,
        otel: dict[str, Any],
        wire: list[WireSpan],
    ) -> None:
        """A model call's usage as an ``llm`` record (under its own id unless it is the turn)."""
        name = usage.model or record.name
        base = {
            sc.CONVERSATION_ID: self.conversation_id,
            sc.SPAN_KIND: sc.KIND_LLM,
            sc.ENTITY_NAME: name,
        }
        attributes = usage_attributes(usage, base)
        if place is not None:
            attributes[sc.TURN_ID] = place.hex
        if place is not None and record.parent_span_id == place.turn:
            # The usual model call, under its turn: the turn's hex is formatted once per turn.
            span = wire_span(record, sc.KIND_LLM, name, attributes, (), otel, place.hex)
        else:
            span = wire_span(record, sc.KIND_LLM, name, attributes, (), otel)
        if place is not None and place.turn == record.span_id and not place.tracked:
            # A lone model call is both the turn and its usage: the usage takes a derived id.
            span["span_id"] = hex_span_id(derived_span_id(record.trace_id, record.span_id, 0))
            span["parent_span_id"] = hex_span_id(record.span_id)
        wire.append(span)

    def _kind(self, record: SpanRecord) -> tuple[bool, bool]:
        """``_kind_of`` a span, read once per span."""
        kind = self._kinds.get(record.span_id)
        if kind is None:
            kind = self._kinds[record.span_id] = _kind_of(record.attributes)
        return kind

    def _place(self, record: SpanRecord, memo: dict[int, Place | None]) -> Place | None:
        """The turn a foreign span belongs to, or None (plain application telemetry)."""
        outermost = record.span_id if self._kind(record)[0] else None
        by_id = self.by_id
        parent = by_id.get(record.parent_span_id or 0)
        own_turn = _turn_id(record.attributes) if sc.TURN_ID in record.attributes else None
        place: Place | None = None if own_turn is None else _place_at(own_turn, True)
        if place is not None:  # stamped with the tracker's turn (_current.py): it is in that turn
            parent = None
        for _ in range(_MAX_DEPTH):
            if parent is None:
                break
            if parent.span_id in memo:  # placed already: its answer is ours, if it has one
                place = memo[parent.span_id]
                break
            attributes = parent.attributes
            if attributes.get(sc.SPAN_KIND) in sc.ROOT_KINDS:
                place = _place_at(parent.span_id, True)
                break
            turn = _turn_id(attributes)
            if turn is not None:
                place = _place_at(turn, True)
                break
            if sc.SPAN_KIND not in attributes and self._kind(parent)[0]:
                outermost = parent.span_id
            parent = by_id.get(parent.parent_span_id or 0)
        if place is None and outermost is not None:
            place = _place_at(outermost, False)
        memo[record.span_id] = place
        return place


def _kind_of(attributes: Attributes) -> tuple[bool, bool]:
    """Whether a span can start a turn, and whether it is a tool run.

    GenAI spans start turns, except tool executions (they are actions of one).
    """
    if attributes.get(sc.GEN_AI_OPERATION) not in _NO_OPERATION and _OTHERS.isdisjoint(attributes):
        return _STARTS  # an OTel GenAI operation, and no other convention's kind
    tool = is_tool(attributes)
    return not tool and is_genai(attributes) and vercel.may_start_turn(attributes), tool


def _turn_id(attributes: Attributes) -> int | None:
    """The turn a span names, read only when it is a real span id.

    Any sender can set this attribute: a malformed one cannot fail the mapping of everything
    delivered with it.
    """
    turn = attributes.get(sc.TURN_ID)
    return int(turn, 16) if isinstance(turn, str) and _SPAN_HEX.fullmatch(turn) else None


def _nested(usages: dict[int, Usage], by_id: dict[int, SpanRecord]) -> bool:
    """Whether a usage-carrying span has one above it (itself too, in a cycle of parent ids).

    Most traces have none: the ancestors _merge_nested collects are then never looked up.
    """
    for span_id in usages:
        parent = by_id.get(by_id[span_id].parent_span_id or 0)
        for _ in range(_MAX_DEPTH):
            if parent is None:
                break
            if parent.span_id in usages:
                return True
            parent = by_id.get(parent.parent_span_id or 0)
    return False


def _merge_nested(usages: dict[int, Usage], by_id: dict[int, SpanRecord]) -> set[int]:
    """Spans with a usage-carrying descendant: only the innermost span of a call counts.

    An outer usage over exactly one inner call describes that call: its counts fill the inner's
    gaps (cache, reasoning) instead of being dropped. Over several calls it is a sum: dropped.
    """
    below: dict[int, list[int]] = {}
    for span_id in usages:
        parent = by_id.get(by_id[span_id].parent_span_id or 0)
        for _ in range(_MAX_DEPTH):
            if parent is None:
                break
            below.setdefault(parent.span_id, []).append(span_id)
            parent = by_id.get(parent.parent_span_id or 0)
    innermost = [span_id for span_id in usages if span_id not in below]
    for outer_id in sorted(below.keys() & usages.keys(), key=lambda s: -_depth(s, by_id)):
        calls = [s for s in below[outer_id] if s in innermost]
        if len(calls) == 1:
            usages[calls[0]] = merged_usage(usages[calls[0]], usages[outer_id])
    return set(below)


def _depth(span_id: int, by_id: dict[int, SpanRecord]) -> int:
    """How many ancestors of a span are in the batch (bounded)."""
    depth, parent = 0, by_id.get(by_id[span_id].parent_span_id or 0)
    while parent is not None and depth < _MAX_DEPTH:
        depth, parent = depth + 1, by_id.get(parent.parent_span_id or 0)
    return depth
