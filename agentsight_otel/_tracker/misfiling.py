"""The warning for a tracking call that starts a generated conversation the caller did not mean."""

from __future__ import annotations

import logging
import sys

from agentsight_otel._log import RateLimitedLog

_WARN = RateLimitedLog()
_PACKAGE = "agentsight_otel"


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
