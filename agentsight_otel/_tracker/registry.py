"""The tracker's conversations: bounded, and which one is current in each thread or task.

The registry holds at most ``capacity`` conversations, least recently used first. Past it, or
once a conversation has gone untracked for ``idle_timeout`` seconds, the oldest are retired:
their open interaction ends marked incomplete (``evicted`` or ``abandoned``) and is delivered.
A conversation whose lock is held (a tracking call or send on it is running) is never taken.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from agentsight_otel._ids import conversation_trace_id
from agentsight_otel._tracker.fields import base_attributes
from agentsight_otel._tracker.retired import RetiredConversations
from agentsight_otel._tracker.state import ConversationState

_instances = itertools.count()
ABANDONED = "abandoned"  # agentsight.turn.incomplete_reason: untracked for idle_timeout
EVICTED = "evicted"  # agentsight.turn.incomplete_reason: retired to keep within capacity
# How far past the excess a retirement pass on the tracking path looks for what can go.
_SCAN = 64

# Ends a retired conversation's interaction; called holding the state's lock.
Retire = Callable[[ConversationState, str], None]


class ConversationRegistry:
    """Conversation states by id in least-recently-used order, bounded in count and idle time."""

    def __init__(self, capacity: int, clock: Callable[[], float]) -> None:
        self._capacity = capacity
        self._clock = clock
        self.idle_timeout = float("inf")  # set from the settings once they are resolved
        self.retire: Retire | None = None
        self.retired = RetiredConversations()
        self.opened: str | None = None  # the last id get_or_create_conversation was given
        self._lock = threading.Lock()
        self._states: OrderedDict[str, ConversationState] = OrderedDict()
        # One ContextVar per registry: threads start without a current conversation and
        # asyncio tasks inherit a copy, so "current" never leaks between requests.
        self._current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
            f"agentsight_otel.current_conversation.{next(_instances)}", default=None
        )

    def current_id(self) -> str | None:
        """The current conversation id of this thread or task."""
        return self._current.get()

    def make_current(self, cid: str) -> None:
        """Make ``cid`` current in this thread or task."""
        self._current.set(cid)

    def get(self, cid: str | None) -> ConversationState | None:
        """A known conversation's state."""
        return self._states.get(cid) if cid is not None else None

    def __len__(self) -> int:
        """How many conversations are held."""
        return len(self._states)

    def obtain(
        self, cid: str, values: dict[str, Any] | None, default_environment: Callable[[], str]
    ) -> ConversationState:
        """The conversation's state, created when new, updated with the given attributes."""
        now = self._clock()
        retired: list[tuple[ConversationState, str]] = []
        with self._lock:
            state = self._states.get(cid)
            if state is None:
                attributes = base_attributes(cid, default_environment())
                state = ConversationState(cid, conversation_trace_id(cid), attributes)
                self._states[cid] = state
                retired = self._take_retired(now, keep=state, scan=_SCAN)
            else:
                self._states.move_to_end(cid)
            state.last_used = now
        if retired:
            self._end(retired)
        if values:
            with state.lock:
                state.attributes = {**state.attributes, **values}
                if state.interaction is not None:
                    state.interaction.span.set_attributes(values)
        return state

    def sweep(self) -> int:
        """Retire what went idle (and any excess) now; how many were retired."""
        with self._lock:
            retired = self._take_retired(self._clock(), keep=None, scan=len(self._states))
        self._end(retired)
        return len(retired)

    def forked(self) -> None:
        """In a forked child: fresh locks, and the parent's open interactions left to it."""
        self._lock = threading.Lock()
        for state in self._states.values():
            state.lock = threading.Lock()
            state.interaction, state.items, state.uploads = None, [], []

    def states(self) -> list[ConversationState]:
        """A snapshot of every conversation held."""
        with self._lock:
            return list(self._states.values())

    def _take_retired(
        self, now: float, keep: ConversationState | None, scan: int
    ) -> list[tuple[ConversationState, str]]:
        """Remove what went idle, then the oldest past capacity, sent ones before unsent ones.

        The removed states' locks are held, for ``_end`` to release.
        """
        excess = len(self._states) - self._capacity
        oldest = list(itertools.islice(self._states.items(), max(0, excess) + scan + 1))
        idle_before = now - self.idle_timeout
        taken: list[tuple[ConversationState, str]] = []
        for unsent_too in (False, True):
            for cid, state in oldest:
                idle = state.last_used <= idle_before
                if excess <= 0 and not idle:
                    break  # least recently used first: nothing later is idle either
                if state is keep or cid not in self._states:
                    continue
                if state.interaction is not None and not (idle or unsent_too):
                    continue
                if not state.lock.acquire(blocking=False):  # in use: never taken
                    continue
                del self._states[cid]
                excess -= 1
                taken.append((state, ABANDONED if idle else EVICTED))
        return taken

    def _end(self, retired: list[tuple[ConversationState, str]]) -> None:
        """End the retired conversations' interactions (outside the registry lock)."""
        for state, reason in retired:
            try:
                if state.interaction is not None and self.retire is not None:
                    self.retire(state, reason)
                state.items, state.uploads = [], []
            finally:
                state.lock.release()


_shared: list[ConversationRegistry] = []
_shared_lock = threading.Lock()


def shared_registry() -> ConversationRegistry:
    """The process's conversations, shared by every tracker made without arguments."""
    with _shared_lock:
        if not _shared:
            _shared.append(ConversationRegistry(10_000, time.monotonic))
        return _shared[0]
