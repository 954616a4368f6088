"""``AgentSightSpanExporter``: finished spans in, AgentSight ingest batches out."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agentsight_otel._config import EXPORTER, Settings, given_arguments, resolve_settings
from agentsight_otel._delivery.client import IngestClient, RetryPolicy
from agentsight_otel._delivery.clock import Clock, SystemClock
from agentsight_otel._delivery.ledger import DEFAULT_LEDGER, DeliveryLedger
from agentsight_otel._delivery.transport import RequestsTransport, Transport
from agentsight_otel._export.assembler import TraceAssembler
from agentsight_otel._export.deliveries import DeliveryLog
from agentsight_otel._export.latest import remember
from agentsight_otel._export.redelivery import Redelivery
from agentsight_otel._export.stats import DeliveryStats
from agentsight_otel._export.worker import DeliveryWorker
from agentsight_otel._log import RateLimitedLog, log_internal_error, logger
from agentsight_otel._mapping.logevents import LogEvent
from agentsight_otel._mapping.payload import TraceGroup
from agentsight_otel._mapping.records import SpanRecord, records_from_spans
from agentsight_otel._runtime import RUNTIME

if TYPE_CHECKING:
    from agentsight_otel._export.log_exporter import AgentSightLogExporter


class AgentSightSpanExporter(SpanExporter):
    """Assembles finished traces per conversation and delivers them to AgentSight.

    Works with no arguments (everything from ``AGENTSIGHT_*``), so
    ``OTEL_TRACES_EXPORTER=agentsight`` can build it. ``export`` only assembles and queues:
    the network is used by the exporter's own thread, so it never blocks the caller, even
    under a ``SimpleSpanProcessor``.

    ``spool_dir`` (``AGENTSIGHT_SPOOL_DIR``) keeps what cannot be delivered on disk, at most
    ``spool_max_bytes``, until the backend answers again (also in a later process);
    ``max_queue_bytes`` caps what waits in memory. The exporter's thread (and its shutdown)
    writes the spool; only when the queue is full does ``export`` write there itself, rather
    than drop what it was given.

    GenAI message events that instrumentations write as log records join this exporter's
    traces through ``log_exporter()`` (an ``AgentSightLogExporter`` for the SDK's
    ``LoggerProvider``): a trace that may still get such records waits for them at most
    ``log_grace_ms`` (``AGENTSIGHT_LOG_GRACE_MS``) after its root ends.
    """

    def __init__(
        self,
        api_key: str | None = None,
        endpoint: str | None = None,
        *,
        compression: str | None = None,
        request_timeout: float | None = None,
        export_deadline: float | None = None,
        max_body_bytes: int | None = None,
        verify_tls: bool | None = None,
        spool_dir: str | None = None,
        spool_max_bytes: int | None = None,
        max_queue_bytes: int | None = None,
        log_grace_ms: int | None = None,
        _settings: Settings | None = None,
        _transport: Transport | None = None,
        _clock: Clock | None = None,
        _retry_policy: RetryPolicy | None = None,
        _ledger: DeliveryLedger | None = None,
        _max_queue_spans: int = 100_000,
        _max_pending_spans: int = 50_000,
        _spool_retry_interval: float = 5.0,
        _max_pending_bytes: int | None = None,
        _log_deliveries: bool = False,
    ) -> None:
        # Settings are the table's (see _config); the underscored arguments are test seams.
        settings = resolve_settings(base=_settings, **given_arguments(EXPORTER, locals()))
        self.settings = settings
        self._clock = _clock or SystemClock()
        self._ledger = _ledger or DEFAULT_LEDGER
        self._lock = threading.Lock()
        self._assembler = TraceAssembler(
            max_pending_spans=_max_pending_spans,
            max_pending_bytes=_max_pending_bytes,
            hint=self._ledger.conversation_of,
            log_grace=settings.log_grace_ms / 1000,
        )
        self._log_sources = 0  # open log exporters (the bridge's logs endpoint counts as one)
        self._log = RateLimitedLog(clock=self._clock.now)
        # The bridge logs every delivery at INFO; the in-process exporter stays quiet.
        self._deliveries = DeliveryLog(self._clock.now) if _log_deliveries else None
        self._worker = self._delivery_worker(
            _transport, _retry_policy, _max_queue_spans, _spool_retry_interval
        )
        RUNTIME.adopt(self, AgentSightSpanExporter._forked)
        self._shutdown = False
        self._ledger.exporter_started()
        _warn_about_the_key(settings)
        remember(self)

    def _delivery_worker(
        self,
        transport: Transport | None,
        policy: RetryPolicy | None,
        max_queue_spans: int,
        spool_retry_interval: float,
    ) -> DeliveryWorker:
        """The delivery thread's worker and its client, spooling when a spool is configured."""
        settings = self.settings
        transport = transport or RequestsTransport(verify_tls=settings.verify_tls)
        client = IngestClient(settings, transport, clock=self._clock, policy=policy)
        worker = DeliveryWorker(
            client,
            self._ledger,
            max_queue_spans=max_queue_spans,
            max_queue_bytes=settings.max_queue_bytes,
            on_tick=self._expire,
            log=self._log,
            deliveries=self._deliveries,
        )
        if settings.spool_dir is not None:
            redelivery = Redelivery(
                settings.spool_dir,
                settings.spool_max_bytes,
                client,
                worker.stats,
                log=self._log,
                retry_interval=spool_retry_interval,
            )
            redelivery.deliveries = self._deliveries
            worker.use_spool(redelivery)
        return worker

    @property
    def stats(self) -> DeliveryStats:
        """Delivery counters."""
        return self._worker.stats

    def refuse(self, spans: int) -> None:
        """Count and report spans dropped before export (a full queue ahead of this one)."""
        self._worker.refuse(spans)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Assemble and queue; never raises, never touches the network."""
        if self._shutdown:
            return SpanExportResult.FAILURE
        if self._worker.saturated() and not self._worker.spills():
            # Dropped before any record is built: a full queue must not cost memory to refuse.
            self._worker.refuse(len(spans))
            return SpanExportResult.FAILURE
        try:
            return self.export_records(records_from_spans(spans))
        except Exception:
            log_internal_error("exporting spans")
            return SpanExportResult.FAILURE

    def export_records(self, records: Sequence[SpanRecord]) -> SpanExportResult:
        """The same, for records decoded elsewhere (the OTLP bridge)."""
        if self._shutdown:
            return SpanExportResult.FAILURE
        with self._lock:
            groups = self._assembler.add(records, self._clock.now())
        ok = self._worker.submit(groups)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def export_log_events(self, events: Sequence[LogEvent]) -> bool:
        """Join GenAI message events from log records to their traces; False once shut down."""
        if self._shutdown:
            return False
        if not events:
            return True
        with self._lock:
            groups = self._assembler.add_logs(events, self._clock.now())
        return self._worker.submit(groups)

    def log_exporter(self) -> AgentSightLogExporter:
        """A log record exporter feeding this exporter's traces (for a ``LoggerProvider``)."""
        from agentsight_otel._export.log_exporter import AgentSightLogExporter

        return AgentSightLogExporter(self)

    def open_log_source(self) -> None:
        """A source of log records is attached: GenAI traces may wait for its records."""
        with self._lock:
            self._log_sources += 1
            self._assembler.expect_logs = True

    def close_log_source(self) -> None:
        """A source closed; with none left, traces held for log records go out now."""
        with self._lock:
            self._log_sources = max(0, self._log_sources - 1)
            if self._log_sources:
                return
            groups = self._assembler.stop_expecting_logs()
        if not self._shutdown:
            self._worker.submit(groups)

    @property
    def late_log_records(self) -> int:
        """Log records that came after their spans had been delivered (their text is lost)."""
        with self._lock:
            return self._assembler.late_logs

    def pending(self) -> tuple[int, int]:
        """Spans and log records, and their estimated bytes, waiting for their root (or grace)."""
        with self._lock:
            assembler = self._assembler
            return assembler.pending_spans + assembler.pending_logs, assembler.pending_bytes

    def wait_delivered(self, timeout: float) -> bool:
        """Wait until everything released so far had its delivery attempt; False on timeout.

        Unlike ``force_flush`` this leaves traces that still wait for their root alone.
        """
        return self._worker.flush(timeout)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Release everything assembled and wait for its delivery attempt."""
        try:
            with self._lock:
                groups = self._assembler.drain()
            self._worker.submit(groups)
            return self._worker.flush(timeout_millis / 1000)
        except Exception:
            log_internal_error("flushing the exporter")
            return False

    def shutdown(self, timeout_millis: int = 30_000, *, _reason: str | None = None) -> None:
        """Deliver what is held within the timeout, then stop; safe to call twice."""
        if self._shutdown:
            return
        self._shutdown = True
        try:
            with self._lock:
                groups = self._assembler.drain()
            self._worker.submit(groups)
            self._worker.shutdown(timeout_millis / 1000, _reason)
            if self._deliveries is not None:
                self._deliveries.flush()
        except Exception:
            log_internal_error("shutting down the exporter")
        finally:
            self._ledger.exporter_stopped()

    def _forked(self) -> None:
        """In a forked child: a fresh lock; the parent delivers the traces it assembled."""
        self._lock = threading.Lock()
        self._assembler.drain()

    def _expire(self) -> list[TraceGroup]:
        """Called by the worker while idle: release traces that waited too long."""
        with self._lock:
            return self._assembler.expire(self._clock.now())


def _warn_about_the_key(settings: Settings) -> None:
    """Say once, at construction, why nothing will be delivered."""
    if settings.key_problem:
        logger.error("AgentSight delivery is off: %s", settings.key_problem)
    elif settings.api_key is None:
        logger.warning(
            "AGENTSIGHT_API_KEY is not set: conversations are tracked as spans "
            "but not delivered to AgentSight"
        )
