"""GenAI-shaped records → turns, transcript, actions and usage (pure mapping)."""

from __future__ import annotations

import json

from agentsight_otel import _semconv as sc
from agentsight_otel._ids import derived_span_id, hex_span_id
from agentsight_otel._mapping.identity import ranked_conversation
from agentsight_otel._mapping.records import EventRecord
from agentsight_otel._redaction import Redactor
from tests.genai.records import (
    MS,
    T0,
    agent,
    build,
    chat,
    of_kind,
    span,
    text,
    tool_call,
    tool_result,
    transcript,
)

SYSTEM = text("system", "Be brief.")


def test_identity_keys_are_read_strongest_first() -> None:
    attributes = {
        "traceloop.association.properties.session_id": "t",
        "langfuse.session.id": "l",
        "session.id": "s",
        "gen_ai.conversation.id": "g",
    }
    assert ranked_conversation(attributes) == (1, "g")
    assert ranked_conversation({**attributes, sc.CONVERSATION_ID: "a"}) == (0, "a")
    del attributes["gen_ai.conversation.id"]
    assert ranked_conversation(attributes) == (2, "s")
    del attributes["session.id"]
    assert ranked_conversation(attributes) == (3, "l")
    del attributes["langfuse.session.id"]
    assert ranked_conversation(attributes) == (4, "t")
    assert ranked_conversation({"session.id": ""}) is None


def test_a_lone_model_call_is_a_complete_turn_with_its_usage_under_a_derived_id() -> None:
    call = chat(
        1, None, [SYSTEM, text("user", "Hi")], [text("assistant", "Hello!")], start_ms=0, end_ms=40
    )
    block, _ = build([call])
    (turn,) = of_kind(block, "turn")
    assert turn["span_id"] == hex_span_id(1)
    assert turn["attributes"][sc.TURN_COMPLETE] is True
    assert turn["attributes"][sc.TURN_ID] == hex_span_id(1)
    assert turn["duration_ms"] == 40.0
    assert transcript(block) == [("end_user", "Hi"), ("agent", "Hello!")]
    user, agent = turn["events"]
    assert user["timestamp"] == turn["started_at"]
    assert agent["timestamp"] == turn["ended_at"]
    (llm,) = of_kind(block, "llm")
    assert llm["span_id"] == hex_span_id(derived_span_id(0xABC, 1, 0))
    assert llm["attributes"][sc.TURN_ID] == hex_span_id(1)
    assert llm["attributes"]["gen_ai.usage.input_tokens"] == 10
    # The whole history never rides on the wire: only what the transcript takes from it.
    assert sc.GEN_AI_INPUT_MESSAGES not in json.dumps(block)


def test_an_agent_invocation_is_one_turn_with_tools_and_one_usage_per_call() -> None:
    question = text("user", "Weather in Paris?")
    ask = tool_call("call_1", "get_weather", {"city": "Paris"})
    records = [
        span(
            1,
            None,
            name="invoke_agent weather",
            attributes={"gen_ai.operation.name": "invoke_agent"},
            start_ms=0,
            end_ms=100,
        ),
        chat(2, 1, [SYSTEM, question], [ask], start_ms=1, end_ms=20),
        span(
            3,
            1,
            name="execute_tool get_weather",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
                "gen_ai.tool.call.arguments": '{"city": "Paris"}',
                "gen_ai.tool.call.result": "sunny",
            },
            start_ms=21,
            end_ms=46,
        ),
        chat(
            4,
            1,
            [SYSTEM, question, ask, tool_result("call_1", "sunny")],
            [text("assistant", "Sunny.")],
            start_ms=50,
            end_ms=90,
            input_tokens=30,
        ),
    ]
    block, _ = build(records)
    (turn,) = of_kind(block, "turn")
    assert turn["span_id"] == hex_span_id(1)
    assert transcript(block) == [("end_user", "Weather in Paris?"), ("agent", "Sunny.")]
    assert (
        turn["events"][1]["timestamp"] == block["spans"][-1]["ended_at"]
    )  # the answering call's end
    (tool,) = of_kind(block, "tool")
    assert tool["name"] == "get_weather"
    assert tool["duration_ms"] == 25.0
    assert tool["parent_span_id"] == hex_span_id(1)
    assert tool["attributes"][sc.TOOL_ARGUMENTS] == '{"city":"Paris"}'
    assert tool["attributes"][sc.TOOL_RESPONSE] == "sunny"
    assert tool["attributes"][sc.TURN_ID] == hex_span_id(1)
    llms = of_kind(block, "llm")
    assert [s["span_id"] for s in llms] == [hex_span_id(2), hex_span_id(4)]
    assert {s["attributes"][sc.TURN_ID] for s in llms} == {hex_span_id(1)}


