"""Helpers for the bridge tests: captured conversations, OTLP encodings, blocking backends."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentsight_otel import ConversationTracker, traced_action
from agentsight_otel import _semconv as sc
from agentsight_otel._bridge.config import Address, BridgeConfig
from agentsight_otel._config import Settings, resolve_settings
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._delivery.transport import HttpResponse
from agentsight_otel.testing import TEST_API_KEY, ScriptedTransport

INGEST = "/api/ingest/"
ENDPOINT = "http://agentsight.test"
LOCAL = Address("127.0.0.1", 0)
ATTACHMENT = {"filename": "receipt.pdf", "data": base64.b64encode(b"%PDF-1.7 ...").decode()}


def bridge_config(**overrides: Any) -> BridgeConfig:
    """A config listening on free ports of 127.0.0.1."""
    values: dict[str, Any] = {"http_address": LOCAL, "grpc_address": LOCAL, "drain_timeout": 5.0}
    values.update(overrides)
    return BridgeConfig(**values)


def delivery_settings(endpoint: str = ENDPOINT) -> Settings:
    """Delivery settings for a test backend."""
    return resolve_settings(api_key=TEST_API_KEY, endpoint=endpoint)


def ingest_bodies(transport: ScriptedTransport) -> list[bytes]:
    """Raw bodies posted to the ingest endpoint, in order."""
    return [r.body or b"" for r in transport.requests if r.path == INGEST and r.method == "POST"]


def run_conversation(
    tracker: ConversationTracker, provider: TracerProvider, cid: str, flush: Callable[[], None]
) -> None:
    """A visit and two interactions using every kind of record, flushing after each send."""
    tracker.initialize_conversation(cid, customer_id="u-1", device="desktop", source="web")
    flush()
    tracker.get_or_create_conversation(
        cid, customer_id="u-1", name="Refund", environment="prod", metadata={"plan": "pro"}
    )

    @traced_action
    def lookup_order(order_id: str) -> dict[str, Any]:
        return {"order": order_id, "status": "shipped", "eta_days": 2}

    tracker.track_human_message("Où est ma commande ? 🚚", metadata={"channel": "web"})
    lookup_order("A-1")
    tracker.track_action("refund_check", duration_ms=12.5, tools_used={"id": 7}, error_msg="busy")
    model_call = provider.get_tracer("instrumentation.llm", "0.1")
    with model_call.start_as_current_span("chat gpt-4o") as span:
        span.set_attributes(
            {
                sc.GEN_AI_SYSTEM: "openai",
                sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
                sc.INPUT_TOKENS: 120,
                sc.OUTPUT_TOKENS: 30,
                "gen_ai.request.temperature": 0.2,
                "gen_ai.response.finish_reasons": ("stop",),
            }
        )
    tracker.track_token_usage(40, 10, model="gpt-4o-mini", provider="openai")
    tracker.track_button("choice", "Refund", "refund", metadata={"position": 1})
    tracker.track_attachments([ATTACHMENT], sender="end_user")
    tracker.track_agent_message("Your refund has started.")
    tracker.send_tracked_data()
    flush()
    with provider.get_tracer("instrumentation.http").start_as_current_span("POST /chat"):
        tracker.track_human_message("Thanks!")
        tracker.track_agent_message("You're welcome.")
        tracker.send_tracked_data()
    flush()


def captured_spans(cid: str = "captured-1") -> list[ReadableSpan]:
    """A whole conversation's finished SDK spans, in end order, exported nowhere."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bridge-tests"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracker = ConversationTracker(
        tracer_provider=provider,
        _ledger=DeliveryLedger(),
        api_key=TEST_API_KEY,
        endpoint=ENDPOINT,
        _transport=ScriptedTransport(),  # attachment uploads
    )
    run_conversation(tracker, provider, cid, lambda: None)
    return list(memory.get_finished_spans())


def is_root(span: ReadableSpan) -> bool:
    """Whether the span is an interaction or visit root."""
    return (span.attributes or {}).get(sc.SPAN_KIND) in sc.ROOT_KINDS


def otlp_protobuf(spans: Sequence[ReadableSpan]) -> bytes:
    """The OTLP/HTTP protobuf body the SDK's exporter would send."""
    data: bytes = encode_spans(spans).SerializeToString()
    return data


def otlp_json(spans: Sequence[ReadableSpan]) -> bytes:
    """The OTLP/JSON body: hex ids, enums as integers, as the spec wants."""
    document = json_format.MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                _hex_ids(span)
                for link in span.get("links", []):
                    _hex_ids(link)
    return json.dumps(document).encode()


def _hex_ids(item: dict[str, Any]) -> None:
    """base64 ids (protobuf's JSON mapping) → hex (OTLP/JSON)."""
    for key in ("traceId", "spanId", "parentSpanId"):
        if key in item:
            item[key] = base64.b64decode(item[key]).hex()


def request_with(spans: Sequence[Mapping[str, Any]]) -> ExportTraceServiceRequest:
    """A request holding hand-written spans (as ParseDict dicts) under one resource and scope."""
    document = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}
    return json_format.ParseDict(document, ExportTraceServiceRequest())


class BlockingTransport(ScriptedTransport):
    """Ingest posts wait until released, so the bridge's intake stays full on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.posting = threading.Event()

    def request(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        """Block ingest posts until ``release`` is set."""
        if url.endswith(INGEST):
            self.posting.set()
            self.release.wait(30)
        return super().request(method, url, body, headers, timeout)
