"""``conversation(...)`` and ``get_or_create_conversation`` stamp every span started inside."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentsight_otel import AgentSightSpanExporter, ConversationTracker, conversation
from agentsight_otel import _semconv as sc
from agentsight_otel._current import ensure_stamping
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.exceptions import ValidationError
from agentsight_otel.testing import TEST_API_KEY, FakeClock, ScriptedTransport


@pytest.fixture
def spans(clean_otel_context: None) -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    ensure_stamping(provider)
    ensure_stamping(provider)  # once per provider, however often asked
    yield provider, memory
    provider.shutdown()


def attributes_of(memory: InMemorySpanExporter) -> dict[str, dict[str, object]]:
    return {s.name: dict(s.attributes or {}) for s in memory.get_finished_spans()}


def test_spans_inside_carry_the_conversation_and_its_fields_and_spans_outside_do_not(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, memory = spans
    tracer = provider.get_tracer("any.instrumentation")
    with conversation("c-1", customer_id="u-7", metadata={"plan": "pro"}) as cid:
        with tracer.start_as_current_span("inside"):
            pass
        with conversation("c-2"), tracer.start_as_current_span("nested"):
            pass
        with tracer.start_as_current_span("inside again"):
            pass
    with tracer.start_as_current_span("outside"):
        pass
    seen = attributes_of(memory)
    assert cid == "c-1"
    assert seen["inside"] == {
        sc.CONVERSATION_ID: "c-1",
        sc.GEN_AI_CONVERSATION_ID: "c-1",
        sc.SESSION_ID: "c-1",
        "agentsight.conversation.customer_id": "u-7",
        "agentsight.conversation.metadata": '{"plan":"pro"}',
    }
    assert seen["nested"][sc.CONVERSATION_ID] == "c-2"
    assert seen["inside again"][sc.CONVERSATION_ID] == "c-1"
    assert seen["outside"] == {}


def test_a_span_naming_its_own_conversation_keeps_it(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, memory = spans
    with conversation("c-1"):
        own = {sc.CONVERSATION_ID: "other"}
        with provider.get_tracer("t").start_as_current_span("own", attributes=own):
            pass
    assert attributes_of(memory)["own"] == {sc.CONVERSATION_ID: "other"}


def test_as_a_decorator_of_sync_and_async_functions_each_call_is_inside(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, memory = spans
    tracer = provider.get_tracer("t")

    @conversation("sync-1")
    def answer() -> str:
        with tracer.start_as_current_span("sync"):
            return "ok"

    @conversation()
    async def answer_async() -> str:
        with tracer.start_as_current_span("async"):
            return "ok"

    assert answer() == "ok"
    assert asyncio.run(answer_async()) == "ok"
    seen = attributes_of(memory)
    assert seen["sync"][sc.CONVERSATION_ID] == "sync-1"
    generated = seen["async"][sc.CONVERSATION_ID]
    assert isinstance(generated, str) and generated  # no id: a new conversation per call


def test_bad_input_is_refused_at_the_call() -> None:
    with pytest.raises(ValidationError):
        conversation("   ")
    with pytest.raises(ValidationError):
        conversation("c", customer_ip_address="not an ip")


def test_get_or_create_conversation_has_the_same_effect(clean_otel_context: None) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()  # the tracker adds the stamper itself
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracker = ConversationTracker(
        tracer_provider=provider,
        _ledger=DeliveryLedger(),
        api_key=TEST_API_KEY,
        endpoint="https://agentsight.test",
        _transport=ScriptedTransport(),
    )
    tracker.get_or_create_conversation("tracked-1", device="mobile")
    with provider.get_tracer("llm.client").start_as_current_span("chat"):
        pass
    seen = attributes_of(memory)["chat"]
    assert seen[sc.CONVERSATION_ID] == "tracked-1"
    assert seen["agentsight.conversation.device"] == "mobile"


def test_the_exporter_names_the_capture_setting_once_at_info(
    caplog: pytest.LogCaptureFixture, clean_otel_context: None
) -> None:
    transport = ScriptedTransport()
    exporter = AgentSightSpanExporter(
        api_key=TEST_API_KEY,
        endpoint="https://agentsight.test",
        _transport=transport,
        _clock=FakeClock(),
        _ledger=DeliveryLedger(),
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    caplog.set_level(logging.INFO, logger="agentsight_otel")
    usage = {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 3, "session.id": "s"}
    for _ in range(2):
        with provider.get_tracer("opentelemetry.instrumentation.openai_v2").start_as_current_span(
            "chat m", attributes=usage
        ):
            pass
        assert exporter.force_flush(5_000)
    provider.shutdown()
    told = [r for r in caplog.records if "CAPTURE_MESSAGE_CONTENT=span_only" in r.getMessage()]
    assert len(told) == 1 and told[0].levelno == logging.INFO
    kinds = [
        s["kind"]
        for b in transport.bodies("/api/ingest/")
        for c in b["conversations"]
        for s in c["spans"]
    ]
    assert sorted(kinds) == ["llm", "llm", "turn", "turn"]
