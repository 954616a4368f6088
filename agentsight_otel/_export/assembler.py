"""Assembling finished spans into conversation traces, with bounded memory.

Children end before their parents, so a trace's spans wait here until its turn root (a
``turn`` or ``conversation`` span) or its local root (a span without a parent in this process:
what ends an agent invocation instrumented by GenAI instrumentation) arrives; then the whole
group goes out together. A trace's conversation is named by any of its spans (identity keys,
strongest first: docs/genai-mapping.md). Spans that
arrive after their root went out are released at once ("late children"). Nothing waits forever:
spans of conversation traces are released after ``max_age`` even without a root, and spans of
traces never shown to belong to a conversation are dropped after ``foreign_max_age`` (they are
the application's own telemetry, not AgentSight data).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agentsight_otel import _semconv as sc
from agentsight_otel._export.sizing import record_bytes
from agentsight_otel._log import logger
from agentsight_otel._mapping.identity import is_genai, ranked_conversation
from agentsight_otel._mapping.payload import TraceGroup
from agentsight_otel._mapping.records import SpanRecord


@dataclass
class _Pending:
    """Spans of one trace waiting for their root."""

    first_seen: float
    conversation_id: str | None = None
    rank: int = 99
    records: list[SpanRecord] = field(default_factory=list)
    nbytes: int = 0


def _no_hint(trace_id: int) -> str | None:
    """No in-process hints (the bridge)."""
    return None


class TraceAssembler:
    """Groups records per trace and releases a group when its turn root arrives."""

    def __init__(
        self,
        *,
        max_pending_spans: int = 50_000,
        max_pending_bytes: int | None = None,
        max_age: float = 300.0,
        foreign_max_age: float = 120.0,
        memory: int = 20_000,
        hint: Callable[[int], str | None] = _no_hint,
    ) -> None:
        self.max_pending_spans = max_pending_spans
        self.max_pending_bytes = max_pending_bytes
        self.max_age = max_age
        self.foreign_max_age = foreign_max_age
        self._memory = memory
        self._hint = hint
        self._pending: OrderedDict[int, _Pending] = OrderedDict()
        self._known: OrderedDict[int, str] = OrderedDict()
        self._released_roots: OrderedDict[int, None] = OrderedDict()
        self.pending_spans = 0
        self.pending_bytes = 0  # estimated, counted only under a byte bound
        self.foreign_dropped = 0
        self._told_no_identity = False

    def add(self, records: Iterable[SpanRecord], now: float) -> list[TraceGroup]:
        """Take finished records; return the groups that are complete now."""
        ready: list[TraceGroup] = []
        rooted: list[int] = []
        for record in records:
            attributes = record.attributes
            named = ranked_conversation(attributes)
            cid = named[1] if named else self._conversation_of(record.trace_id)
            is_root = attributes.get(sc.SPAN_KIND) in sc.ROOT_KINDS
            if cid is not None and not is_root and self._is_late(record):
                ready.append(TraceGroup(cid, [record]))
                continue
            pending = self._pending.get(record.trace_id)
            if pending is None:
                pending = self._pending[record.trace_id] = _Pending(now)
            pending.records.append(record)
            self.pending_spans += 1
            if self.max_pending_bytes is not None:
                size = record_bytes(record)
                pending.nbytes += size
                self.pending_bytes += size
            if named is not None and named[0] < pending.rank:
                pending.rank, pending.conversation_id = named
            elif cid is not None and pending.conversation_id is None:
                pending.conversation_id = cid
            if is_root or record.parent_span_id is None or record.parent_is_remote:
                rooted.append(record.trace_id)
        for trace_id in dict.fromkeys(rooted):
            group = self._release(trace_id)
            if group is not None:
                ready.append(group)
        ready.extend(self._evict_over_bound())
        return ready

    def expire(self, now: float) -> list[TraceGroup]:
        """Release (or drop, if foreign) traces that waited too long for a root."""
        ready = []
        for trace_id, pending in list(self._pending.items()):
            limit = self.max_age if pending.conversation_id else self.foreign_max_age
            if now - pending.first_seen >= limit:
                group = self._release(trace_id)
                if group is not None:
                    ready.append(group)
        return ready

    def drain(self) -> list[TraceGroup]:
        """Release every conversation trace held; drop the foreign ones."""
        groups = [self._release(trace_id) for trace_id in list(self._pending)]
        return [group for group in groups if group is not None]

    def _release(self, trace_id: int) -> TraceGroup | None:
        """Remove a trace from pending; a group when it belongs to a conversation."""
        pending = self._pending.pop(trace_id)
        self.pending_spans -= len(pending.records)
        self.pending_bytes -= pending.nbytes
        cid = pending.conversation_id or self._conversation_of(trace_id)
        if cid is None:
            self.foreign_dropped += len(pending.records)
            self._tell_no_identity(pending.records)
            return None
        self._remember(self._known, trace_id, cid)
        for record in pending.records:
            if (
                record.attributes.get(sc.SPAN_KIND) in sc.ROOT_KINDS
                or record.parent_span_id is None
                or record.parent_is_remote
            ):
                self._remember(self._released_roots, record.span_id, None)
        return TraceGroup(cid, pending.records)

    def _over_bound(self) -> bool:
        """Whether more spans or bytes wait than allowed."""
        if self.pending_spans > self.max_pending_spans:
            return True
        return self.max_pending_bytes is not None and self.pending_bytes > self.max_pending_bytes

    def _tell_no_identity(self, records: list[SpanRecord]) -> None:
        """Say once why GenAI traces without a conversation are not sent, and what to do."""
        if self._told_no_identity or not any(is_genai(r.attributes) for r in records):
            return
        self._told_no_identity = True
        logger.info(
            "GenAI spans without a conversation id are not sent to AgentSight (first seen: "
            "%r). Give their agent calls one: `with agentsight_otel.conversation(id): ...`, "
            "or set gen_ai.conversation.id or session.id on them (OpenInference: "
            "using_session(id))",
            records[0].name,
        )

    def _evict_over_bound(self) -> list[TraceGroup]:
        """Release the oldest traces while more spans (or bytes) wait than allowed."""
        ready = []
        while self._pending and self._over_bound():
            group = self._release(next(iter(self._pending)))
            if group is not None:
                ready.append(group)
        return ready

    def _conversation_of(self, trace_id: int) -> str | None:
        """The conversation of a trace seen before, or hinted by a tracker in this process."""
        return self._known.get(trace_id) or self._hint(trace_id)

    def _is_late(self, record: SpanRecord) -> bool:
        """Whether the record's turn root already went out."""
        turn = record.attributes.get(sc.TURN_ID)
        if isinstance(turn, str) and len(turn) == 16:
            try:
                return int(turn, 16) in self._released_roots
            except ValueError:
                return False
        return record.parent_span_id in self._released_roots

    def _remember(self, memory: OrderedDict[int, Any], key: int, value: Any) -> None:
        """Insert into a bounded most-recent-first memory."""
        memory[key] = value
        memory.move_to_end(key)
        if len(memory) > self._memory:
            memory.popitem(last=False)
