"""GenAI message events written as log records (the official instrumentations' event modes).

The records are shaped as openai-v2 2.4b0 writes them: old conventions, one record per message
(``message_to_event`` / ``choice_to_event``: the content in the body, no timestamp); latest
conventions (util-genai 1.1b0), one ``gen_ai.client.inference.operation.details`` record with
structured ``gen_ai.input.messages`` / ``gen_ai.output.messages``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from agentsight_otel import AgentSightLogExporter, AgentSightSpanExporter
from agentsight_otel import _semconv as sc
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._export.assembler import TraceAssembler
from agentsight_otel._mapping.logevents import LogEvent, log_event
from agentsight_otel._mapping.payload import TraceGroup
from agentsight_otel._mapping.records import SpanRecord
from agentsight_otel.testing import TEST_API_KEY, FakeClock, ScriptedTransport
from tests.genai.records import (
    HISTORY,
    OPENAI_V2,
    SYSTEM,
    T0,
    agent,
    build,
    chat,
    event_mode_turn,
    span,
    text,
    transcript,
)

SCOPE = OPENAI_V2
WANTED = [("end_user", "Weather?"), ("agent", "Sunny.")]


def bare_chat(span_id: int, parent: int | None, *, trace_id: int = 0xABC) -> SpanRecord:
    """A model call as an event mode records it: usage, no messages on the span."""
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "test-model",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 5,
    }
    return span(
        span_id, parent, name="chat test-model", attributes=attributes, start_ms=1, end_ms=8,
        trace_id=trace_id,
    )  # fmt: skip


def legacy_records(span_id: int, *, trace_id: int = 0xABC, t: int = T0) -> list[LogEvent]:
    """The old-convention records of one call: the history resent, then the choice."""
    records = [
        log_event(trace_id, span_id, f"gen_ai.{role}.message", t + i, SYSTEM, {"content": c}, SCOPE)
        for i, (role, c) in enumerate(HISTORY)
    ]
    choice = {
        "index": 0,
        "finish_reason": "stop",
        "message": {"role": "assistant", "content": "Sunny."},
    }
    records.append(log_event(trace_id, span_id, "gen_ai.choice", t + 9, SYSTEM, choice, SCOPE))
    return [r for r in records if r is not None]


def details_record(span_id: int, *, trace_id: int = 0xABC) -> LogEvent:
    """The latest conventions' one record per call, messages structured."""
    attributes = {
        "gen_ai.operation.name": "chat",
        sc.GEN_AI_INPUT_MESSAGES: [text(role, c) for role, c in HISTORY],
        sc.GEN_AI_OUTPUT_MESSAGES: [{**text("assistant", "Sunny."), "finish_reason": "stop"}],
    }
    scope = "opentelemetry.util.genai.handler"
    event = log_event(trace_id, span_id, sc.OPERATION_DETAILS_EVENT, T0, attributes, None, scope)
    assert event is not None
    return event


def span_mode() -> list[tuple[str, str]]:
    """The transcript of the same call with its messages on the span (span_only)."""
    call = chat(2, 1, [text(r, c) for r, c in HISTORY], [text("assistant", "Sunny.")],
                start_ms=1, end_ms=8)  # fmt: skip
    block, _ = build([agent(1, end_ms=10), call])
    return transcript(block)


def released(groups: Sequence[TraceGroup]) -> list[tuple[str, str]]:
    """The transcript of released groups, mapped as the exporter maps them."""
    (group,) = groups
    block, _ = build(group.records, group.conversation_id)
    return transcript(block)


def assembler(expect_logs: bool = True) -> TraceAssembler:
    made = TraceAssembler(log_grace=2.0, hint=lambda trace_id: "c1")
    made.expect_logs = expect_logs
    return made


@pytest.mark.parametrize("records", [legacy_records(2), [details_record(2)]])
def test_log_records_give_the_span_mode_transcript(records: list[LogEvent]) -> None:
    work = assembler()
    assert work.add_logs(records, 0.0) == []  # no spans yet: they wait
    groups = work.add([bare_chat(2, 1), agent(1, end_ms=10)], 0.5)
    assert released(groups) == span_mode() == WANTED


