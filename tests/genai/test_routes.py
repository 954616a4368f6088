"""GenAI traces by both routes: the bridge sends the in-process exporter's bodies byte for byte.

Spans are shaped as the real instrumentations write them (tests/genai/test_instrumentations.py
runs those): an agent invocation with a model call and a tool, a lone model call resending the
history, and a mixed app whose tracked interaction holds instrumented model and tool spans.
Redaction is on for both routes (the bridge's from its settings: --redact-pii).
"""

from __future__ import annotations

import json
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

from agentsight_otel import AgentSightSpanExporter, ConversationTracker, conversation
from agentsight_otel._bridge.runner import Bridge
from agentsight_otel._config import resolve_settings
from agentsight_otel._current import ensure_stamping
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.testing import TEST_API_KEY, ScriptedTransport
from tests.bridge.helpers import ENDPOINT, bridge_config, ingest_bodies

OtlpFactory = Callable[[Bridge], SpanExporter]
ROUTES: dict[str, OtlpFactory] = {
    "http": lambda bridge: HttpSpanExporter(endpoint=f"{bridge.http_url}/v1/traces"),
    "grpc": lambda bridge: GrpcSpanExporter(endpoint=bridge.grpc_target, insecure=True),
}


def messages(*pairs: tuple[str, str]) -> str:
    """``gen_ai.*.messages`` JSON as the official instrumentation writes it."""
    return json.dumps([{"role": r, "parts": [{"type": "text", "content": c}]} for r, c in pairs])


def chat(tracer: object, sent: str, answered: str, tokens: int) -> None:
    """One model call span with its content and usage."""
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "test-model",
        "gen_ai.usage.input_tokens": tokens,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.input.messages": sent,
        "gen_ai.output.messages": answered,
    }
    with tracer.start_as_current_span("chat test-model", attributes=attributes):  # type: ignore[attr-defined]
        pass


def tool(tracer: object, arguments: str) -> None:
    """An ``execute_tool`` span."""
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "send_mail",
        "gen_ai.tool.call.arguments": arguments,
        "gen_ai.tool.call.result": "sent",
    }
    with tracer.start_as_current_span("execute_tool send_mail", attributes=attributes):  # type: ignore[attr-defined]
        pass


def run_app(
    provider: TracerProvider, tracker: ConversationTracker, flush: Callable[[], None]
) -> None:
    """Two GenAI turns under conversation(), then a mixed tracked interaction; flush after each."""
    tracer = provider.get_tracer("app")
    with conversation("genai-routes", customer_id="u-1", source="web"):
        invoke = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "mailer"}
        with tracer.start_as_current_span("invoke_agent mailer", attributes=invoke):
            chat(tracer, messages(("user", "Mail ann@example.com")), messages(), 10)
            tool(tracer, '{"to": "ann@example.com"}')
            sent = messages(("user", "Mail ann@example.com"))
            chat(tracer, sent, messages(("assistant", "Done.")), 30)
        flush()
        history = messages(
            ("user", "Mail ann@example.com"), ("assistant", "Done."), ("user", "Thanks")
        )
        chat(tracer, history, messages(("assistant", "Anytime.")), 50)
        flush()
    tracker.get_or_create_conversation("mixed-routes")
    tracker.track_human_message("Where is my order?")
    chat(tracer, messages(("user", "Where is my order?")), messages(("assistant", "Shipped.")), 10)
    tool(tracer, '{"to": "bob@example.com"}')
    tracker.track_agent_message("Shipped.")
    tracker.send_tracked_data()
    flush()


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_genai_traces_map_byte_for_byte_by_both_routes(route: str) -> None:
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint=ENDPOINT, redact=True)
    bridge_backend, in_process_backend = ScriptedTransport(), ScriptedTransport()
    bridge = Bridge(bridge_config(), settings=settings, transport=bridge_backend).start()
    ledger = DeliveryLedger()
    in_process = AgentSightSpanExporter(
        _settings=settings, _transport=in_process_backend, _ledger=ledger
    )
    otlp = ROUTES[route](bridge)
    provider = TracerProvider(resource=Resource.create({"service.name": "mailer"}))
    provider.add_span_processor(SimpleSpanProcessor(in_process))
    provider.add_span_processor(SimpleSpanProcessor(otlp))
    ensure_stamping(provider)
    tracker = ConversationTracker(
        tracer_provider=provider,
        _ledger=ledger,
        api_key=TEST_API_KEY,
        endpoint=ENDPOINT,
        _transport=ScriptedTransport(),
    )

    def flush() -> None:
        assert in_process.force_flush(10_000)
        assert bridge.flush(10)

    try:
        run_app(provider, tracker, flush)
    finally:
        provider.shutdown()
        bridge.stop(5.0)
    expected = ingest_bodies(in_process_backend)
    assert ingest_bodies(bridge_backend) == expected
    assert not any(b"@example.com" in body for body in expected)
    blocks = [b for body in expected for b in json.loads(body)["conversations"]]
    transcript: dict[str, list[str]] = {}
    kinds: dict[str, list[str]] = {}
    for block in blocks:
        spans = block["spans"]
        turns = [s for s in spans if s["kind"] == "turn"]
        said = [e["attributes"]["agentsight.message.content"] for s in turns for e in s["events"]]
        transcript.setdefault(block["conversation_id"], []).extend(said)
        kinds.setdefault(block["conversation_id"], []).extend(s["kind"] for s in spans)
    assert transcript == {
        "genai-routes": ["Mail [redacted-email]", "Done.", "Thanks", "Anytime."],
        # The mixed app: the tracker's messages once, the instrumented call's never again.
        "mixed-routes": ["Where is my order?", "Shipped."],
    }
    assert sorted(kinds["genai-routes"]) == ["llm", "llm", "llm", "tool", "turn", "turn"]
    assert sorted(kinds["mixed-routes"]) == ["llm", "tool", "turn"]


def test_the_bridge_redacts_when_told_by_flag_or_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import argparse

    from agentsight_otel._bridge.options import add_bridge_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_bridge_arguments(parser)
    monkeypatch.delenv("AGENTSIGHT_REDACT_PII", raising=False)
    assert config_from_args(parser.parse_args([]))[1].redact is None
    assert config_from_args(parser.parse_args(["--redact-pii"]))[1].redact is not None
    monkeypatch.setenv("AGENTSIGHT_REDACT_PII", "1")
    assert config_from_args(parser.parse_args([]))[1].redact is not None
    assert "AGENTSIGHT_REDACT_PII" in parser.format_help()
