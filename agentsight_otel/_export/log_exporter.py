"""``AgentSightLogExporter``: GenAI message events written as log records, joined to their traces.

The official GenAI instrumentations' event modes write message content through the Logs API,
where no span exporter sees it. This exporter, on the SDK's ``LoggerProvider``, hands those
records to an ``AgentSightSpanExporter``'s assembly, which joins them to their spans by trace
and span id; every other log record is ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
except ImportError:  # SDKs before 1.39 name them LogExporter and LogExportResult
    from opentelemetry.sdk._logs.export import (  # type: ignore[assignment,unused-ignore]
        LogExporter as LogRecordExporter,
    )
    from opentelemetry.sdk._logs.export import (  # type: ignore[assignment,unused-ignore]
        LogExportResult as LogRecordExportResult,
    )

from agentsight_otel._export.latest import latest_span_exporter
from agentsight_otel._log import log_internal_error, logger
from agentsight_otel._mapping.logevents import log_events_from_sdk
from agentsight_otel._runtime import RUNTIME

if TYPE_CHECKING:
    from agentsight_otel._export.exporter import AgentSightSpanExporter


class AgentSightLogExporter(LogRecordExporter):
    """Feeds GenAI message events from log records to an ``AgentSightSpanExporter``'s traces.

    ``AgentSightLogExporter(span_exporter)`` (or ``span_exporter.log_exporter()``) feeds that
    exporter. Without one (``OTEL_LOGS_EXPORTER=agentsight``), it feeds the span exporter this
    process built last (``OTEL_TRACES_EXPORTER=agentsight``, or the tracker's own). ``export``
    never raises and never touches the network. Shut it down before the tracer provider, so
    the traces that wait for its records go out with them.
    """

    def __init__(self, span_exporter: AgentSightSpanExporter | None = None) -> None:
        self._lock = threading.Lock()
        self._target: AgentSightSpanExporter | None = None
        self._shutdown = False
        self._told_unbound = False
        RUNTIME.adopt(self, AgentSightLogExporter._forked)
        self._bind(span_exporter or latest_span_exporter())

    def _forked(self) -> None:
        self._lock = threading.Lock()

    def _bind(self, target: AgentSightSpanExporter | None) -> AgentSightSpanExporter | None:
        """Attach to ``target`` once: from then on its GenAI traces may wait for records."""
        with self._lock:
            if self._target is None and target is not None and not self._shutdown:
                self._target = target
                target.open_log_source()
            return self._target

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        """Join the batch's GenAI message events to their traces; never raises."""
        if self._shutdown:
            return LogRecordExportResult.FAILURE
        try:
            target = self._target or self._bind(latest_span_exporter())
            if target is None:
                self._tell_unbound()
                return LogRecordExportResult.FAILURE
            ok = target.export_log_events(log_events_from_sdk(batch))
        except Exception:
            log_internal_error("exporting log records")
            return LogRecordExportResult.FAILURE
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing waits here: exported records are already with their traces."""
        return True

    def shutdown(self) -> None:
        """Stop; traces held for log records are released. Safe to call twice."""
        with self._lock:
            if self._shutdown:
                return
            self._shutdown = True
            target = self._target
        if target is not None:
            try:
                target.close_log_source()
            except Exception:
                log_internal_error("shutting down the log exporter")

    def _tell_unbound(self) -> None:
        """Say once that records have no span exporter to join."""
        if not self._told_unbound:
            self._told_unbound = True
            logger.warning(
                "AgentSightLogExporter has no AgentSightSpanExporter to feed: GenAI log records "
                "are dropped. Build it with the span exporter (span_exporter.log_exporter()) or "
                "set OTEL_TRACES_EXPORTER=agentsight too"
            )