def test_resent_history_is_never_sent_twice() -> None:
    first = chat(
        1,
        None,
        [SYSTEM, text("user", "Hi")],
        [text("assistant", "Hello!")],
        start_ms=0,
        end_ms=10,
        trace_id=1,
    )
    history = [
        SYSTEM,
        text("user", "Hi"),
        text("assistant", "Hello!"),
        text("user", "Bye"),
        text("user", "Really"),
    ]
    second = chat(
        2, None, history, [text("assistant", "Goodbye.")], start_ms=20, end_ms=30, trace_id=2
    )
    block, _ = build([first, second])
    assert transcript(block) == [
        ("end_user", "Hi"),
        ("agent", "Hello!"),
        ("end_user", "Bye"),
        ("end_user", "Really"),
        ("agent", "Goodbye."),
    ]
    # Each turn alone gives the same messages: nothing is remembered between them.
    assert transcript(build([second])[0]) == transcript(block)[2:]


def test_a_failed_invocation_is_an_incomplete_turn_and_a_failed_tool_an_error_action() -> None:
    records = [
        span(
            1,
            None,
            name="invoke_agent a",
            attributes={"gen_ai.operation.name": "invoke_agent"},
            status="error",
            start_ms=0,
            end_ms=50,
        ),
        span(
            2,
            1,
            name="execute_tool lookup",
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
            status="error",
            events=[
                EventRecord(
                    "exception",
                    T0 + 5 * MS,
                    {"exception.type": "KeyError", "exception.message": "order 7"},
                )
            ],
            start_ms=1,
            end_ms=9,
        ),
    ]
    block, _ = build(records)
    (turn,) = of_kind(block, "turn")
    assert turn["attributes"][sc.TURN_COMPLETE] is False
    assert turn["attributes"][sc.TURN_INCOMPLETE_REASON] == "error"
    (tool,) = of_kind(block, "tool")
    assert tool["status"] == "error"
    assert tool["attributes"][sc.TOOL_ERROR] == "KeyError: order 7"


def test_openinference_flattened_messages_tool_span_and_session() -> None:
    llm = {
        "openinference.span.kind": "LLM",
        "session.id": "s-1",
        "llm.model_name": "test-model",
        "llm.token_count.prompt": 20,
        "llm.token_count.completion": 5,
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "Be brief.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.contents.0.message_content.type": "text",
        "llm.input_messages.1.message.contents.0.message_content.text": "Look up order 7",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "Order 7 shipped.",
    }
    records = [
        span(
            1,
            None,
            name="agent",
            attributes={"openinference.span.kind": "AGENT", "session.id": "s-1"},
            start_ms=0,
            end_ms=60,
            scope="openinference.instrumentation.x",
        ),
        span(
            2,
            1,
            name="lookup",
            attributes={
                "openinference.span.kind": "TOOL",
                "tool.name": "lookup",
                "input.value": '{"order": 7}',
                "output.value": "shipped",
            },
            start_ms=5,
            end_ms=15,
        ),
        span(3, 1, name="ChatCompletion", attributes=llm, start_ms=20, end_ms=50),
    ]
    block, _ = build(records, "s-1")
    assert transcript(block) == [("end_user", "Look up order 7"), ("agent", "Order 7 shipped.")]
    (tool,) = of_kind(block, "tool")
    assert tool["attributes"][sc.TOOL_NAME] == "lookup"
    assert tool["attributes"][sc.TOOL_ARGUMENTS] == '{"order":7}'
    (usage,) = of_kind(block, "llm")
    assert usage["attributes"]["gen_ai.usage.input_tokens"] == 20


