"""Conversations the registry retired, and the sweep that retires idle ones on time.

A retired conversation's turn was ended (incomplete) and handed to delivery; a later
``send_tracked_data`` for it reports that send instead of failing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, NamedTuple

from agentsight_otel._delivery.ledger import Receipt
from agentsight_otel._log import RateLimitedLog, log_internal_error
from agentsight_otel._runtime import RUNTIME
from agentsight_otel._tracker.state import ConversationState, Item

if TYPE_CHECKING:
    from agentsight_otel._tracker.registry import ConversationRegistry

_WARN = RateLimitedLog()
MAX_SWEEP_INTERVAL_S = 60.0


class Retired(NamedTuple):
    """What a retired conversation had pending, why it ended, and its delivery receipts."""

    reason: str
    items: list[Item]
    receipts: list[tuple[int, Receipt]]


class RetiredConversations:
    """The most recently retired conversations (bounded), until a send asks for them."""

    def __init__(self, capacity: int = 1_000) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._held: OrderedDict[str, Retired] = OrderedDict()
        RUNTIME.adopt(self, RetiredConversations._forked)

    def _forked(self) -> None:
        self._lock = threading.Lock()

    def record(
        self, state: ConversationState, reason: str, receipts: list[tuple[int, Receipt]]
    ) -> None:
        """Remember a retired conversation's items and receipts (the oldest forgotten first)."""
        with self._lock:
            self._held[state.conversation_id] = Retired(reason, list(state.items), receipts)
            while len(self._held) > self._capacity:
                self._held.popitem(last=False)
        _WARN.log(
            logging.WARNING,
            f"retired:{reason}",
            f"ended conversation {state.conversation_id!r}'s open turn as incomplete "
            f"({reason}) and delivered it: "
            + (
                "nothing was tracked on it for idle_timeout seconds"
                if reason == "abandoned"
                else "the tracker held its maximum of conversations with unsent data; "
                "call send_tracked_data when each turn ends"
            ),
        )

    def take(self, cid: str | None) -> Retired | None:
        """A retired conversation's record, once."""
        if cid is None:
            return None
        with self._lock:
            return self._held.pop(cid, None)


class IdleSweeper:
    """Retires every watched registry's idle conversations on time, from the timer thread."""

    def __init__(self) -> None:
        self._watched: weakref.WeakSet[ConversationRegistry] = weakref.WeakSet()
        self._next = math.inf
        RUNTIME.timer.add(self)

    def watch(self, registry: ConversationRegistry) -> None:
        """Have idle turns of ``registry`` retired on time."""
        self._watched.add(registry)
        self._next = min(self._next, time.monotonic() + self._interval())
        RUNTIME.timer.wake()  # a shorter idle timeout may need an earlier sweep

    def due(self, now: float) -> float:
        """Until the next sweep."""
        return self._next - now

    def work(self) -> None:
        """Sweep every watched registry; the next sweep at half the shortest idle timeout."""
        for registry in list(self._watched):
            try:
                registry.sweep()
            except Exception:
                log_internal_error("retiring idle conversations")
        self._next = time.monotonic() + self._interval()

    def _interval(self) -> float:
        """Half the shortest idle timeout, at least 50 ms, at most a minute."""
        shortest = min((r.idle_timeout for r in self._watched), default=MAX_SWEEP_INTERVAL_S)
        return min(MAX_SWEEP_INTERVAL_S, max(0.05, shortest / 2))


_SWEEPER = IdleSweeper()


def watch_idle(registry: ConversationRegistry) -> None:
    """Have idle turns of ``registry`` retired on time, by the process's timer thread."""
    _SWEEPER.watch(registry)
