"""The tracker's registry stays bounded with any mix of sent and unsent conversations (issue 10
item 4): what it retires is ended incomplete and delivered, what is in use is never taken, and
the application never gets an exception for the library's own state."""

from __future__ import annotations

import threading
from collections.abc import Callable

from opentelemetry.sdk.trace import ReadableSpan

from agentsight_otel import _semconv as sc
from agentsight_otel._tracker.registry import ConversationRegistry
from agentsight_otel._tracker.state import ConversationState
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


def _evicted(spans: list[ReadableSpan]) -> list[str]:
    """The conversations whose turn ended evicted."""
    return [
        str((span.attributes or {})[sc.CONVERSATION_ID])
        for span in spans
        if (span.attributes or {}).get(sc.TURN_INCOMPLETE_REASON) == "evicted"
    ]


def test_sent_conversations_are_forgotten_before_any_open_interaction_is_evicted() -> None:
    # Issue 18: the pass looked only at the oldest excess + 64, all of them open here, and
    # evicted open interactions while hundreds of sent conversations could go instead.
    tracker, memory, _ = memory_tracker(_max_conversations=200)
    for n in range(100):
        tracker.track_human_message("still working on it", conversation_id=f"open-{n}")
    for n in range(300):
        tracker.track_human_message("q", conversation_id=f"sent-{n}")
        tracker.send_tracked_data(f"sent-{n}", timeout=0)
    assert _evicted(list(memory.get_finished_spans())) == []
    assert all(tracker._registry.get(f"open-{n}") for n in range(100))
    assert len(tracker._registry) == 200


def test_threads_evict_no_open_interaction_while_sent_ones_can_go() -> None:
    tracker, memory, _ = memory_tracker(_max_conversations=10_000)

    def work(t: int) -> None:
        for n in range(200):  # 3,200 open in all
            tracker.track_human_message("q", conversation_id=f"open-{t}-{n}")
        for n in range(500):  # 8,000 sent: 1,200 past the capacity
            tracker.track_human_message("q", conversation_id=f"sent-{t}-{n}")
            tracker.send_tracked_data(f"sent-{t}-{n}", timeout=0)

    _run_threads(work, 16)
    assert _evicted(list(memory.get_finished_spans())) == []
    assert len(tracker._registry) == 10_000


def test_a_burst_of_open_interactions_evicts_only_what_the_capacity_forces() -> None:
    tracker, memory, _ = memory_tracker(_max_conversations=10_000)

    def work(t: int) -> None:
        for n in range(800):  # 12,800 open: 2,800 past the capacity
            tracker.get_or_create_conversation(f"c-{t}-{n}")
            tracker.track_human_message("q")
            tracker.track_agent_message("a")

    _run_threads(work, 16)
    evicted = _evicted(list(memory.get_finished_spans()))
    assert len(evicted) == len(set(evicted)) == 2_800
    assert len(tracker._registry) == 10_000


def test_a_state_is_never_taken_between_obtaining_it_and_locking_it() -> None:
    # Issue 18: obtain() returned a state another thread could retire before its caller locked
    # it; the message then went to a turn nobody would send. Here the other thread's work runs
    # inside that window, from the retirement obtain() itself triggers.
    tracker, memory, _ = memory_tracker(_max_conversations=1)
    tracker.track_human_message("first", conversation_id="a")

    retire = tracker._registry.retire
    assert retire is not None

    def retire_and_track_elsewhere(state: ConversationState, reason: str) -> None:
        retire(state, reason)
        if state.conversation_id == "a":
            tracker.track_human_message("meanwhile", conversation_id="c")

    tracker._registry.retire = retire_and_track_elsewhere
    tracker.track_human_message("second", conversation_id="b")  # retires "a" on the way
    sent = tracker.send_tracked_data("b", timeout=0)
    assert sent["summary"]["questions"] == 1
    assert "incomplete_reason" not in sent


def _run_threads(work: Callable[[int], None], count: int) -> None:
    threads = [threading.Thread(target=work, args=(t,)) for t in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
