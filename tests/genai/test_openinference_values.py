"""OpenInference model calls whose messages are only in ``input.value`` / ``output.value``.

Shapes as the instrumentations write them: the Agents SDK's (openinference-instrumentation-
openai-agents: a Responses API input list or string, the response object as JSON), the OpenAI
client's (openinference-instrumentation-openai: the Chat Completions request and response), and
plain text.
"""

from __future__ import annotations

import json
from typing import Any

from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from tests.genai.records import build, of_kind, span, transcript
from tests.support.model_server import Reply, ToolCall, _completion, _response

SCOPE = "openinference.instrumentation.openai_agents"
JSON = "application/json"


def response_json(reply: Reply, items: int) -> str:
    """The response object as the Agents SDK instrumentation writes it (model_dump_json)."""
    body = {"instructions": "Be brief."}
    return Response.model_validate(_response(reply, "test-model", 1, items, body)).model_dump_json()


def llm(span_id: int, parent: int, given: Any, answered: str, *, start: int, end: int) -> Any:
    """A ``response`` span of the Agents SDK, without its llm.*_messages attributes."""
    attributes: dict[str, Any] = {
        "openinference.span.kind": "LLM",
        "llm.system": "openai",
        "session.id": "ag-1",
        "llm.token_count.prompt": 10,
        "llm.token_count.completion": 5,
        "output.mime_type": JSON,
        "output.value": answered,
    }
    if isinstance(given, str):
        attributes["input.value"] = given  # a string input: no mime type, i.e. text/plain
    else:
        attributes.update({"input.mime_type": JSON, "input.value": json.dumps(given)})
    return span(
        span_id,
        parent,
        name="response",
        attributes=attributes,
        start_ms=start,
        end_ms=end,
        scope=SCOPE,
    )


def agent_root(span_id: int, end: int) -> Any:
    """The run's root, as the instrumentation starts it for the Agents SDK's trace."""
    attributes = {"openinference.span.kind": "AGENT", "session.id": "ag-1"}
    return span(
        span_id, None, name="Agent workflow", attributes=attributes, end_ms=end, scope=SCOPE
    )


def test_a_streamed_agents_sdk_run_lands_every_answer_from_output_values() -> None:
    call = ToolCall("call_1", "get_weather", {"city": "Paris"})
    asked = {"role": "user", "content": "Weather in Paris?"}
    function_call = {
        "arguments": '{"city": "Paris"}',
        "call_id": "call_1",
        "name": "get_weather",
        "type": "function_call",
        "id": "fc_call_1",
        "status": "completed",
    }
    result = {"call_id": "call_1", "output": "sunny in Paris", "type": "function_call_output"}
    tool = {
        "openinference.span.kind": "TOOL",
        "tool.name": "get_weather",
        "session.id": "ag-1",
        "input.value": '{"city":"Paris"}',
        "output.value": "sunny in Paris",
    }
    said = {
        "type": "message",
        "role": "assistant",
        "id": "msg_1",
        "status": "completed",
        "content": [{"type": "output_text", "text": "It is sunny in Paris.", "annotations": []}],
    }
    first = [
        agent_root(1, 100),
        llm(
            2, 1, "Weather in Paris?", response_json(Reply(tool_calls=(call,)), 1), start=1, end=20
        ),
        span(3, 1, name="get_weather", attributes=tool, start_ms=21, end_ms=30, scope=SCOPE),
        llm(
            4,
            1,
            [asked, function_call, result],
            response_json(Reply("It is sunny in Paris."), 3),
            start=31,
            end=60,
        ),
    ]
    second = [
        agent_root(11, 100),
        llm(
            12,
            11,
            [asked, function_call, result, said, {"role": "user", "content": "Thanks!"}],
            response_json(Reply("You're welcome!"), 5),
            start=1,
            end=50,
        ),
    ]
    block, builder = build(first)
    assert transcript(block) == [
        ("end_user", "Weather in Paris?"),
        ("agent", "It is sunny in Paris."),
    ]
    assert len(of_kind(block, "turn")) == 1 and len(of_kind(block, "llm")) == 2
    assert builder.notices == []
    block, _ = build(second)
    assert transcript(block) == [("end_user", "Thanks!"), ("agent", "You're welcome!")]


def test_chat_completions_requests_and_responses_as_the_openai_instrumentation_writes_them() -> (
    None
):
    request = {
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        ],
    }
    completion = ChatCompletion.model_validate(
        _completion(
            Reply("Hello!"),
            "test-model",
            1,
            {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
        )
    )
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.token_count.prompt": 20,
        "input.mime_type": JSON,
        "input.value": json.dumps(request),
        "output.mime_type": JSON,
        "output.value": completion.model_dump_json(),
    }
    block, _ = build(
        [span(1, None, attributes=attributes, scope="openinference.instrumentation.openai")]
    )
    assert transcript(block) == [("end_user", "Hi"), ("agent", "Hello!")]


def test_plain_text_values_and_values_of_other_spans() -> None:
    plain = {
        "openinference.span.kind": "LLM",
        "llm.token_count.prompt": 3,
        "input.mime_type": "text/plain",
        "input.value": "Hi there",
        "output.value": "Hello!",
    }
    block, _ = build([span(1, None, attributes=plain, scope="openinference.instrumentation.x")])
    assert transcript(block) == [("end_user", "Hi there"), ("agent", "Hello!")]
    # A chain's values are its own business (any JSON a framework passes), never messages.
    chain = {"openinference.span.kind": "CHAIN", "input.value": "raw", "output.value": "out"}
    bare = {"openinference.span.kind": "LLM", "llm.token_count.prompt": 3}
    records = [
        span(1, None, attributes=chain, end_ms=9, scope="openinference.instrumentation.x"),
        span(2, 1, attributes=bare, scope="openinference.instrumentation.x"),
    ]
    block, builder = build(records)
    assert transcript(block) == []
    assert "OPENINFERENCE_HIDE_INPUT_MESSAGES" in builder.notices[0]
    # Flattened messages win over the values when both are there.
    both = {
        **plain,
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "flattened",
    }
    block, _ = build([span(1, None, attributes=both, scope="openinference.instrumentation.x")])
    assert transcript(block) == [("end_user", "flattened"), ("agent", "Hello!")]
