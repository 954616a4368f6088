"""Spans seen recently, by (trace id, span id): OTLP retries must not reach the backend twice."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from agentsight_otel._mapping.records import SpanRecord


def span_key(record: SpanRecord) -> int:
    """Trace id and span id as one integer."""
    return (record.trace_id << 64) | record.span_id


class SeenSpans:
    """A bounded first-in-first-out memory of span keys; not thread-safe (the intake locks)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._keys: set[int] = set()
        self._order: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._keys)

    def fresh(self, records: Iterable[SpanRecord]) -> list[SpanRecord]:
        """Records neither remembered nor repeated earlier in ``records``."""
        seen = self._keys
        batch: set[int] = set()
        kept = []
        for record in records:
            key = span_key(record)
            if key in seen or key in batch:
                continue
            batch.add(key)
            kept.append(record)
        return kept

    def remember(self, records: Iterable[SpanRecord]) -> None:
        """Remember the records' keys, forgetting the oldest beyond capacity."""
        for record in records:
            key = span_key(record)
            if key in self._keys:
                continue
            self._keys.add(key)
            self._order.append(key)
        while len(self._order) > self.capacity:
            self._keys.discard(self._order.popleft())
