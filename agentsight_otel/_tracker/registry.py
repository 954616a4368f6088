"""The tracker's conversations: bounded, and which one is current in each thread or task."""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from agentsight_otel._ids import conversation_trace_id
from agentsight_otel._tracker.fields import base_attributes
from agentsight_otel._tracker.state import ConversationState

_instances = itertools.count()


class ConversationRegistry:
    """Conversation states by id, the oldest idle ones forgotten past ``capacity``."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
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

    def obtain(
        self, cid: str, values: dict[str, Any] | None, default_environment: Callable[[], str]
    ) -> ConversationState:
        """The conversation's state, created when new, updated with the given attributes."""
        with self._lock:
            state = self._states.get(cid)
            if state is None:
                attributes = base_attributes(cid, default_environment())
                state = ConversationState(cid, conversation_trace_id(cid), attributes)
                self._states[cid] = state
                self._forget_idle()
            else:
                self._states.move_to_end(cid)
        if values:
            with state.lock:
                state.attributes = {**state.attributes, **values}
                if state.interaction is not None:
                    state.interaction.span.set_attributes(values)
        return state

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

    def _forget_idle(self) -> None:
        """Drop the oldest conversations with nothing pending while over capacity."""
        excess = len(self._states) - self._capacity
        if excess <= 0:  # the usual case: no copy of the ids on every new conversation
            return
        for cid in list(itertools.islice(self._states, excess * 2)):
            if excess <= 0:
                return
            state = self._states[cid]
            if state.interaction is None and not state.items:
                del self._states[cid]
                excess -= 1