def test_a_trace_waits_for_its_records_and_goes_out_when_the_answer_comes() -> None:
    work = assembler()
    assert work.add([bare_chat(2, 1), agent(1, end_ms=10)], 0.0) == []
    records = legacy_records(2)
    assert work.add_logs(records[:-1], 0.5) == []  # the history, but not the answer yet
    assert released(work.add_logs(records[-1:], 0.6)) == WANTED
    assert work.pending_spans == work.pending_logs == 0


def test_the_wait_is_bounded_by_the_grace_on_the_injected_clock() -> None:
    work = assembler()
    assert work.add([bare_chat(2, 1), agent(1, end_ms=10)], 10.0) == []
    assert work.expire(11.9) == []
    groups = work.expire(12.0)
    assert released(groups) == []  # no records came: the turn goes out without a transcript
    assert [r.name for r in groups[0].records] == ["chat test-model", "invoke_agent"]


def test_records_after_the_grace_are_counted_as_late() -> None:
    work = assembler()
    work.add([bare_chat(2, 1), agent(1, end_ms=10)], 0.0)
    work.expire(2.0)
    assert work.add_logs(legacy_records(2), 3.0) == []
    assert work.drain() == []
    assert work.late_logs == len(HISTORY) + 1


def test_without_a_log_source_nothing_waits() -> None:
    work = assembler(expect_logs=False)
    (group,) = work.add([bare_chat(2, 1), agent(1, end_ms=10)], 0.0)
    assert len(group.records) == 2


@pytest.mark.parametrize(
    "records",
    [
        # Messages on the span (span_only): nothing to wait for.
        [chat(2, 1, [text("user", "Hi")], [text("assistant", "Yo")], start_ms=1, end_ms=8)],
        # An instrumentation not known to write log records.
        [span(2, 1, attributes={"gen_ai.operation.name": "chat"}, scope="my.framework")],
        # Tool calls, embeddings and tracker spans are not model calls with messages.
        [span(2, 1, attributes={"gen_ai.operation.name": "execute_tool"})],
        [span(2, 1, attributes={"gen_ai.operation.name": "embeddings"})],
    ],
)
def test_traces_that_can_get_no_message_records_never_wait(records: list[SpanRecord]) -> None:
    work = assembler()
    (group,) = work.add([*records, agent(1, end_ms=10)], 0.0)
    assert len(group.records) == 2


def test_a_scope_seen_writing_records_is_waited_for_from_then_on() -> None:
    work = assembler()
    other = "my.framework"
    call = span(2, 1, attributes={"gen_ai.operation.name": "chat"}, scope=other)
    seen = log_event(0xDEF, 5, "gen_ai.user.message", T0, {}, {"content": "x"}, other)
    assert seen is not None
    work.add_logs([seen], 0.0)
    assert work.add([call, agent(1, end_ms=10)], 0.0) == []


def test_a_retried_record_counts_once() -> None:
    work = assembler()
    records = legacy_records(2)
    work.add_logs(records, 0.0)
    work.add_logs(records, 0.1)  # the same records again (an OTLP retry)
    groups = work.add([bare_chat(2, 1), agent(1, end_ms=10)], 0.2)
    assert released(groups) == WANTED


def test_records_of_a_span_still_to_come_wait_for_it() -> None:
    work = assembler()
    work.add_logs(legacy_records(7), 0.0)  # the next turn's call, in the same trace
    work.add([bare_chat(2, 1), agent(1, end_ms=10)], 0.0)
    work.add_logs(legacy_records(2), 0.1)
    assert work.pending_logs == len(HISTORY) + 1
    assert released(work.add([bare_chat(7, 6), agent(6, end_ms=10)], 0.2)) == WANTED


def test_closing_the_last_log_source_releases_what_waits() -> None:
    work = assembler()
    work.add([bare_chat(2, 1), agent(1, end_ms=10)], 0.0)
    (group,) = work.stop_expecting_logs()
    assert len(group.records) == 2
    (after,) = work.add([bare_chat(4, 3, trace_id=9), agent(3, end_ms=10, trace_id=9)], 0.0)
    assert len(after.records) == 2  # nothing waits any more


