"""The private pipeline's span processor: ended spans wait for the runtime's timer thread."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from agentsight_otel._export.exporter import AgentSightSpanExporter
from agentsight_otel._runtime import RUNTIME

# Asks the runtime's timer thread for a flush within so many seconds.
RequestFlush = Callable[[float], None]


class SpanQueue(SpanProcessor):
    """Queues ended spans and hands them to the exporter in batches, from the timer thread.

    What the SDK's ``BatchSpanProcessor`` does, without a thread of its own: a send asks the
    timer thread for a flush anyway, so the spans go with it; a full batch, or the schedule
    delay after the first span queued, asks for one too. A span past the queue's cap is counted
    lost in the exporter's statistics (the SDK's processor drops it with a warning, uncounted).
    """

    def __init__(
        self,
        exporter: AgentSightSpanExporter,
        request_flush: RequestFlush,
        *,
        max_queue_size: int,
        max_batch: int,
        schedule_delay: float,
    ) -> None:
        self.span_exporter = exporter  # the SDK processors' name for it, read by the pipeline
        self._request_flush = request_flush
        self._max_queue_size = max_queue_size
        self._max_batch = max_batch
        self._schedule_delay = schedule_delay
        # A deque: appends from any thread and the flush's pops need no lock between them.
        self._spans: deque[ReadableSpan] = deque()
        self._export_lock = threading.Lock()
        self._closed = False
        RUNTIME.adopt(self, SpanQueue._forked)

    def _forked(self) -> None:
        """In a forked child: the parent exports what it queued; the lock may be held."""
        self._spans, self._export_lock = deque(), threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue a sampled span; ask for a flush at the schedule, or now for a full batch."""
        context = span.context
        if self._closed or context is None or not context.trace_flags.sampled:
            return
        spans = self._spans
        queued = len(spans)
        if queued >= self._max_queue_size:
            self.span_exporter.refuse(1)
            return
        spans.append(span)
        if queued == 0:
            self._request_flush(self._schedule_delay)
        elif queued + 1 >= self._max_batch:
            # Every span past a batch asks (cheap once a flush is due): threads appending at
            # once may each see a count short of the batch and none ask at exactly it.
            self._request_flush(0.0)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Hand every queued span to the exporter now (it only queues: this is quick)."""
        with self._export_lock:
            spans = self._spans
            while spans:
                batch = [spans.popleft() for _ in range(min(self._max_batch, len(spans)))]
                self.span_exporter.export(batch)  # never raises
        return True

    def shutdown(self) -> None:
        """Queue nothing more (the pipeline flushed and shut the exporter down before)."""
        self._closed = True
