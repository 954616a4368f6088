"""render_transcript: a readable, aligned, chronological text view of one conversation."""

from __future__ import annotations

from typing import Any

import pytest

from agentsight_otel.server import LocalServer, render_transcript
from tests.server.server_helpers import CID, Api, block, body, load_sample, message, span, turn

CONTENT_COLUMN = 12 + 2 + 8 + 1


def render(server: LocalServer, conversation_id: str) -> str:
    """The transcript of a stored conversation."""
    store = server.store
    conversation = store.conversation(conversation_id)
    assert conversation is not None
    return render_transcript(
        conversation,
        store.messages(conversation_id),
        store.actions(conversation_id),
        store.buttons(conversation_id),
        store.attachments(conversation_id),
        store.usage(conversation_id),
    )


def test_sample_renders_as_a_timeline(server_and_api: tuple[LocalServer, Api]) -> None:
    server, api = server_and_api
    api.ingest(load_sample())
    text = render(server, "web-1")
    lines = text.splitlines()
    assert lines[0] == "Conversation: web-1"
    assert "Name:         Password Reset" in lines
    assert "Customer:     u-1" in lines
    order = [
        "User:    How do I reset my password?",
        "Action:  database_lookup  50.386 ms  ok",
        "Action:  send_email  2.820 ms  error (smtp down)",
        "Button:  Confirm Order = order_123  (user_confirmation)",
        "Files:   User shared 1 file: report.pdf (1234 B, application/pdf)",
        "Agent:   Click 'Forgot Password' on the login page.",
    ]
    positions = [text.index(entry) for entry in order]
    assert positions == sorted(positions)
    assert "05:32:58.599  User:" in text
    assert "Tokens: 100 in, 25 out, 125 total in 1 call\n" in text
    assert "gpt-4o-mini-2024-07-18: 100 in / 25 out, 1 call, ≈ $0.0000" in text
    assert "\nCost: ≈ $0.0000" in text


def test_long_messages_wrap_under_their_label(server_and_api: tuple[LocalServer, Api]) -> None:
    server, api = server_and_api
    words = " ".join(f"word{i}" for i in range(60))
    api.ingest(body(block(turn(message("agent", f"{words}\n\nsecond paragraph", 1)))))
    lines = render(server, CID).splitlines()
    start = next(i for i, line in enumerate(lines) if "Agent:" in line)
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith("---"))
    wrapped = lines[start:end]
    assert all(len(line) <= 88 for line in lines)
    assert len(wrapped) == 9
    continuation = [line for line in wrapped[1:] if line]
    assert all(line.startswith(" " * CONTENT_COLUMN) for line in continuation)
    assert all(not line[CONTENT_COLUMN].isspace() for line in continuation)
    assert wrapped[-2:] == ["", " " * CONTENT_COLUMN + "second paragraph"]
    words_seen = " ".join(line.strip() for line in wrapped[:-2]).split()
    assert words_seen[2:] == words.split()


def test_escalations_tasks_and_unknown_senders_are_labelled(
    server_and_api: tuple[LocalServer, Api],
) -> None:
    server, api = server_and_api
    handoff = span("task", attributes={"agentsight.tool.name": "contact_human"}, start=2)
    api.ingest(body(block(turn(message("system", "note", 1)), handoff)))
    text = render(server, CID)
    assert "System:  note" in text
    assert "Task:    contact_human  500.000 ms  ok  [escalation to a human]" in text


def test_empty_conversation_says_so() -> None:
    usage: dict[str, Any] = {"totals": {}, "by_model": {}}
    text = render_transcript({"conversation_id": "c"}, [], [], [], [], usage)
    assert "(nothing tracked yet)" in text
    assert "Tokens: 0 in, 0 out, 0 total in 0 calls" in text
    assert "Cost:" not in text


def test_unset_status_is_not_printed(server_and_api: tuple[LocalServer, Api]) -> None:
    server, api = server_and_api
    lookup = span("tool", attributes={"agentsight.tool.name": "lookup"}, status="unset", start=2)
    api.ingest(body(block(turn(message("end_user", "hi", 1)), lookup)))
    text = render(server, CID)
    assert "Action:  lookup  500.000 ms\n" in text and "unset" not in text


def test_model_calls_without_messages_hint_at_content_capture(
    server_and_api: tuple[LocalServer, Api],
) -> None:
    server, api = server_and_api
    opening = turn()
    call = span("llm", attributes={"gen_ai.request.model": "house-model"}, start=0.1)
    call["parent_span_id"] = opening["span_id"]
    api.ingest(body(block(opening, call)))
    text = render(server, CID)
    assert "(No message content captured — enable content capture" in text
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true" in text
    assert "house-model: 0 in / 0 out, 1 call, unpriced" in text and "Cost:" not in text


@pytest.mark.parametrize("stamp", [None, "not a time"])
def test_entries_without_a_time_still_render(stamp: str | None) -> None:
    usage: dict[str, Any] = {"totals": {}, "by_model": {}}
    messages = [{"sender": "agent", "content": "hi", "timestamp": stamp}]
    text = render_transcript({"conversation_id": "c"}, messages, [], [], [], usage)
    assert "--:--:--.---  Agent:   hi" in text


def test_an_unset_status_is_not_shown_as_one(server_and_api: tuple[LocalServer, Api]) -> None:
    """OTel's "unset" says nothing about the action: shown as the viewer shows it, without one."""
    server, api = server_and_api
    lookup = span("tool", attributes={"agentsight.tool.name": "lookup"}, status="unset", start=2)
    api.ingest(body(block(turn(message("user", "hi", 1)), lookup)))
    text = render(server, CID)
    assert "Action:  lookup  500.000 ms\n" in text
    assert "unset" not in text
