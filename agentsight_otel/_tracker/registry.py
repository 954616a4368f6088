"""The tracker's conversations: bounded, and which one is current in each thread or task.

The registry holds at most ``capacity`` conversations, least recently used first. Past it, or
once a conversation has gone untracked for ``idle_timeout`` seconds, the oldest are retired:
their open turn ends marked incomplete (``evicted`` or ``abandoned``) and is delivered.
A conversation whose lock is held (a tracking call or send on it is running) is never taken.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from agentsight_otel._ids import conversation_trace_id
from agentsight_otel._runtime import RUNTIME, ForkSafeLock
from agentsight_otel._tracker.fields import base_attributes
from agentsight_otel._tracker.retired import RetiredConversations
from agentsight_otel._tracker.state import ConversationState

if TYPE_CHECKING:
    from agentsight_otel._tracker.tracker import ConversationTracker

ABANDONED = "abandoned"  # agentsight.turn.incomplete_reason: untracked for idle_timeout
EVICTED = "evicted"  # agentsight.turn.incomplete_reason: retired to keep within capacity
# Ends a retired conversation's turn; called holding the state's lock.
Retire = Callable[[ConversationState, str], None]


class ConversationRegistry:
    """Conversation states by id in least-recently-used order, bounded in count and idle time.

    Past capacity, conversations without an open turn (sent, or never tracked) are
    forgotten first, oldest first, wherever they are in the order; only then is the oldest open
    turn evicted, and only as many as the capacity forces. A state handed out by
    ``hold`` is pinned until its caller holds its lock: it is never taken in between.
    """

    def __init__(self, capacity: int, clock: Callable[[], float]) -> None:
        self._capacity = capacity
        self._clock = clock
        self.idle_timeout = float("inf")  # set from the settings once they are resolved
        self.retire: Retire | None = None
        self.retired = RetiredConversations()
        self.opened: str | None = None  # the last id get_or_create_conversation was given
        self._lock = threading.Lock()
        self._states: OrderedDict[str, ConversationState] = OrderedDict()
        # The ids of states with no open turn, in the same order: what goes first.
        self._quiet: OrderedDict[str, None] = OrderedDict()
        # The tracker made without arguments first (agentsight_otel.conversation_tracker) when
        # this is the process's shared registry: the one to use when none is named.
        self.owner: ConversationTracker | None = None
        RUNTIME.adopt(self, ConversationRegistry.forked)

    def get(self, cid: str | None) -> ConversationState | None:
        """A known conversation's state."""
        return self._states.get(cid) if cid is not None else None

    def holds(self, state: ConversationState) -> bool:
        """Whether ``state`` is still this registry's (it was not retired meanwhile)."""
        return self._states.get(state.conversation_id) is state

    def __len__(self) -> int:
        """How many conversations are held."""
        return len(self._states)

    def hold(
        self, cid: str, values: dict[str, Any] | None, default_environment: Callable[[], str]
    ) -> ConversationState:
        """The conversation's state, created when new, locked for the ``with`` block.

        It is updated with the given attributes. Until the lock is taken the state is pinned,
        so no other thread's retirement pass takes it from under its caller.
        """
        now = self._clock()
        retired: list[tuple[ConversationState, str]] = []
        with self._lock:
            state = self._states.get(cid)
            if state is None:
                attributes = base_attributes(cid, default_environment())
                state = ConversationState(cid, conversation_trace_id(cid), attributes)
                self._states[cid] = state
                self._quiet[cid] = None
            else:
                self._order(cid)
            state.last_used = now
            states = self._states
            # Idle or over capacity: the least recently used (first) conversation tells.
            retiring = (
                len(states) > self._capacity
                or next(iter(states.values())).last_used <= now - self.idle_timeout
            )
            # The common case, at every tracking call: nobody else uses it, none to retire.
            locked = not retiring and state.lock.acquire(blocking=False)
            if not locked:
                state.pins += 1  # so no retirement pass takes it before its caller locks it
                if retiring:
                    retired = self._take_retired(now)
        if not locked:
            self._end(retired)
            try:
                state.lock.acquire()
            finally:
                with self._lock:
                    state.pins -= 1
        if values:
            try:
                state.attributes = {**state.attributes, **values}
                if state.turn is not None:
                    state.turn.span.set_attributes(values)
            except BaseException:
                state.lock.release()
                raise
        return state

    def obtain(
        self, cid: str, values: dict[str, Any] | None, default_environment: Callable[[], str]
    ) -> ConversationState:
        """The conversation's state, created when new, updated with the given attributes."""
        with self.hold(cid, values, default_environment) as state:
            return state

    def turn_opened(self, state: ConversationState) -> None:
        """``state`` has an open turn now: it is no longer among the first to go."""
        with self._lock:
            self._quiet.pop(state.conversation_id, None)

    def turn_closed(self, state: ConversationState) -> None:
        """``state``'s turn ended: it goes before any open one."""
        with self._lock:
            if self._states.get(state.conversation_id) is state:
                self._quiet[state.conversation_id] = None
                self._order(state.conversation_id)

    def sweep(self) -> int:
        """Retire what went idle (and any excess) now; how many were retired."""
        with self._lock:
            retired = self._take_retired(self._clock())
        self._end(retired)
        return len(retired)

    def forked(self) -> None:
        """In a forked child: fresh locks, and the parent's open turns left to it."""
        self._lock = threading.Lock()
        for state in self._states.values():
            state.lock = threading.Lock()
            state.pins = 0
            state.turn, state.items, state.uploads = None, [], []
        self._quiet = OrderedDict.fromkeys(self._states)

    def states(self) -> list[ConversationState]:
        """A snapshot of every conversation held."""
        with self._lock:
            return list(self._states.values())

    def _order(self, cid: str) -> None:
        """Mark ``cid`` the most recently used (called holding the registry lock)."""
        self._states.move_to_end(cid)
        if cid in self._quiet:
            self._quiet.move_to_end(cid)

    def _take_retired(self, now: float) -> list[tuple[ConversationState, str]]:
        """Remove what went idle, then what the capacity forces: sent ones before unsent ones.

        Pinned or locked (in use) states are never taken. The removed states' locks are held,
        for ``_end`` to release.
        """
        idle_before = now - self.idle_timeout
        taken: list[tuple[ConversationState, str]] = []
        for state in self._states.values():
            if state.last_used > idle_before:
                break  # least recently used first: nothing later is idle either
            if self._lockable(state):
                taken.append((state, ABANDONED))
        excess = len(self._states) - len(taken) - self._capacity
        if excess > 0:
            quiet = (self._states[cid] for cid in self._quiet)
            taken.extend(self._oldest(quiet, excess, taken, EVICTED))
        excess = len(self._states) - len(taken) - self._capacity
        if excess > 0:
            taken.extend(self._oldest(iter(self._states.values()), excess, taken, EVICTED))
        for state, _ in taken:
            del self._states[state.conversation_id]
            self._quiet.pop(state.conversation_id, None)
        return taken

    def _oldest(
        self,
        candidates: Iterator[ConversationState],
        count: int,
        taken: list[tuple[ConversationState, str]],
        reason: str,
    ) -> list[tuple[ConversationState, str]]:
        """Up to ``count`` of ``candidates`` that can be taken now (locked for the taker)."""
        already = {id(state) for state, _ in taken}
        chosen: list[tuple[ConversationState, str]] = []
        for state in candidates:
            if len(chosen) == count:
                break
            if id(state) not in already and self._lockable(state):
                chosen.append((state, reason))
        return chosen

    @staticmethod
    def _lockable(state: ConversationState) -> bool:
        """Take the lock of a state nobody uses or is about to use; whether it was taken."""
        return state.pins == 0 and state.lock.acquire(blocking=False)

    def _end(self, retired: list[tuple[ConversationState, str]]) -> None:
        """End the retired conversations' turns (outside the registry lock)."""
        for state, reason in retired:
            try:
                if state.turn is not None and self.retire is not None:
                    self.retire(state, reason)
                state.items, state.uploads = [], []
            finally:
                state.lock.release()


_shared: list[ConversationRegistry] = []
_shared_lock = ForkSafeLock()


def shared_registry() -> ConversationRegistry:
    """The process's conversations, shared by every tracker made without arguments."""
    with _shared_lock:
        if not _shared:
            _shared.append(ConversationRegistry(10_000, time.monotonic))
        return _shared[0]
