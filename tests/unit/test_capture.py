"""AgentSightCapture: what a tracker would send and what AgentSight would show, offline."""

from __future__ import annotations

import pytest

from agentsight_otel.testing import AgentSightCapture, refused


def test_readers_name_the_conversation_when_several_were_captured(
    agentsight_capture: AgentSightCapture,
) -> None:
    tracker = agentsight_capture.tracker
    for cid in ("c-1", "c-2"):
        tracker.track_human_message(f"{cid} hello", conversation_id=cid)
        tracker.send_tracked_data(cid)
    with pytest.raises(AssertionError, match=r"\['c-1', 'c-2'\]"):
        agentsight_capture.transcript()
    assert [m["content"] for m in agentsight_capture.transcript("c-2")] == ["c-2 hello"]
    assert [b["conversation_id"] for b in agentsight_capture.blocks()] == ["c-1", "c-2"]
    assert agentsight_capture.blocks("c-3") == []


def test_a_retried_body_is_every_attempt_on_the_wire_and_once_in_the_transcript(
    agentsight_capture: AgentSightCapture,
) -> None:
    agentsight_capture.transport.script("/api/ingest/", refused())
    agentsight_capture.tracker.track_agent_message("hi", conversation_id="c-1")
    agentsight_capture.tracker.send_tracked_data("c-1")
    assert len(agentsight_capture.blocks()) == 2  # the refused attempt and the retry
    assert [m["content"] for m in agentsight_capture.transcript()] == ["hi"]


def test_usage_of_a_conversation_without_model_calls_is_zero(
    agentsight_capture: AgentSightCapture,
) -> None:
    agentsight_capture.tracker.track_human_message("hello", conversation_id="c-1")
    agentsight_capture.tracker.send_tracked_data("c-1")
    assert agentsight_capture.usage()["totals"]["total_tokens"] == 0
    assert agentsight_capture.actions() == [] and agentsight_capture.buttons() == []