@pytest.mark.parametrize(
    ("name", "attributes", "body"),
    [
        ("app.started", {}, "hello"),  # an application's own log record
        (None, {}, "a plain log line"),
        ("gen_ai.client.operation.duration", {}, None),
    ],
)
def test_records_without_messages_are_dropped(
    name: str | None, attributes: dict[str, Any], body: object
) -> None:
    assert log_event(1, 2, name, T0, attributes, body, SCOPE) is None


def test_records_without_a_span_are_dropped() -> None:
    assert log_event(0, 0, "gen_ai.user.message", T0, {}, {"content": "Hi"}, SCOPE) is None


def test_the_event_name_attribute_of_older_sdks_is_read() -> None:
    event = log_event(1, 2, None, T0, {"event.name": "gen_ai.user.message"}, {"content": "Hi"}, "")
    assert event is not None
    assert event.event.name == "gen_ai.user.message"
    assert event.event.attributes["content"] == "Hi"


# The SDK route: a LoggerProvider's records reach the span exporter's traces.


@pytest.fixture
def wired() -> Iterator[tuple[AgentSightSpanExporter, ScriptedTransport, FakeClock]]:
    """A span exporter on a scripted backend and a fake clock; shut down after the test."""
    transport, clock = ScriptedTransport(), FakeClock()
    exporter = AgentSightSpanExporter(
        api_key=TEST_API_KEY,
        endpoint="http://agentsight.test",
        _transport=transport,
        _clock=clock,
        _ledger=DeliveryLedger(),
    )
    yield exporter, transport, clock
    exporter.shutdown()


def _call(tracer_provider: TracerProvider, logs: LoggerProvider) -> None:
    """One agent turn whose model call writes old-convention records (no timestamps)."""
    event_mode_turn(tracer_provider.get_tracer(SCOPE), logs.get_logger(SCOPE), "log-conv")


def _messages(transport: ScriptedTransport) -> list[tuple[str, str]]:
    return [
        (e["attributes"][sc.MESSAGE_SENDER], e["attributes"][sc.MESSAGE_CONTENT])
        for body in transport.bodies()
        for block in body["conversations"]
        for s in block["spans"]
        for e in s["events"]
        if e["name"] == sc.MESSAGE_EVENT
    ]


def _providers(
    exporter: AgentSightSpanExporter, log_exporter: AgentSightLogExporter
) -> tuple[TracerProvider, LoggerProvider]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    return tracer_provider, logs


def test_the_sdk_log_exporter_feeds_the_span_exporters_traces(wired: Any) -> None:
    exporter, transport, _ = wired
    tracer_provider, logs = _providers(exporter, exporter.log_exporter())
    _call(tracer_provider, logs)
    logs.shutdown()
    exporter.force_flush()
    assert _messages(transport) == WANTED


def test_spans_first_wait_for_the_records_and_shutting_logs_down_releases_them(
    wired: Any,
) -> None:
    exporter, transport, _ = wired
    log_exporter = AgentSightLogExporter()  # OTEL_LOGS_EXPORTER=agentsight: the latest exporter
    tracer_provider, _ = _providers(exporter, log_exporter)
    tracer = tracer_provider.get_tracer(SCOPE)
    call = {"gen_ai.operation.name": "chat", "gen_ai.conversation.id": "held"}
    with tracer.start_as_current_span("chat test-model", attributes=call):
        pass
    assert exporter.pending()[0] == 1  # held: its records may still come
    assert exporter.wait_delivered(5)
    assert transport.bodies() == []
    log_exporter.shutdown()  # no more records can come: it goes out now
    assert exporter.wait_delivered(5)
    assert len(transport.bodies()) == 1


def test_otel_logs_exporter_agentsight_names_the_log_exporter() -> None:
    from importlib.metadata import entry_points

    (found,) = entry_points(group="opentelemetry_logs_exporter", name="agentsight")
    assert found.load() is AgentSightLogExporter
