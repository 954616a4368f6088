"""Producer JSON the fast parser refuses, and turns too big for one body, in the pure mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentsight_otel import _semconv as sc
from agentsight_otel._ids import derived_span_id, hex_span_id
from agentsight_otel._mapping.packing import pack
from agentsight_otel._mapping.payload import Block
from agentsight_otel._mapping.records import EventRecord
from agentsight_otel._mapping.segments import MAX_NEW_USER_MESSAGES, SEGMENT_BYTES
from agentsight_otel._sanitize import loads_json
from tests.genai.records import T0, agent, build, chat, of_kind, span, text, transcript

LONE = "a\ud800b"  # json.dumps writes it as the escape the fast parser refuses
MENDED = "a\ufffdb"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (json.dumps({"k": LONE}), {"k": MENDED}),  # the escape, as json.dumps writes it
        (json.dumps({LONE: 1}, ensure_ascii=False), {MENDED: 1}),  # a raw surrogate, keys too
        (json.dumps({"k": LONE}).encode(), {"k": MENDED}),
        ('{"k": NaN, "n": 123456789012345678901234567890}', None),  # json.dumps writes these
        (b'{"k": "caf\xe9"}', {"k": "caf\ufffd"}),  # not UTF-8: undecodable bytes replaced
        ('{"k": [1, 2]}', {"k": [1, 2]}),
    ],
)
def test_json_the_fast_parser_refuses_is_read_and_mended(raw: str | bytes, expected: Any) -> None:
    document = loads_json(raw)
    if expected is None:
        assert document["n"] == 123456789012345678901234567890
        assert document["k"] != document["k"]  # NaN
    else:
        assert document == expected


@pytest.mark.parametrize("raw", ["not json", "[" * 100_000, b"\xff"])
def test_text_that_is_not_json_is_a_value_error(raw: str | bytes) -> None:
    with pytest.raises(ValueError):
        loads_json(raw)


def _escaped(value: object) -> str:
    """JSON text as Python's json.dumps writes it: lone surrogates as ``\\udXXX`` escapes."""
    text = json.dumps(value)
    assert "\\ud800" in text
    return text


def test_every_json_value_the_mapping_reads_survives_a_lone_surrogate_escape() -> None:
    user, answer = _escaped([text("user", LONE)]), _escaped([text("assistant", LONE)])
    base = {"gen_ai.operation.name": "chat"}
    sources: list[dict[str, Any]] = [
        {"attributes": {**base, sc.GEN_AI_INPUT_MESSAGES: user, sc.GEN_AI_OUTPUT_MESSAGES: answer}},
        {
            "attributes": base,
            "events": [
                EventRecord(
                    sc.OPERATION_DETAILS_EVENT,
                    T0,
                    {sc.GEN_AI_INPUT_MESSAGES: user, sc.GEN_AI_OUTPUT_MESSAGES: answer},
                )
            ],
        },
        {
            "attributes": base,
            "events": [
                EventRecord("gen_ai.user.message", T0, {"message": _escaped({"content": LONE})}),
                EventRecord("gen_ai.choice", T0, {"message": _escaped({"content": LONE})}),
            ],
        },
        {
            "attributes": base,
            "events": [
                EventRecord("gen_ai.content.prompt", T0, {"gen_ai.prompt": user}),
                EventRecord("gen_ai.content.completion", T0, {"gen_ai.completion": answer}),
            ],
        },
    ]
    for source in sources:
        block, _ = build([span(1, None, name="chat m", end_ms=5, **source)])
        assert transcript(block) == [("end_user", MENDED), ("agent", MENDED)], source


@pytest.mark.parametrize(
    "attributes",
    [
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.arguments": "{}"},
        {"openinference.span.kind": "TOOL", "input.value": "{}"},
        {"traceloop.span.kind": "tool", "traceloop.entity.input": "{}"},
    ],
)
def test_tool_arguments_with_a_lone_surrogate_escape_stay_a_document(
    attributes: dict[str, str],
) -> None:
    arguments = {k: (_escaped({"q": LONE}) if v == "{}" else v) for k, v in attributes.items()}
    records = [agent(1, end_ms=9), span(2, 1, name="search", attributes=arguments, end_ms=3)]
    block, _ = build(records)
    (tool,) = of_kind(block, "tool")
    assert json.loads(tool["attributes"][sc.TOOL_ARGUMENTS]) == {"q": MENDED}


