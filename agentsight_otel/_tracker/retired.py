"""Conversations the registry retired, and the thread that retires idle ones on time.

A retired conversation's interaction was ended (incomplete) and handed to delivery; a later
``send_tracked_data`` for it reports that send instead of failing.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, NamedTuple

from agentsight_otel._delivery.daemon import daemon_thread
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
            f"ended conversation {state.conversation_id!r}'s open interaction as incomplete "
            f"({reason}) and delivered it: "
            + (
                "nothing was tracked on it for idle_timeout seconds"
                if reason == "abandoned"
                else "the tracker held its maximum of conversations with unsent data; "
                "call send_tracked_data when each interaction ends"
            ),
        )

    def take(self, cid: str | None) -> Retired | None:
        """A retired conversation's record, once."""
        if cid is None:
            return None
        with self._lock:
            return self._held.pop(cid, None)


class IdleSweeper:
    """One thread per process that retires every watched registry's idle conversations."""

    def __init__(self) -> None:
        self._watched: weakref.WeakSet[ConversationRegistry] = weakref.WeakSet()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        RUNTIME.adopt(self, IdleSweeper._forked)

    def _forked(self) -> None:
        """In a forked child: the thread is gone (trackers watch again as they reset)."""
        self._wake, self._thread = threading.Event(), None

    def watch(self, registry: ConversationRegistry) -> None:
        """Have idle interactions of ``registry`` retired on time."""
        self._watched.add(registry)
        self._wake.set()  # a shorter idle timeout may need an earlier sweep
        if self._thread is None or not self._thread.is_alive():
            self._thread = daemon_thread(self._sweep_loop, "agentsight-idle")
            self._thread.start()

    def _sweep_loop(self) -> None:
        """Sweep every watched registry at half the shortest idle timeout (at most a minute)."""
        while True:
            registries = list(self._watched)
            shortest = min((r.idle_timeout for r in registries), default=MAX_SWEEP_INTERVAL_S)
            wake = self._wake
            wake.wait(min(MAX_SWEEP_INTERVAL_S, max(0.05, shortest / 2)))
            wake.clear()
            for registry in registries:
                try:
                    registry.sweep()
                except Exception:
                    log_internal_error("retiring idle conversations")


_SWEEPER = IdleSweeper()


def watch_idle(registry: ConversationRegistry) -> None:
    """Have idle interactions of ``registry`` retired on time, by one thread per process."""
    _SWEEPER.watch(registry)
