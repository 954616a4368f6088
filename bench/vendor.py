"""The vendor SDK (agentsight 0.1.x) set up in-process as a reference, with no network."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class NullExporter(SpanExporter):
    """Accepts and forgets: the vendor SDK's pipeline without a network."""

    def export(self, spans: Any) -> SpanExportResult:
        """Drop the batch."""
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""


@contextmanager
def vendor_sdk() -> Iterator[Any]:
    """The vendor SDK initialised with a null exporter, shut down afterwards."""
    import agentsight

    agentsight.init(
        span_exporter=NullExporter(),
        auto_instrument=False,
        verify_key=False,
        export_interval_ms=600_000,
    )
    try:
        yield agentsight
    finally:
        agentsight.shutdown()
