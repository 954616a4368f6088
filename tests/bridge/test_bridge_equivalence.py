"""The Collector route sends what the in-process exporter sends, byte for byte, exactly once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from agentsight_otel import AgentSightSpanExporter, ConversationTracker
from agentsight_otel._bridge.runner import Bridge
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.testing import TEST_API_KEY, ScriptedTransport
from tests.bridge.conftest import StartBridge
from tests.bridge.helpers import (
    ENDPOINT,
    captured_spans,
    ingest_bodies,
    is_root,
    run_conversation,
)

OtlpFactory = Callable[[Bridge], SpanExporter]
ROUTES: dict[str, OtlpFactory] = {
    "http": lambda bridge: HttpSpanExporter(endpoint=f"{bridge.http_url}/v1/traces"),
    "grpc": lambda bridge: GrpcSpanExporter(endpoint=bridge.grpc_target, insecure=True),
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_the_bridge_sends_the_in_process_bodies(start_bridge: StartBridge, route: str) -> None:
    bridge, bridge_backend = start_bridge()
    in_process_backend = ScriptedTransport()
    ledger = DeliveryLedger()
    in_process = AgentSightSpanExporter(
        api_key=TEST_API_KEY, endpoint=ENDPOINT, _transport=in_process_backend, _ledger=ledger
    )
    otlp = ROUTES[route](bridge)
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(in_process))
    provider.add_span_processor(SimpleSpanProcessor(otlp))
    tracker = ConversationTracker(
        tracer_provider=provider,
        _ledger=ledger,
        api_key=TEST_API_KEY,
        endpoint=ENDPOINT,
        _transport=ScriptedTransport(),  # the tracker's own attachment uploads
    )

    def flush() -> None:
        assert in_process.force_flush(10_000)
        assert bridge.flush(10)

    try:
        run_conversation(tracker, provider, f"equivalence-{route}", flush)
    finally:
        provider.shutdown()
    expected = ingest_bodies(in_process_backend)
    assert len(expected) == 3  # the visit, then one body per interaction
    assert ingest_bodies(bridge_backend) == expected
    assert b'"kind":"llm"' in expected[1] and b'"kind":"attachment"' in expected[1]


def test_a_root_arriving_after_its_children_still_assembles_one_body(
    start_bridge: StartBridge,
) -> None:
    spans = captured_spans("late-root")
    children = [span for span in spans if not is_root(span)]
    roots = [span for span in spans if is_root(span)]
    bridge, backend = start_bridge()
    otlp = HttpSpanExporter(endpoint=f"{bridge.http_url}/v1/traces")
    try:
        assert otlp.export(children).name == "SUCCESS"
        assert bridge.flush(10)
        assert ingest_bodies(backend) == []  # held: the interactions have not ended yet
        assert otlp.export(roots).name == "SUCCESS"
        assert bridge.flush(10)
    finally:
        otlp.shutdown()
    in_process_backend = ScriptedTransport()
    in_process = AgentSightSpanExporter(
        api_key=TEST_API_KEY, endpoint=ENDPOINT, _transport=in_process_backend
    )
    in_process.export(spans)
    in_process.shutdown()
    assert ingest_bodies(backend) == ingest_bodies(in_process_backend)
    assert len(ingest_bodies(backend)) == 1


def test_duplicates_never_reach_the_backend_twice(start_bridge: StartBridge) -> None:
    spans = captured_spans("retried")
    bridge, backend = start_bridge()
    otlp = HttpSpanExporter(endpoint=f"{bridge.http_url}/v1/traces")
    try:
        assert otlp.export(spans[:3]).name == "SUCCESS"
        assert otlp.export(spans).name == "SUCCESS"  # a retry overlapping the first request
        assert bridge.flush(10)
        assert otlp.export(spans).name == "SUCCESS"  # a late retry of the whole batch
        assert bridge.flush(10)
    finally:
        otlp.shutdown()
    in_process_backend = ScriptedTransport()
    in_process = AgentSightSpanExporter(
        api_key=TEST_API_KEY, endpoint=ENDPOINT, _transport=in_process_backend
    )
    in_process.export(spans)
    in_process.shutdown()
    assert sorted(_wire_span_ids(backend)) == sorted(_wire_span_ids(in_process_backend))
    assert bridge.pipeline is not None
    assert bridge.pipeline.intake.stats.duplicate_spans == len(spans) + 3


def test_stopping_delivers_conversations_still_waiting_for_their_root(
    start_bridge: StartBridge,
) -> None:
    spans = captured_spans("unfinished")
    bridge, backend = start_bridge()
    otlp = HttpSpanExporter(endpoint=f"{bridge.http_url}/v1/traces")
    try:
        otlp.export([span for span in spans if not is_root(span)])
    finally:
        otlp.shutdown()
    assert bridge.flush(10)
    assert ingest_bodies(backend) == []
    assert bridge.stop(5.0)
    assert len(ingest_bodies(backend)) == 1


def _wire_span_ids(backend: ScriptedTransport) -> list[str]:
    """Every span id posted, repeats included."""
    return [
        span["span_id"]
        for body in backend.bodies()
        for block in body["conversations"]
        for span in block["spans"]
    ]
