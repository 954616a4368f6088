"""``conversation(...)`` and ``get_or_create_conversation`` stamp every span started inside."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import tracemalloc
from collections.abc import AsyncIterator, Iterator

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


def test_decorated_generators_and_async_generators_run_inside_the_conversation(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    # Issue 18: the wrapper returned the stream before its body ran, outside the conversation.
    provider, memory = spans
    tracer = provider.get_tracer("t")

    @conversation("stream-1")
    def words() -> Iterator[str]:
        for n in range(2):
            with tracer.start_as_current_span(f"sync-{n}"):
                yield f"w{n}"

    @conversation()
    async def async_words() -> AsyncIterator[str]:
        for n in range(2):
            with tracer.start_as_current_span(f"async-{n}"):
                yield f"a{n}"

    async def consume() -> list[str]:
        got = []
        async for word in async_words():
            with tracer.start_as_current_span("consumer-async"):
                got.append(word)
        return got

    got = []
    for word in words():
        with tracer.start_as_current_span("consumer"):  # between items: not inside
            got.append(word)
    assert got == ["w0", "w1"]
    assert asyncio.run(consume()) == ["a0", "a1"]
    seen = attributes_of(memory)
    assert seen["sync-0"][sc.CONVERSATION_ID] == seen["sync-1"][sc.CONVERSATION_ID] == "stream-1"
    generated = seen["async-0"][sc.CONVERSATION_ID]
    assert generated and seen["async-1"][sc.CONVERSATION_ID] == generated  # one per stream
    assert seen["consumer"] == seen["consumer-async"] == {}


def test_entering_a_conversation_many_times_in_one_thread_retains_nothing(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    # Issue 18: each conversation(...) made a ContextVar and left it set in the thread's
    # context: 20,000 entries (about 2.2 MB) for 20,000 requests of a sync web worker.
    retained: list[int] = []

    def worker() -> None:
        with conversation("warm-up"):
            pass
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for n in range(20_000):
                with conversation(f"request-{n % 7}", customer_id="u"):
                    pass
            gc.collect()
            retained.append(tracemalloc.get_traced_memory()[0] - before)
        finally:
            tracemalloc.stop()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert retained and retained[0] < 50_000, retained


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
