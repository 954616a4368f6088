"""Bad input raises the documented exception at the call; what was tracked before survives."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

import pytest

from agentsight_otel import AgentSightSpanExporter, ConversationTracker
from agentsight_otel import _semconv as sc
from agentsight_otel._sanitize import MAX_JSON, MAX_TEXT, TRUNCATION_MARKER
from agentsight_otel.exceptions import (
    AgentSightError,
    ConfigurationError,
    InvalidApiKeyError,
    NothingToSendError,
    ValidationError,
)
from agentsight_otel.testing import TEST_API_KEY, FakeBackend

from .helpers import blocks, messages, wire_spans

GOOD_B64 = "aGVsbG8="
Call = Callable[[ConversationTracker], Any]

BAD_CALLS: dict[str, tuple[Call, type[Exception]]] = {
    "button-event-empty": (lambda t: t.track_button("", "L", "V"), ValidationError),
    "button-event-blank": (lambda t: t.track_button(" \t ", "L", "V"), ValidationError),
    "button-label-empty": (lambda t: t.track_button("E", "", "V"), ValidationError),
    "button-label-blank": (lambda t: t.track_button("E", "   ", "V"), ValidationError),
    "button-value-empty": (lambda t: t.track_button("E", "L", ""), ValidationError),
    "button-value-blank": (lambda t: t.track_button("E", "L", "\n"), ValidationError),
    "button-value-none": (lambda t: t.track_button("E", "L", None), ValidationError),
    "message-empty": (lambda t: t.track_human_message(""), ValidationError),
    "message-blank": (lambda t: t.track_agent_message("   "), ValidationError),
    "message-int": (lambda t: t.track_question(123), ValidationError),
    "message-none": (lambda t: t.track_answer(None), ValidationError),
    "message-bytes": (lambda t: t.track_human_message(b"hi"), ValidationError),
    "action-empty": (lambda t: t.track_action(""), ValidationError),
    "action-blank": (lambda t: t.track_action("  "), ValidationError),
    "action-none": (lambda t: t.track_action(None), ValidationError),
    "action-end-before-start": (
        lambda t: t.track_action("a", started_at=100.0, ended_at=50.0),
        ValidationError,
    ),
    "action-error-msg-int": (lambda t: t.track_action("a", error_msg=123), ValidationError),
    "action-bad-started-at": (lambda t: t.track_action("a", started_at="noon"), ValidationError),
    "action-negative-duration": (lambda t: t.track_action("a", duration_ms=-1), ValidationError),
    "metadata-list-message": (
        lambda t: t.track_human_message("x", metadata=["a"]),
        ValidationError,
    ),
    "metadata-str-button": (lambda t: t.track_button("E", "L", "V", metadata="x"), ValidationError),
    "metadata-int-action": (lambda t: t.track_action("a", metadata=5), ValidationError),
    "metadata-list-attachments": (
        lambda t: t.track_attachments([{"data": GOOD_B64}], metadata=[1]),
        ValidationError,
    ),
    "metadata-str-conversation": (
        lambda t: t.get_or_create_conversation("other", metadata="x"),
        ValidationError,
    ),
    "attachments-empty-list": (lambda t: t.track_attachments([]), ValidationError),
    "attachments-bad-base64": (
        lambda t: t.track_attachments([{"filename": "a", "data": "!!not base64!!"}]),
        ValidationError,
    ),
    "attachments-missing-data": (
        lambda t: t.track_attachments([{"filename": "a.pdf"}]),
        ValidationError,
    ),
    "attachments-str-for-form-data": (
        lambda t: t.track_attachments([{"filename": "a", "data": "text"}], mode="form_data"),
        ValidationError,
    ),
    "attachments-bytes-for-base64": (
        lambda t: t.track_attachments([{"filename": "a", "data": b"raw"}]),
        ValidationError,
    ),
    "attachments-not-a-list": (lambda t: t.track_attachments("a.pdf"), ValidationError),
    "attachments-item-not-dict": (lambda t: t.track_attachments(["a.pdf"]), ValidationError),
    "attachments-bad-mode": (
        lambda t: t.track_attachments([{"data": GOOD_B64}], mode="url"),
        ValidationError,
    ),
    "attachments-too-many": (
        lambda t: t.track_attachments([{"data": GOOD_B64}] * 11),
        ValidationError,
    ),
    "attachments-bad-sender": (
        lambda t: t.track_attachments([{"data": GOOD_B64}], sender="bot"),
        ValidationError,
    ),
    "tokens-negative-prompt": (lambda t: t.track_token_usage(-1, 0), ValidationError),
    "tokens-negative-completion": (lambda t: t.track_token_usage(0, -5), ValidationError),
    "tokens-negative-total": (
        lambda t: t.track_token_usage(1, 1, total_tokens=-1),
        ValidationError,
    ),
    "tokens-float": (lambda t: t.track_token_usage(1.5, 0), ValidationError),
    "conversation-id-blank": (
        lambda t: t.track_human_message("x", conversation_id="  "),
        ValidationError,
    ),
    "conversation-id-int": (
        lambda t: t.track_human_message("x", conversation_id=42),
        ValidationError,
    ),
    "api-key-malformed": (lambda t: t.configure(api_key="not-a-key"), InvalidApiKeyError),
    "endpoint-malformed": (lambda t: t.configure(endpoint="ftp://x"), ConfigurationError),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_input_raises_and_keeps_what_was_tracked(case: str, backend: FakeBackend) -> None:
    call, expected = BAD_CALLS[case]
    t = backend.tracker
    t.get_or_create_conversation("keep")
    t.track_human_message("before")
    t.track_button("ev", "Before", "b")
    with pytest.raises(expected) as raised:
        call(t)
    assert isinstance(raised.value, AgentSightError)
    t.track_agent_message("after")
    summary = t.get_tracked_data_summary("keep")["summary"]
    assert (summary["total"], summary["buttons"], summary["actions"]) == (3, 1, 0)
    result = t.send_tracked_data()
    assert result["status"] == "delivered"
    assert messages(backend.transport, "keep") == ["before", "after"]
    assert [s["name"] for s in wire_spans(backend.transport, "button")] == ["Before"]
    assert wire_spans(backend.transport, "tool") == []
    assert wire_spans(backend.transport, "attachment") == []
    assert wire_spans(backend.transport, "llm") == []


def test_malformed_api_key_message_never_contains_the_key() -> None:
    near_miss = "ags_0123456789abcdef0123456789abcdef_abcde"  # one hex digit short
    for key in (near_miss, "sk-live-secret-value", near_miss.upper() + "Z"):
        with pytest.raises(InvalidApiKeyError) as raised:
            ConversationTracker(api_key=key)
        assert key not in str(raised.value)
        assert key[4:20] not in str(raised.value)
        with pytest.raises(InvalidApiKeyError) as raised:
            AgentSightSpanExporter(api_key=key, endpoint="http://x.test")
        assert key not in str(raised.value)


def test_api_key_shape_is_case_insensitive_and_trimmed() -> None:
    ConversationTracker(api_key=TEST_API_KEY.upper().replace("AGS_", "ags_"))
    ConversationTracker(api_key=f"  {TEST_API_KEY}\n")


def test_send_with_nothing_tracked(backend: FakeBackend) -> None:
    t = backend.tracker
    with pytest.raises(NothingToSendError):
        t.send_tracked_data()  # no conversation at all
    t.get_or_create_conversation("empty")
    with pytest.raises(NothingToSendError):
        t.send_tracked_data()
    with pytest.raises(NothingToSendError):
        t.send_tracked_data(conversation_id="unknown")
    assert issubclass(NothingToSendError, ValidationError)


def test_nothing_to_send_after_a_send_and_other_conversation_intact(backend: FakeBackend) -> None:
    t = backend.tracker
    t.track_human_message("full-1", conversation_id="full")
    t.get_or_create_conversation("done")
    t.track_human_message("x")
    t.send_tracked_data()
    with pytest.raises(NothingToSendError):
        t.send_tracked_data()
    t.track_human_message("full-2", conversation_id="full")
    assert t.send_tracked_data(conversation_id="full")["summary"]["questions"] == 2
    assert messages(backend.transport, "full") == ["full-1", "full-2"]


def test_unencodable_metadata_is_converted(backend: FakeBackend) -> None:
    cycle: dict[str, Any] = {"name": "loop"}
    cycle["self"] = cycle
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(200):
        node["d"] = {}
        node = node["d"]

    class Thing:
        def __str__(self) -> str:
            return "a-thing"

    metadata = {
        "when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        "day": dt.date(2026, 1, 2),
        "tags": {"b", "a"},
        "raw": b"\x00\x01",
        "obj": Thing(),
        "nan": math.nan,
        "inf": math.inf,
        "cycle": cycle,
        "deep": deep,
        7: "int key",
    }
    t = backend.tracker
    t.get_or_create_conversation("odd", metadata={"when": dt.date(2026, 5, 6)})
    t.track_human_message("hi", metadata=metadata)
    t.track_button("e", "l", "v", metadata=metadata)
    t.track_action("a", metadata=metadata, tools_used={"s": {1, 2}, "n": math.nan})
    t.send_tracked_data()

    [turn] = wire_spans(backend.transport, "turn")
    decoded = json.loads(turn["events"][0]["attributes"][sc.MESSAGE_METADATA])
    assert decoded["when"] == "2026-01-02T03:04:05+00:00"
    assert decoded["day"] == "2026-01-02"
    assert decoded["tags"] == ["a", "b"]
    assert decoded["raw"] == "AAE="
    assert decoded["obj"] == "a-thing"
    assert decoded["nan"] in ("nan", None)  # converted (text or null), never bare NaN
    assert decoded["inf"] in ("inf", None)
    assert decoded["cycle"]["name"] == "loop"
    assert decoded["cycle"]["self"] == "<cycle>"
    assert decoded["7"] == "int key"
    depth, node = 0, decoded["deep"]
    while isinstance(node, dict):
        node, depth = node["d"], depth + 1
    assert node == "<too deep>"
    assert depth < 200
    [button] = wire_spans(backend.transport, "button")
    assert json.loads(button["attributes"][sc.METADATA])["tags"] == ["a", "b"]
    [tool] = wire_spans(backend.transport, "tool")
    arguments = json.loads(tool["attributes"][sc.TOOL_ARGUMENTS])
    assert arguments["s"] == [1, 2]
    assert arguments["n"] in ("nan", None)
    assert blocks(backend.transport)[0]["metadata"] == {"when": "2026-05-06"}


def test_oversized_message_is_truncated_with_marker(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("big")
    t.track_human_message("x" * 20_000)
    t.track_agent_message("y" * MAX_TEXT)  # exactly at the limit: untouched
    t.track_action("a", response="r" * 17_000, error_msg="e" * 17_000)
    t.send_tracked_data()
    [turn] = wire_spans(backend.transport, "turn")
    long, exact = (e["attributes"][sc.MESSAGE_CONTENT] for e in turn["events"])
    assert long == "x" * MAX_TEXT + TRUNCATION_MARKER
    assert exact == "y" * MAX_TEXT
    [tool] = wire_spans(backend.transport, "tool")
    assert tool["attributes"][sc.TOOL_RESPONSE] == "r" * MAX_TEXT + TRUNCATION_MARKER
    assert tool["attributes"][sc.TOOL_ERROR] == "e" * MAX_TEXT + TRUNCATION_MARKER


@pytest.mark.parametrize(
    "metadata",
    [
        {"blob": "z" * 40_000},
        {f"k{i}": "v" * 200 for i in range(300)},
        {"nested": {"list": ["w" * 3000] * 10}, "small": 1},
    ],
)
def test_oversized_metadata_is_trimmed_and_still_json(
    backend: FakeBackend, metadata: dict[str, Any]
) -> None:
    t = backend.tracker
    t.get_or_create_conversation("bigmeta")
    t.track_human_message("hi", metadata=metadata)
    t.track_button("e", "l", "v", metadata=metadata)
    t.send_tracked_data()
    [turn] = wire_spans(backend.transport, "turn")
    [button] = wire_spans(backend.transport, "button")
    for text in (
        turn["events"][0]["attributes"][sc.MESSAGE_METADATA],
        button["attributes"][sc.METADATA],
    ):
        assert len(text) <= MAX_JSON
        assert isinstance(json.loads(text), dict)
        assert json.loads(text)  # something of the metadata survives


def test_conversation_fields_are_clipped_to_255(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("clip", name="n" * 300, customer_id="c" * 300)
    t.track_human_message("hi")
    t.send_tracked_data()
    [block] = blocks(backend.transport)
    assert block["name"] == "n" * 255
    assert block["customer_id"] == "c" * 255


def test_no_library_logging_for_caller_errors(
    backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    backend.tracker.get_or_create_conversation("quiet")
    with caplog.at_level(logging.DEBUG, logger="agentsight_otel"), pytest.raises(ValidationError):
        backend.tracker.track_button("", "", "")
    here = threading.get_ident()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING and r.thread == here] == []


def test_explicit_id_is_normalised_the_same_by_every_method(backend: FakeBackend) -> None:
    t = backend.tracker
    t.track_human_message("x", conversation_id=" padded ")
    t.track_token_usage(1, 1, conversation_id=" padded ")
    assert t.get_token_usage(" padded ")["total_tokens"] == 2
    assert t.get_tracked_data_summary(" padded ")["summary"]["total"] == 2
    assert t.send_tracked_data(conversation_id=" padded ")["summary"]["questions"] == 1