def test_openllmetry_indexed_prompts_and_completions() -> None:
    attributes = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "test-model",
        "gen_ai.usage.prompt_tokens": 12,
        "gen_ai.usage.completion_tokens": 3,
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "Be brief.",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "Hi there",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "Hello.",
    }
    block, _ = build([span(1, None, name="openai.chat", attributes=attributes, end_ms=9)])
    assert transcript(block) == [("end_user", "Hi there"), ("agent", "Hello.")]


def test_messages_from_events_in_every_generation() -> None:
    details = EventRecord(
        "gen_ai.client.inference.operation.details",
        T0,
        {
            "gen_ai.input.messages": (text("user", "From details"),),
            "gen_ai.output.messages": json.dumps([text("assistant", "Detailed.")]),
        },
    )
    per_message = [
        EventRecord("gen_ai.system.message", T0, {"content": "Be brief."}),
        EventRecord("gen_ai.user.message", T0, {"content": "From events"}),
        EventRecord(
            "gen_ai.choice",
            T0,
            {"message": json.dumps({"role": "assistant", "content": "Evented."})},
        ),
    ]
    legacy = [
        EventRecord(
            "gen_ai.content.prompt",
            T0,
            {"gen_ai.prompt": json.dumps([{"role": "user", "content": "Old style"}])},
        ),
        EventRecord(
            "gen_ai.content.completion",
            T0,
            {"gen_ai.completion": json.dumps([{"role": "assistant", "content": "Old answer"}])},
        ),
    ]
    base = {"gen_ai.operation.name": "chat"}
    for events, expected in (
        ([details], [("end_user", "From details"), ("agent", "Detailed.")]),
        (per_message, [("end_user", "From events"), ("agent", "Evented.")]),
        (legacy, [("end_user", "Old style"), ("agent", "Old answer")]),
    ):
        block, _ = build([span(1, None, name="chat m", attributes=base, events=events, end_ms=5)])
        assert transcript(block) == expected


def test_tool_plumbing_and_instructions_are_not_messages() -> None:
    # Pydantic AI sends tool results under the user's role: they end no user message run.
    ask = tool_call("c", "f", {})
    pydantic_result = {
        "role": "user",
        "parts": [{"type": "tool_call_response", "id": "c", "result": "42"}],
    }
    records = [
        agent(1, end_ms=50),
        chat(
            3,
            1,
            [text("user", "Compute")],
            [ask],
            start_ms=1,
            end_ms=10,
            attributes={"gen_ai.system_instructions": '[{"type":"text","content":"secret rules"}]'},
        ),
        chat(
            4,
            1,
            [text("user", "Compute"), ask, pydantic_result],
            [text("assistant", "42.")],
            start_ms=20,
            end_ms=40,
        ),
    ]
    block, _ = build(records)
    assert transcript(block) == [("end_user", "Compute"), ("agent", "42.")]
    assert "secret rules" not in json.dumps(block)


def test_inside_a_tracked_interaction_genai_spans_add_actions_and_usage_but_no_messages() -> None:
    tracked = {
        sc.SPAN_KIND: "turn",
        sc.CONVERSATION_ID: "c1",
    }
    user = EventRecord(
        sc.MESSAGE_EVENT, T0, {sc.MESSAGE_SENDER: "end_user", sc.MESSAGE_CONTENT: "Hi"}
    )
    records = [
        span(
            1,
            None,
            name="turn",
            attributes=tracked,
            events=[user],
            end_ms=100,
            scope="agentsight_otel",
        ),
        span(
            2,
            1,
            name="invoke_agent",
            attributes={"gen_ai.operation.name": "invoke_agent"},
            start_ms=1,
            end_ms=90,
        ),
        chat(3, 2, [text("user", "Hi")], [text("assistant", "Hello!")], start_ms=2, end_ms=20),
        span(
            4,
            2,
            name="execute_tool t",
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"},
            start_ms=30,
            end_ms=40,
        ),
    ]
    block, _ = build(records)
    assert transcript(block) == [("end_user", "Hi")]
    assert [s["span_id"] for s in of_kind(block, "turn")] == [hex_span_id(1)]
    assert of_kind(block, "tool")[0]["attributes"][sc.TURN_ID] == hex_span_id(1)
    assert of_kind(block, "llm")[0]["attributes"][sc.TURN_ID] == hex_span_id(1)


