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

GenAI message events written as log records (``add_logs``) wait with their trace and are joined
to their spans when it goes out. While log records can arrive (``expect_logs``), a trace whose
model calls carry no messages on their spans, by an instrumentation that writes them as log
records, is held after its root for at most ``log_grace`` seconds, until every such call has
its answer record; other traces never wait.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agentsight_otel import _semconv as sc
from agentsight_otel._export.sizing import event_bytes, record_bytes
from agentsight_otel._log import logger
from agentsight_otel._mapping.identity import is_genai, ranked_conversation
from agentsight_otel._mapping.logevents import LogEvent, awaits_events, is_answer, joined
from agentsight_otel._mapping.payload import TraceGroup
from agentsight_otel._mapping.records import EventRecord, SpanRecord

_MAX_EVENT_SCOPES = 64


@dataclass
class _Pending:
    """Spans of one trace waiting for their root."""

    first_seen: float
    conversation_id: str | None = None
    rank: int = 99
    records: list[SpanRecord] = field(default_factory=list)
    nbytes: int = 0
    # Message events from log records, by span id, and their keys (retries are dropped); made
    # on the first record, so traces without any cost nothing.
    logs: dict[int, list[EventRecord]] | None = None
    log_keys: set[tuple[int, str, int]] | None = None
    nlogs: int = 0
    hold_until: float | None = None  # rooted, waiting for log records until then


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
        log_grace: float = 2.0,
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
        self.log_grace = log_grace
        self.expect_logs = False  # whether log records can still arrive (a log exporter is open)
        self.pending_logs = 0
        self.late_logs = 0  # log records whose spans had gone out already
        self._event_scopes: set[str] = set()  # scopes seen writing message log records
        self._told_late = False

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
            if self._held(self._pending[trace_id], now):
                continue
            group = self._release(trace_id)
            if group is not None:
                ready.append(group)
        ready.extend(self._evict_over_bound())
        return ready

    def add_logs(self, events: Iterable[LogEvent], now: float) -> list[TraceGroup]:
        """Take message events from log records; return the groups they completed."""
        touched: list[int] = []
        for log in events:
            if len(self._event_scopes) < _MAX_EVENT_SCOPES:
                self._event_scopes.add(log.scope)
            pending = self._pending.get(log.trace_id)
            if pending is None:
                pending = self._pending[log.trace_id] = _Pending(now)
            event = log.event
            key = (log.span_id, event.name, event.timestamp_ns)
            if pending.logs is None or pending.log_keys is None:
                pending.logs, pending.log_keys = {}, set()
            elif key in pending.log_keys:  # an OTLP retry: the same record again
                continue
            pending.log_keys.add(key)
            pending.logs.setdefault(log.span_id, []).append(event)
            pending.nlogs += 1
            self.pending_logs += 1
            if self.max_pending_bytes is not None:
                size = event_bytes(event)
                pending.nbytes += size
                self.pending_bytes += size
            if pending.hold_until is not None:
                touched.append(log.trace_id)
        ready = []
        for trace_id in dict.fromkeys(touched):
            if not self._awaits_logs(self._pending[trace_id]):
                group = self._release(trace_id)
                if group is not None:
                    ready.append(group)
        ready.extend(self._evict_over_bound())
        return ready

    def stop_expecting_logs(self) -> list[TraceGroup]:
        """No more log records will come: release the traces held for them."""
        self.expect_logs = False
        held = [t for t, pending in self._pending.items() if pending.hold_until is not None]
        groups = [self._release(trace_id) for trace_id in held]
        return [group for group in groups if group is not None]

    def _held(self, pending: _Pending, now: float) -> bool:
        """Whether a rooted trace waits for log records now (its grace starts the first time)."""
        if not self.expect_logs or not self._awaits_logs(pending):
            return False
        if pending.hold_until is None:
            pending.hold_until = now + self.log_grace
        return now < pending.hold_until

    def _awaits_logs(self, pending: _Pending) -> bool:
        """Whether a model call of the trace still lacks its messages' answer record."""
        for record in pending.records:
            if awaits_events(record, self._event_scopes):
                events = pending.logs.get(record.span_id) if pending.logs else None
                if not events or not any(is_answer(event) for event in events):
                    return True
        return False

    def expire(self, now: float) -> list[TraceGroup]:
        """Release (or drop, if foreign) traces that waited too long for a root."""
        ready = []
        for trace_id, pending in list(self._pending.items()):
            limit = self.max_age if pending.conversation_id else self.foreign_max_age
            held_out = pending.hold_until is not None and now >= pending.hold_until
            if held_out or now - pending.first_seen >= limit:
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
        self.pending_logs -= pending.nlogs
        cid = pending.conversation_id or self._conversation_of(trace_id)
        if cid is None:
            self.foreign_dropped += len(pending.records)
            self._tell_no_identity(pending.records)
            return None
        self._remember(self._known, trace_id, cid)
        if pending.logs:
            records = self._join_logs(trace_id, pending, pending.logs)
            if not records:
                return None
            pending.records = records
        for record in pending.records:
            if (
                record.attributes.get(sc.SPAN_KIND) in sc.ROOT_KINDS
                or record.parent_span_id is None
                or record.parent_is_remote
            ):
                self._remember(self._released_roots, record.span_id, None)
        return TraceGroup(cid, pending.records)

    def _join_logs(
        self, trace_id: int, pending: _Pending, logs: dict[int, list[EventRecord]]
    ) -> list[SpanRecord]:
        """The records with their log events; events of spans not among them wait on.

        They may belong to a part of the trace still to come; those of spans that went out
        already are dropped when they expire (counted as late).
        """
        released = {record.span_id for record in pending.records}
        rest = {s: events for s, events in logs.items() if s not in released}
        if rest and pending.records:
            waiting = self._pending[trace_id] = _Pending(
                pending.first_seen, pending.conversation_id
            )
            waiting.logs = rest
            waiting.nlogs = sum(len(events) for events in rest.values())
            waiting.log_keys = {k for k in pending.log_keys or () if k[0] in rest}
            self.pending_logs += waiting.nlogs
            if self.max_pending_bytes is not None:
                waiting.nbytes = sum(event_bytes(e) for events in rest.values() for e in events)
                self.pending_bytes += waiting.nbytes
        elif rest:
            self._tell_late(sum(len(events) for events in rest.values()))
        return joined(pending.records, logs)

    def _tell_late(self, count: int) -> None:
        """Count log records that came after their spans went out; say once what to do."""
        self.late_logs += count
        if not self._told_late:
            self._told_late = True
            logger.info(
                "GenAI log records arrived after their trace was sent to AgentSight, so its "
                "transcript misses them; raise AGENTSIGHT_LOG_GRACE_MS (now %d ms)",
                round(self.log_grace * 1000),
            )

    def _over_bound(self) -> bool:
        """Whether more spans or bytes wait than allowed."""
        if self.pending_spans + self.pending_logs > self.max_pending_spans:
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
            "using_session(id); Vercel AI SDK: experimental_telemetry.metadata.sessionId)",
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
