"""Delivery counters: read by operators and tests, counted under one lock from any thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields

from agentsight_otel._delivery.ledger import Status
from agentsight_otel._runtime import RUNTIME

# Where a settled block's spans are counted; "pending" ones were spooled, and counted so.
_SETTLED = {"delivered": "delivered_spans", "rejected": "rejected_spans", "failed": "failed_spans"}


@dataclass
class DeliveryStats:
    """Counters an operator (or a test) can read; only ``count`` and ``settled`` change them.

    The delivery thread, callers' threads (a full queue) and the spool all count: one lock keeps
    every increment.
    """

    delivered_spans: int = 0
    failed_spans: int = 0
    rejected_spans: int = 0
    dropped_queue_full: int = 0
    requests: int = 0
    spooled_spans: int = 0
    replayed_spans: int = 0
    evicted_spans: int = 0
    dead_spans: int = 0
    # Not lost spans: the oldest new end-user messages of GenAI turns past the per-turn bound.
    cut_messages: int = 0
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        RUNTIME.adopt(self, DeliveryStats._forked)

    def _forked(self) -> None:
        self._lock = threading.Lock()

    def count(self, **increments: int) -> None:
        """Add to the named counters, at once."""
        with self._lock:
            for name, value in increments.items():
                setattr(self, name, getattr(self, name) + value)

    def settled(self, status: Status, spans: int) -> None:
        """Count spans whose block was settled with ``status``."""
        counter = _SETTLED.get(status)
        if counter is not None:
            self.count(**{counter: spans})

    def as_dict(self) -> dict[str, int]:
        """Every counter, read together."""
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    @property
    def lost_spans(self) -> int:
        """Spans that will never be delivered: failed, rejected, dropped, evicted, set aside."""
        with self._lock:
            return (
                self.failed_spans
                + self.rejected_spans
                + self.dropped_queue_full
                + self.evicted_spans
                + self.dead_spans
            )
