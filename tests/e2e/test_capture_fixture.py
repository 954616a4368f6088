"""The test kit as a user meets it: the `agentsight_capture` fixture in their own pytest run."""

from __future__ import annotations

import sys

import pytest

USER_TESTS = """
from agentsight_otel import traced_action


@traced_action
def lookup_order(order_id: str) -> dict:
    return {"order": order_id, "status": "shipped"}


def support_agent(tracker, question):
    tracker.get_or_create_conversation("chat-1", name="Support")
    tracker.track_human_message(question)
    lookup_order("A-1")
    tracker.track_token_usage(120, 30, model="gpt-4o")
    tracker.track_button("choice", "Refund", "refund")
    tracker.track_agent_message("It ships tomorrow.")
    return tracker.send_tracked_data()


def test_what_agentsight_receives(agentsight_capture):
    result = support_agent(agentsight_capture.tracker, "Where is my order?")
    assert result["status"] == "delivered"
    [block] = agentsight_capture.blocks()
    assert block["conversation_id"] == "chat-1"
    assert [s["kind"] for s in agentsight_capture.spans()] == ["turn", "tool", "llm", "button"]
    transcript = agentsight_capture.transcript("chat-1")
    assert [(m["sender"], m["content"]) for m in transcript] == [
        ("end_user", "Where is my order?"),
        ("agent", "It ships tomorrow."),
    ]
    [action] = agentsight_capture.actions()
    assert (action["name"], action["arguments"]) == ("lookup_order", {"order_id": "A-1"})
    assert [b["label"] for b in agentsight_capture.buttons()] == ["Refund"]
    totals = agentsight_capture.usage()["totals"]
    assert (totals["input_tokens"], totals["output_tokens"]) == (120, 30)


def test_each_test_starts_empty(agentsight_capture):
    assert agentsight_capture.blocks() == []
    assert agentsight_capture.transport.requests == []


def test_a_wrong_expectation_fails(agentsight_capture):
    support_agent(agentsight_capture.tracker, "Where is my order?")
    assert agentsight_capture.transcript()[0]["content"] == "something else"
"""


def test_the_fixture_captures_what_a_users_agent_sends(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_agent=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_a_wrong_expectation_fails*", "*something else*"])


def test_the_plain_helpers_import_without_pytest(pytester: pytest.Pytester) -> None:
    script = pytester.makepyfile(
        plain="""
        import sys
        sys.modules["pytest"] = None  # importing pytest now fails
        from agentsight_otel.testing import AgentSightCapture
        with AgentSightCapture() as capture:
            capture.tracker.track_human_message("hi", conversation_id="c-1")
            capture.tracker.send_tracked_data("c-1")
            print(capture.transcript()[0]["content"])
        """
    )
    result = pytester.run(sys.executable, str(script))
    assert result.ret == 0, result.stderr.str()
    assert result.stdout.lines == ["hi"]
