"""The tracker's registry stays bounded with any mix of sent and unsent conversations (issue 10
item 4): what it retires is ended incomplete and delivered, what is in use is never taken, and
the application never gets an exception for the library's own state."""

from __future__ import annotations

import threading

from opentelemetry.sdk.trace import ReadableSpan

from agentsight_otel import _semconv as sc
from agentsight_otel._tracker.registry import ConversationRegistry
from agentsight_otel.testing import FakeClock
from tests.unit.helpers import memory_tracker


def _ended_turns(spans: list[ReadableSpan]) -> dict[str, tuple[bool, str | None]]:
    """Each conversation's last ended turn: (complete, incomplete reason)."""
    turns = {}
    for span in spans:
        attributes = span.attributes or {}
        if attributes.get(sc.SPAN_KIND) == sc.KIND_TURN:
            turns[str(attributes[sc.CONVERSATION_ID])] = (
                bool(attributes.get(sc.TURN_COMPLETE)),
                attributes.get(sc.TURN_INCOMPLETE_REASON),  # type: ignore[misc]
            )
    return turns  # type: ignore[return-value]


def test_unsent_conversations_past_capacity_end_as_evicted_and_tracking_goes_on() -> None:
    tracker, memory, _ = memory_tracker(_max_conversations=5)
    for n in range(40):  # interactions that errored before their send, say
        tracker.get_or_create_conversation(f"unsent-{n}")
        tracker.track_human_message(f"question {n}")
    assert len(tracker._registry) <= 5
    turns = _ended_turns(list(memory.get_finished_spans()))
    assert set(turns) == {f"unsent-{n}" for n in range(35)}
    assert set(turns.values()) == {(False, "evicted")}
    # The newest conversations are intact and deliver as usual.
    tracker.get_or_create_conversation("new")
    tracker.track_human_message("hello")
    tracker.track_agent_message("hi")
    sent = tracker.send_tracked_data()
    assert (sent["conversation_id"], sent["summary"]["questions"]) == ("new", 1)
    # A send for a retired conversation reports it instead of raising.
    late = tracker.send_tracked_data("unsent-3")
    assert late["incomplete_reason"] == "evicted"
    assert late["summary"]["questions"] == 1


def test_an_idle_interaction_ends_abandoned_after_the_idle_timeout() -> None:
    clock = FakeClock()
    tracker, memory, _ = memory_tracker(_clock=clock, idle_timeout=60)
    tracker.track_human_message("are you there?", conversation_id="idle")
    tracker.track_human_message("busy", conversation_id="busy")
    clock.time += 30
    tracker.track_agent_message("still here", conversation_id="busy")
    clock.time += 31  # "idle" untracked for 61 s, "busy" for 31 s
    tracker.track_human_message("another chat", conversation_id="third")
    assert _ended_turns(list(memory.get_finished_spans())) == {"idle": (False, "abandoned")}
    assert tracker.send_tracked_data("idle")["incomplete_reason"] == "abandoned"
    assert tracker.send_tracked_data("busy")["summary"]["answers"] == 1


def test_the_idle_sweep_needs_no_tracking_call() -> None:
    clock = FakeClock()
    tracker, memory, _ = memory_tracker(_clock=clock, idle_timeout=5)
    tracker.track_human_message("left open", conversation_id="quiet")
    clock.time += 6
    assert tracker._registry.sweep() == 1  # what the idle thread runs
    assert _ended_turns(list(memory.get_finished_spans())) == {"quiet": (False, "abandoned")}


def test_a_conversation_in_use_is_never_taken() -> None:
    clock = FakeClock()
    registry = ConversationRegistry(2, clock.now)
    ended: list[str] = []
    registry.retire = lambda state, reason: ended.append(state.conversation_id)
    busy = registry.obtain("busy", None, lambda: "production")
    registry.obtain("other", None, lambda: "production")
    with busy.lock:  # a tracking call or send on "busy" is running on another thread
        holder = threading.Thread(target=registry.obtain, args=("third", None, lambda: "x"))
        holder.start()
        holder.join(10)
    assert registry.get("busy") is busy
    assert registry.get("other") is None and len(registry) == 2
