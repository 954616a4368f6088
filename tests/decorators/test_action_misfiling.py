"""An action run outside every conversation while one is mid-turn (a thread pool the context
did not reach) is dropped from AgentSight with a warning, as a misfiled message is (issue 20)."""

from __future__ import annotations

import contextvars
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import agentsight_otel
from agentsight_otel import traced_action
from agentsight_otel._log import RateLimitedLog
from agentsight_otel._tracker import misfiling

from .helpers import Rig


@traced_action
def lookup_order(order_id: str) -> str:
    return order_id


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The warning is rate-limited per action: earlier tests must not have used it up."""
    monkeypatch.setattr(misfiling, "_WARN", RateLimitedLog())


def _in_a_pool(*order_ids: str) -> list[str]:
    """Run the action in a worker thread, without carrying the caller's context."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return [pool.submit(lookup_order, order_id).result() for order_id in order_ids]


def test_a_pooled_action_during_an_open_interaction_warns_once(
    rig: Rig, library_warnings: list[logging.LogRecord]
) -> None:
    rig.tracker.get_or_create_conversation("chat-pool")
    rig.tracker.track_human_message("Where are my orders?")
    assert _in_a_pool("A-1", "A-2", "A-3") == ["A-1", "A-2", "A-3"]
    rig.send("chat-pool")
    assert rig.capture.actions("chat-pool") == []  # what the warning is about
    [warning] = library_warnings
    assert warning.levelno == logging.WARNING
    text = warning.getMessage()
    assert "@traced_action lookup_order() ran outside any conversation" in text
    assert "'chat-pool'" in text and "Threads and thread pools" in text
    assert "contextvars.copy_context().run" in text


def test_a_thread_started_mid_turn_warns(
    rig: Rig, library_warnings: list[logging.LogRecord]
) -> None:
    rig.tracker.get_or_create_conversation("chat-thread")
    rig.tracker.track_human_message("hi")
    worker = threading.Thread(target=lookup_order, args=("B-1",))
    worker.start()
    worker.join()
    assert ["lookup_order() ran outside" in r.getMessage() for r in library_warnings] == [True]


def test_no_warning_without_any_open_interaction(rig: Rig) -> None:
    # quiet_library fails the test on any warning.
    assert _in_a_pool("C-1") == ["C-1"]  # nothing opened at all
    rig.tracker.get_or_create_conversation("chat-sent")
    rig.tracker.track_human_message("hi")
    rig.send("chat-sent")
    assert _in_a_pool("C-2") == ["C-2"]  # the conversation's turn has ended


def test_no_warning_where_the_context_was_carried_or_a_conversation_is_current(rig: Rig) -> None:
    rig.tracker.get_or_create_conversation("chat-carried")
    rig.tracker.track_human_message("hi")
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The documented way: the context copy carries the conversation, and the action lands.
        assert pool.submit(contextvars.copy_context().run, lookup_order, "D-1").result() == "D-1"

        def stamped() -> str:
            with agentsight_otel.conversation("chat-stamped"):  # a conversation of its own
                return lookup_order("D-2")

        assert pool.submit(stamped).result() == "D-2"
    rig.send("chat-carried")
    assert [a["name"] for a in rig.capture.actions("chat-carried")] == ["lookup_order"]