def test_without_content_capture_turns_and_usage_remain_and_the_setting_is_named() -> None:
    bare = {
        "gen_ai.operation.name": "chat",
        "gen_ai.usage.input_tokens": 3,
        "gen_ai.usage.output_tokens": 1,
    }
    block, builder = build([span(1, None, name="chat m", attributes=bare, end_ms=5)])
    assert len(of_kind(block, "turn")) == 1
    assert len(of_kind(block, "llm")) == 1
    assert transcript(block) == []
    (notice,) = builder.notices
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only" in notice
    assert "AgentSightLogExporter" in notice  # the way for event modes
    openinference = {"openinference.span.kind": "LLM", "llm.token_count.prompt": 3}
    _, builder = build(
        [span(1, None, attributes=openinference, scope="openinference.instrumentation.openai")]
    )
    assert "OPENINFERENCE_HIDE_INPUT_MESSAGES" in builder.notices[0]


def test_redaction_applies_to_genai_messages_and_tool_texts() -> None:
    records = [
        agent(1, end_ms=50),
        chat(
            2,
            1,
            [text("user", "Mail me at ann@example.com")],
            [text("assistant", "Sent to ann@example.com")],
            start_ms=1,
            end_ms=10,
        ),
        span(
            3,
            1,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "mail",
                "gen_ai.tool.call.arguments": '{"to": "ann@example.com"}',
                "gen_ai.tool.call.result": "ok ann@example.com",
            },
            start_ms=2,
            end_ms=3,
        ),
    ]
    block, _ = build(records, redactor=Redactor())
    assert "ann@example.com" not in json.dumps(
        [s for s in block["spans"] if s["kind"] in ("turn", "tool")]
    )
    assert transcript(block) == [
        ("end_user", "Mail me at [redacted-email]"),
        ("agent", "Sent to [redacted-email]"),
    ]
    assert of_kind(block, "tool")[0]["attributes"][sc.TOOL_ARGUMENTS] == '{"to":"[redacted-email]"}'


def test_conversation_fields_stamped_on_a_genai_turn_fill_the_block() -> None:
    fields = {
        "agentsight.conversation.customer_id": "u-1",
        "agentsight.conversation.metadata": '{"plan": "pro"}',
    }
    block, _ = build(
        [chat(1, None, [text("user", "Hi")], [], start_ms=0, end_ms=1, attributes=fields)]
    )
    assert block["customer_id"] == "u-1"
    assert block["metadata"] == {"plan": "pro"}


def test_assembler_releases_a_genai_trace_at_its_local_root_with_the_identity_of_any_span() -> None:
    from agentsight_otel._export.assembler import TraceAssembler

    assembler = TraceAssembler()
    child = chat(
        2, 1, [text("user", "Hi")], [], start_ms=1, end_ms=2, attributes={"session.id": "s"}
    )
    assert assembler.add([child], now=0.0) == []
    root = span(
        1,
        None,
        name="invoke_agent",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.conversation.id": "g"},
    )
    (group,) = assembler.add([root], now=0.0)
    assert group.conversation_id == "g"  # the stronger key wins, whichever span carries it
    assert [r.span_id for r in group.records] == [2, 1]
    assert assembler.pending_spans == 0


def test_genai_traces_without_identity_are_dropped_and_the_way_out_is_said_once(caplog) -> None:  # type: ignore[no-untyped-def]
    from agentsight_otel._export.assembler import TraceAssembler

    assembler = TraceAssembler()
    caplog.set_level("INFO", logger="agentsight_otel")
    for trace_id in (1, 2):
        lone = chat(1, None, [text("user", "Hi")], [], start_ms=0, end_ms=1, trace_id=trace_id)
        assert assembler.add([lone], now=0.0) == []
    assert assembler.foreign_dropped == 2
    told = [r for r in caplog.records if "without a conversation id" in r.getMessage()]
    assert len(told) == 1
    assert "agentsight_otel.conversation" in told[0].getMessage()


def test_spans_that_only_carry_the_conversation_send_nothing() -> None:
    from agentsight_otel._mapping.payload import PayloadBuilder, TraceGroup

    http = span(1, None, name="POST /chat", attributes={sc.CONVERSATION_ID: "c1"})
    assert PayloadBuilder().build([TraceGroup("c1", [http])]) == []
