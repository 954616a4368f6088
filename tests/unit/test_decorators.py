"""``@traced_action``: each call becomes an action of the current conversation."""

from __future__ import annotations

import json

import pytest

from agentsight_otel import _semconv as sc
from agentsight_otel import traced_action
from agentsight_otel.testing import FakeBackend

from .helpers import wire_spans


class LookupFailed(Exception):
    pass


@traced_action
def lookup(user: str, limit: int = 3) -> dict:
    return {"user": user, "limit": limit}


@traced_action(name="escalate", kind="task", capture_result=False)
def escalate(reason: str) -> str:
    return "secret result"


@traced_action
def broken(x: int) -> None:
    raise LookupFailed(f"no record {x}")


def test_traced_action_records_a_tool_span(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("deco")
    t.track_human_message("q")
    assert lookup("ann", limit=5) == {"user": "ann", "limit": 5}
    assert escalate("angry") == "secret result"
    t.send_tracked_data()
    [turn] = wire_spans(backend.transport, "turn")
    [tool] = wire_spans(backend.transport, "tool")
    [task] = wire_spans(backend.transport, "task")
    assert tool["name"] == "lookup"
    assert tool["parent_span_id"] == turn["span_id"]
    assert json.loads(tool["attributes"][sc.TOOL_ARGUMENTS]) == {"user": "ann", "limit": 5}
    assert json.loads(tool["attributes"][sc.TOOL_RESPONSE]) == {"user": "ann", "limit": 5}
    assert tool["status"] == "ok"
    assert task["name"] == "escalate"
    assert sc.TOOL_RESPONSE not in task["attributes"]


def test_traced_action_lets_user_exceptions_through_untouched(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("deco-err")
    with pytest.raises(LookupFailed) as raised:
        broken(7)
    assert str(raised.value) == "no record 7"
    t.send_tracked_data()
    [tool] = wire_spans(backend.transport, "tool")
    assert tool["status"] == "error"
    assert "no record 7" in tool["attributes"][sc.TOOL_ERROR]


def test_traced_action_outside_a_conversation_still_runs() -> None:
    assert lookup("bob") == {"user": "bob", "limit": 3}