def test_conversation_metadata_with_a_lone_surrogate_escape_is_kept() -> None:
    metadata = {sc.CONVERSATION_METADATA: _escaped({"plan": LONE})}
    root = span(1, None, attributes={"gen_ai.operation.name": "invoke_agent", **metadata}, end_ms=9)
    block, _ = build([root, chat(2, 1, [text("user", "Hi")], [], start_ms=1, end_ms=2)])
    assert block["metadata"] == {"plan": MENDED}


def test_raw_lone_surrogates_in_plain_string_attributes_leave_as_the_replacement_character() -> (
    None
):
    # The in-process route: a Python producer's str can hold one; nothing may fail the body.
    attributes = {
        "gen_ai.system": "openai",
        "gen_ai.agent.name": LONE,
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": LONE,
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": LONE,
    }
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": LONE}
    tool["gen_ai.tool.call.result"] = LONE
    records = [
        span(1, None, name=LONE, attributes=attributes, end_ms=9),
        span(2, 1, name="t", attributes=tool, start_ms=1, end_ms=2),
    ]
    block, _ = build(records)
    fields = {k: v for k, v in block.items() if k != "spans"}
    (body,) = pack([Block("c1", fields, block["spans"])], {"name": "test"}, 4 * 1024 * 1024)
    sent = body.data.decode("utf-8")  # strict: a lone surrogate has no UTF-8 form
    assert "\ufffd" in sent
    wire = json.loads(sent)["conversations"][0]
    assert transcript(wire) == [("end_user", MENDED), ("agent", MENDED)]
    (turn,) = of_kind(wire, "turn")
    assert (turn["name"], turn["attributes"]["gen_ai.agent.name"]) == (MENDED, MENDED)
    (action,) = of_kind(wire, "tool")
    assert action["attributes"][sc.TOOL_RESPONSE] == MENDED


def test_a_turn_over_the_segment_size_continues_in_linked_segments_in_order() -> None:
    texts = [f"{i:03d} " + "y" * 16_000 for i in range(200)]  # about 3.1 MiB
    records = [
        agent(1, end_ms=9),
        chat(
            2, 1, [text("user", t) for t in texts], [text("assistant", "Ok.")], start_ms=1, end_ms=8
        ),
    ]
    block, builder = build(records)
    turns = of_kind(block, "turn")
    assert len(turns) == 4 and builder.cut_messages == 0
    first, *rest = sorted(turns, key=lambda s: s["span_id"] != hex_span_id(1))
    assert first["span_id"] == first["attributes"][sc.TURN_ID] == hex_span_id(1)
    ids = [hex_span_id(derived_span_id(0xABC, 1, index)) for index in (1, 2, 3)]
    assert sorted(s["span_id"] for s in rest) == sorted(ids)
    by_id = {s["span_id"]: s for s in turns}
    previous = hex_span_id(1)
    for span_id in ids:
        segment = by_id[span_id]
        assert segment["attributes"][sc.TURN_ID] == span_id
        assert segment["parent_span_id"] is None
        assert segment["otel"]["links"] == [
            {
                "trace_id": first["trace_id"],
                "span_id": previous,
                "attributes": {sc.TURN_SEGMENT: "continued"},
            }
        ]
        assert len(json.dumps(segment["events"])) <= SEGMENT_BYTES
        previous = span_id
    ordered = [first, *(by_id[i] for i in ids)]
    said = [e["attributes"][sc.MESSAGE_CONTENT] for s in ordered for e in s["events"]]
    assert said == [*texts, "Ok."]
    times = [e["timestamp"] for s in ordered for e in s["events"]][:-1]
    assert times == sorted(set(times))  # each message its own time, in order


def test_past_the_bound_the_newest_new_user_messages_are_kept_and_the_rest_counted() -> None:
    texts = [f"m{i}" for i in range(MAX_NEW_USER_MESSAGES + 5)]
    records = [
        chat(
            1,
            None,
            [text("user", t) for t in texts],
            [text("assistant", "Ok.")],
            start_ms=0,
            end_ms=8,
        )
    ]
    block, builder = build(records)
    assert transcript(block) == [*(("end_user", t) for t in texts[5:]), ("agent", "Ok.")]
    assert builder.cut_messages == 5
    assert [key for key, _ in builder.warnings] == ["cut-messages"]
