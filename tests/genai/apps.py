"""What the instrumented test apps share: a provider exporting to AgentSight and to memory."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentsight_otel import AgentSightSpanExporter
from agentsight_otel.testing import TEST_API_KEY

TOOL_KINDS = {
    "gen_ai.operation.name": "execute_tool",
    "openinference.span.kind": "TOOL",
    "traceloop.span.kind": "tool",
}


def global_provider(url: str) -> tuple[TracerProvider, InMemorySpanExporter]:
    """The global provider: spans go to AgentSight at ``url`` and are kept in memory."""
    capture = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(capture))
    exporter = AgentSightSpanExporter(api_key=TEST_API_KEY, endpoint=url)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider, capture


def tool_timings(spans: tuple[ReadableSpan, ...]) -> list[dict[str, int | None]]:
    """Start and end of every tool span, in any of the three conventions."""
    return [
        {"start": s.start_time, "end": s.end_time}
        for s in spans
        if any((s.attributes or {}).get(k) == v for k, v in TOOL_KINDS.items())
    ]
