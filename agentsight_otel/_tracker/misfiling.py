"""Warnings for tracking calls and actions that miss the conversation the caller meant."""

from __future__ import annotations

import logging
import sys
import weakref
from typing import TYPE_CHECKING, TypeAlias

from agentsight_otel._log import RateLimitedLog

if TYPE_CHECKING:
    from agentsight_otel._tracker.registry import ConversationRegistry

_WARN = RateLimitedLog()
_PACKAGE = "agentsight_otel"
# The conversation get_or_create_conversation last opened, on any tracker, and that tracker's
# registry: what an action run outside every conversation was evidently meant for.
LastOpened: TypeAlias = "tuple[weakref.ref[ConversationRegistry], str] | None"
_last_opened: list[LastOpened] = [None]


def public_call() -> str:
    """The name of the public tracker method this call came through (for the warning)."""
    frame = sys._getframe(1)
    name = "a tracking call"
    while frame is not None and frame.f_globals.get("__name__", "").startswith(_PACKAGE):
        if not frame.f_code.co_name.startswith("_"):
            name = frame.f_code.co_name
        frame = frame.f_back  # type: ignore[assignment]
    return name


def warn_generated(cid: str, other_tracker_current: str | None, opened: str | None) -> None:
    """Warn (rate-limited) when a new conversation was generated while another was meant."""
    call = public_call()
    if other_tracker_current is not None:
        cause = (
            f"conversation {other_tracker_current!r} is current on another ConversationTracker "
            "instance"
        )
        fix = (
            "track on the tracker that opened it: use one tracker (agentsight_otel."
            "conversation_tracker, which every ConversationTracker() made without arguments "
            "shares) or pass conversation_id="
        )
    elif opened is not None:
        cause = (
            "no conversation is current in this thread or asyncio task, though "
            f"get_or_create_conversation opened {opened!r} elsewhere (an earlier request, a sync "
            "dependency run in a threadpool, or a task whose context does not reach its parent)"
        )
        fix = (
            "call get_or_create_conversation(conversation_id=...) in the handler or task that "
            "tracks, or pass conversation_id= to the call"
        )
    else:
        return
    _WARN.log(
        logging.WARNING,
        f"generated:{call}:{other_tracker_current is not None}",
        f"{call}() started a new generated conversation {cid!r} because {cause}; {fix}",
    )


def note_opened(registry: ConversationRegistry, cid: str) -> None:
    """Remember the conversation get_or_create_conversation opened last, process-wide."""
    _last_opened[0] = (weakref.ref(registry), cid)


def replace_last_opened(value: LastOpened) -> LastOpened:
    """Set what ``note_opened`` remembers; the previous value (isolated tests restore it)."""
    previous, _last_opened[0] = _last_opened[0], value
    return previous


def warn_outside(action: str) -> None:
    """Warn (rate-limited) when an action runs outside any conversation while one is mid-turn.

    The rule: the conversation opened last (by any tracker) has a turn open, so this
    call most likely ran in a thread or executor its context did not reach.
    """
    opened = _last_opened[0]
    if opened is None:
        return
    registry = opened[0]()
    state = registry.get(opened[1]) if registry is not None else None
    if state is None or state.turn is None:
        return
    _WARN.log(
        logging.WARNING,
        f"outside:{action}",
        f"@traced_action {action}() ran outside any conversation, so AgentSight will not see it, "
        f"while conversation {opened[1]!r} has a turn open in this process: work run by "
        "ThreadPoolExecutor.submit, loop.run_in_executor or threading.Thread starts with an "
        'empty context; submit it through contextvars.copy_context().run (README: "Threads and '
        'thread pools") or give the decorator conversation_id=',
    )
