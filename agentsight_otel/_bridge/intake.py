"""The bridge's bounded intake: accepted spans wait here, counted in spans and bytes.

A span counts against the bounds from the moment it is accepted until its delivery attempt has
finished, so a slow or failing backend fills the intake and the bridge answers 429 (the
Collector's own queue then holds the data) instead of accepting what it could only drop. Spans
handed on that still wait for their root count too (``set_waiting``), in estimated bytes.
GenAI message events from log requests count like spans, one each, under the same bounds.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from agentsight_otel._bridge.dedupe import SeenSpans
from agentsight_otel._mapping.logevents import LogEvent
from agentsight_otel._mapping.records import SpanRecord


class Admission(enum.Enum):
    """What became of an offer."""

    ACCEPTED = "accepted"
    FULL = "full"
    CLOSED = "closed"


@dataclass
class SpanBatch:
    """Records taken together, with what they count against the bounds."""

    records: list[SpanRecord] = field(default_factory=list)
    logs: list[LogEvent] = field(default_factory=list)
    spans: int = 0
    nbytes: int = 0


@dataclass
class IntakeStats:
    """Counters for operators and tests."""

    accepted_spans: int = 0
    accepted_log_events: int = 0
    duplicate_spans: int = 0
    refused_full: int = 0
    refused_closed: int = 0


class Intake:
    """Accepts deduplicated records up to its bounds; one consumer takes them in batches."""

    def __init__(self, *, max_spans: int, max_bytes: int, dedupe_memory: int) -> None:
        self.max_spans = max_spans
        self.max_bytes = max_bytes
        self.stats = IntakeStats()
        self._seen = SeenSpans(dedupe_memory)
        self._queued = SpanBatch()
        self._held_spans = 0
        self._held_bytes = 0
        self._waiting_spans = 0
        self._waiting_bytes = 0
        self._closed = False
        self._cond = threading.Condition()

    @property
    def closed(self) -> bool:
        """Whether offers are refused now."""
        return self._closed

    def offer(self, records: Sequence[SpanRecord], nbytes: int) -> Admission:
        """Queue the records not seen before, unless that would pass a bound."""
        with self._cond:
            if self._closed:
                self.stats.refused_closed += 1
                return Admission.CLOSED
            fresh = self._seen.fresh(records)
            self.stats.duplicate_spans += len(records) - len(fresh)
            if not fresh:
                return Admission.ACCEPTED
            admission = self._count_in(len(fresh), nbytes)
            if admission is Admission.ACCEPTED:
                self._seen.remember(fresh)
                self._queued.records.extend(fresh)
                self.stats.accepted_spans += len(fresh)
        return admission

    def offer_logs(self, events: Sequence[LogEvent], nbytes: int) -> Admission:
        """Queue message events from a log request, unless that would pass a bound."""
        with self._cond:
            if self._closed:
                self.stats.refused_closed += 1
                return Admission.CLOSED
            admission = self._count_in(len(events), nbytes)
            if admission is Admission.ACCEPTED:
                self._queued.logs.extend(events)
                self.stats.accepted_log_events += len(events)
        return admission

    def _count_in(self, count: int, nbytes: int) -> Admission:
        """Under the lock: count an offer against the bounds, or refuse it as over one."""
        if not self._fits(count, nbytes):
            self.stats.refused_full += 1
            return Admission.FULL
        self._queued.spans += count
        self._queued.nbytes += nbytes
        self._held_spans += count
        self._held_bytes += nbytes
        self._cond.notify_all()
        return Admission.ACCEPTED

    def _fits(self, spans: int, nbytes: int) -> bool:
        """Within both bounds; an empty intake takes any one request, so none waits forever.

        Spans waiting for their root count, but do not make the intake non-empty: the
        assembler bounds them itself (half the byte bound), releasing the oldest first.
        """
        if self._held_spans == 0:
            return True
        held_spans = self._held_spans + self._waiting_spans
        held_bytes = self._held_bytes + self._waiting_bytes
        return held_spans + spans <= self.max_spans and held_bytes + nbytes <= self.max_bytes

    def set_waiting(self, spans: int, nbytes: int) -> None:
        """What was handed on but still waits for its root, in memory."""
        with self._cond:
            self._waiting_spans, self._waiting_bytes = spans, nbytes

    def take(self, timeout: float) -> SpanBatch | None:
        """Everything queued, waiting up to ``timeout``; None when nothing came."""
        with self._cond:
            if not self._queued.spans and not self._closed:
                self._cond.wait(timeout)
            if not self._queued.spans:
                return None
            batch, self._queued = self._queued, SpanBatch()
            return batch

    def done(self, batch: SpanBatch) -> None:
        """A taken batch has been handled: release what it counted."""
        with self._cond:
            self._held_spans -= batch.spans
            self._held_bytes -= batch.nbytes
            self._cond.notify_all()

    def close(self) -> None:
        """Refuse further offers; wake the consumer so it drains and stops."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Until nothing is queued or being handled; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._held_spans == 0, timeout)

    @property
    def held(self) -> tuple[int, int]:
        """Spans and bytes counted against the bounds now."""
        with self._cond:
            return self._held_spans, self._held_bytes
