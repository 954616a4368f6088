"""Decoded records → intake → the exporter's assembly, mapping and delivery, on one pump thread.

Message events from log requests take the same way; the exporter joins them to their spans.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from agentsight_otel._bridge.config import BridgeConfig
from agentsight_otel._bridge.decode import Decoded
from agentsight_otel._bridge.decode_logs import DecodedLogs
from agentsight_otel._bridge.intake import Admission, Intake, IntakeStats, SpanBatch
from agentsight_otel._config import Settings
from agentsight_otel._delivery.clock import Clock
from agentsight_otel._delivery.daemon import daemon_thread
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._delivery.transport import Transport
from agentsight_otel._export.exporter import AgentSightSpanExporter
from agentsight_otel._export.stats import DeliveryStats
from agentsight_otel._log import log_internal_error

_POLL_S = 0.25


class BridgePipeline:
    """Admits decoded records and feeds them, batch by batch, to the exporter."""

    def __init__(
        self,
        config: BridgeConfig,
        settings: Settings,
        *,
        transport: Transport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.intake = Intake(
            max_spans=config.max_queue_spans,
            max_bytes=config.max_queue_bytes,
            dedupe_memory=config.dedupe_memory,
        )
        # What the bridge answered 2xx for waits on disk while the backend cannot take it
        # (unless the operator turned the spool off: then it is counted and logged as lost).
        spool = config.spool_directory(settings.endpoint, settings.api_key)
        settings = replace(settings, spool_dir=spool)
        # The pump hands the worker one batch at a time, so its queue can never refuse one.
        self.exporter = AgentSightSpanExporter(
            _settings=settings,
            _transport=transport,
            _clock=clock,
            _ledger=DeliveryLedger(),
            _max_queue_spans=config.max_queue_spans + config.max_pending_spans,
            _max_pending_spans=config.max_pending_spans,
            # Root-less spans are held within the intake's byte bound: at most half of it, the
            # oldest released (or, for traces of no conversation, dropped and counted) first.
            _max_pending_bytes=config.max_queue_bytes // 2,
            _log_deliveries=True,
        )
        # The logs endpoint is always open: GenAI traces may wait for their log records.
        self.exporter.open_log_source()
        # Held while a request is decompressed and decoded, by both receivers.
        self.decode_slots = threading.BoundedSemaphore(config.max_concurrent_decodes)
        self._stopping = threading.Event()
        self._thread = daemon_thread(self._run, "agentsight-bridge")
        self._thread.start()

    @property
    def stats(self) -> tuple[IntakeStats, DeliveryStats]:
        """Intake and delivery counters."""
        return self.intake.stats, self.exporter.stats

    def submit(self, decoded: Decoded, nbytes: int) -> Admission:
        """Offer a request's records; the answer decides the OTLP response."""
        if not decoded.records:
            return Admission.CLOSED if self.intake.closed else Admission.ACCEPTED
        return self.intake.offer(decoded.records, nbytes)

    def submit_logs(self, decoded: DecodedLogs, nbytes: int) -> Admission:
        """Offer a log request's message events; the answer decides the OTLP response."""
        if not decoded.events:
            return Admission.CLOSED if self.intake.closed else Admission.ACCEPTED
        return self.intake.offer_logs(decoded.events, nbytes)

    def flush(self, timeout: float) -> bool:
        """Until every accepted span has had its delivery attempt (or waits for its root)."""
        return self.intake.wait_idle(timeout)

    def close(self, timeout: float) -> bool:
        """Refuse spans, deliver all held (rooted or not) within ``timeout``; True if all went."""
        end = time.monotonic() + timeout
        failed_before = self.exporter.stats.failed_spans
        self.intake.close()
        # Past a share of the deadline the pump stops waiting on a slow backend and hands over.
        self._thread.join(max(0.0, timeout * 0.5))
        self._stopping.set()
        self._thread.join(max(0.0, end - time.monotonic()) * 0.2)
        remaining = max(0.0, end - time.monotonic())
        self.exporter.shutdown(int(remaining * 1000))
        stopped = not self._thread.is_alive() and self.intake.held == (0, 0)
        return stopped and self.exporter.stats.failed_spans == failed_before

    def _run(self) -> None:
        """Take batches until the intake is closed and empty."""
        while True:
            batch = self.intake.take(_POLL_S)
            self.intake.set_waiting(*self.exporter.pending())
            if batch is None:
                if self.intake.closed:
                    return
                continue
            try:
                self._hand_over(batch)
            except Exception:  # the pump must outlive any one batch
                log_internal_error("handing a bridge batch to the exporter")
            finally:
                self.intake.set_waiting(*self.exporter.pending())
                self.intake.done(batch)

    def _hand_over(self, batch: SpanBatch) -> None:
        """Assemble and queue a batch, then wait for its delivery round (the backpressure)."""
        # Log events first: a trace whose root is in this batch then goes out with them.
        self.exporter.export_log_events(batch.logs)
        self.exporter.export_records(batch.records)
        while not self.exporter.wait_delivered(_POLL_S):
            if self._stopping.is_set():
                return
