"""Edges where third-party instrumentation meets the mapping (issue 11, item 6)."""

from __future__ import annotations

from agentsight_otel import _semconv as sc
from agentsight_otel._ids import hex_span_id
from agentsight_otel._mapping.records import EventRecord, SpanRecord
from tests.genai.records import MS, T0, agent, build, chat, of_kind, span, text

TURN = {sc.SPAN_KIND: "turn", sc.CONVERSATION_ID: "c1"}


def _framework_call(span_id: int, parent: int | None, **usage: object) -> object:
    """An outer model-call span as a framework instrumentation (OpenInference) records it."""
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "test-model",
        "llm.token_count.prompt": 100,
        "llm.token_count.completion": 5,
        **usage,
    }
    return span(span_id, parent, name="ChatModel", attributes=attributes, start_ms=1, end_ms=50)


def test_nested_instrumentations_merge_the_outer_cache_counts_into_the_one_call() -> None:
    outer = _framework_call(
        2,
        1,
        **{
            "llm.token_count.prompt_details.cache_read": 60,
            "llm.token_count.prompt_details.cache_write": 10,
        },
    )
    inner = chat(3, 2, [text("user", "Hi")], [text("assistant", "Yo")], start_ms=2, end_ms=40)
    inner.attributes["gen_ai.usage.input_tokens"] = 100  # includes the cached tokens
    block, _ = build([agent(1, end_ms=60), outer, inner])
    (llm,) = of_kind(block, "llm")
    attributes = llm["attributes"]
    assert attributes[sc.CACHE_READ_TOKENS] == 60
    assert attributes[sc.CACHE_WRITE_TOKENS] == 10
    assert attributes["gen_ai.usage.input_tokens"] == 30  # uncached, as the contract counts
    assert attributes["gen_ai.usage.output_tokens"] == 5


def test_an_outer_sum_over_several_calls_is_not_merged_into_either() -> None:
    outer = _framework_call(2, 1, **{"llm.token_count.prompt_details.cache_read": 60})
    first = chat(3, 2, [text("user", "Hi")], [text("assistant", "a")], start_ms=2, end_ms=10)
    second = chat(4, 2, [text("user", "Hi")], [text("assistant", "b")], start_ms=11, end_ms=20)
    block, _ = build([agent(1, end_ms=60), outer, first, second])
    calls = of_kind(block, "llm")
    assert len(calls) == 2
    assert all(sc.CACHE_READ_TOKENS not in c["attributes"] for c in calls)


def test_usage_is_filed_under_the_model_that_answered_and_the_asked_one_is_kept() -> None:
    extra = {"gen_ai.response.model": "test-model-2025-01-01"}
    call = chat(
        1,
        None,
        [text("user", "Hi")],
        [text("assistant", "Yo")],
        start_ms=0,
        end_ms=9,
        attributes=extra,
    )
    block, _ = build([call])
    (llm,) = of_kind(block, "llm")
    assert llm["name"] == "test-model-2025-01-01"
    assert llm["attributes"]["gen_ai.request.model"] == "test-model-2025-01-01"
    assert llm["attributes"][sc.REQUESTED_MODEL] == "test-model"


def test_a_tool_span_without_a_turn_id_takes_its_parent_turn() -> None:
    tool = {sc.SPAN_KIND: "tool", sc.CONVERSATION_ID: "c1", sc.TOOL_NAME: "lookup"}
    records = [
        span(1, None, name="turn", attributes=TURN, end_ms=100, scope="agentsight_otel"),
        span(2, 1, name="lookup", attributes=tool, start_ms=5, end_ms=9, scope="vendor"),
    ]
    block, _ = build(records)
    (action,) = of_kind(block, "tool")
    assert action["attributes"][sc.TURN_ID] == hex_span_id(1)


def test_a_tool_span_whose_parent_is_not_a_turn_gets_no_invented_turn() -> None:
    tool = {sc.SPAN_KIND: "tool", sc.CONVERSATION_ID: "c1", sc.TOOL_NAME: "lookup"}
    records = [
        span(1, None, name="turn", attributes=TURN, end_ms=100, scope="agentsight_otel"),
        span(2, None, name="lookup", attributes=tool, start_ms=5, end_ms=9, scope="vendor"),
    ]
    block, _ = build(records)
    (action,) = of_kind(block, "tool")
    assert sc.TURN_ID not in action["attributes"]


def _tracked_turn_with_usage(input_tokens: int) -> list[SpanRecord]:
    """A tracked turn whose ``track_token_usage`` matches (or not) its instrumented call."""
    usage = EventRecord(
        sc.USAGE_EVENT,
        T0 + 30 * MS,
        {
            "gen_ai.request.model": "test-model",
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": 5,
        },
    )
    turn = span(1, None, name="turn", attributes=TURN, events=[usage], end_ms=100, scope="ours")
    call = chat(2, 1, [text("user", "Hi")], [text("assistant", "Yo")], start_ms=2, end_ms=20)
    return [turn, call]


def test_track_token_usage_for_an_instrumented_call_counts_it_once_and_says_so() -> None:
    block, builder = build(_tracked_turn_with_usage(10))
    (llm,) = of_kind(block, "llm")
    assert llm["attributes"]["gen_ai.usage.input_tokens"] == 10
    assert llm["attributes"][sc.TURN_ID] == hex_span_id(1)
    assert any("track_token_usage" in notice for notice in builder.notices)


def test_track_token_usage_for_another_call_counts_both() -> None:
    block, builder = build(_tracked_turn_with_usage(99))
    assert len(of_kind(block, "llm")) == 2
    assert not any("track_token_usage" in notice for notice in builder.notices)
