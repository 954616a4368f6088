"""Actions that outlive the call: generators, async generators and handed-back awaitables.

The span starts at the call (arguments, placement) and ends when the stream is exhausted,
closed or abandoned, or when the awaitable settles. The action span is current only while the
wrapped code runs, never in the consumer between items.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable
from typing import Any, TypeVar

from agentsight_otel._actions.call import ActionCall
from agentsight_otel._log import internal_errors

T = TypeVar("T")


def watch(owner: object, call: ActionCall) -> None:
    """End the action as abandoned if ``owner`` is garbage-collected before it finished."""
    with internal_errors("@traced_action watching for abandonment"):
        weakref.finalize(owner, call.abandon).atexit = False


async def settle(call: ActionCall, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` inside the action; its outcome ends the action."""
    token = call.enter()
    try:
        result = await awaitable
    except BaseException as exc:  # the caller's own: recorded, then re-raised untouched
        call.leave(token)
        call.fail(exc)
        raise
    call.leave(token)
    call.succeed(result)
    return result


def settle_later(call: ActionCall, awaitable: Awaitable[T]) -> Awaitable[T]:
    """What a plain function that returned an awaitable gives back: ends when it settles.

    An asyncio future is returned as it is (callers may cancel it or add callbacks) and ends the
    action from a done callback; any other awaitable is wrapped in a coroutine.
    """
    if isinstance(awaitable, asyncio.Future):
        awaitable.add_done_callback(lambda future: _settled(call, future))
        watch(awaitable, call)
        return awaitable
    wrapped = settle(call, awaitable)
    watch(wrapped, call)
    return wrapped


def _settled(call: ActionCall, future: asyncio.Future[Any]) -> None:
    """A done callback: the future's result, exception or cancellation ends the action."""
    if future.cancelled():
        call.fail(asyncio.CancelledError())
        return
    error = future.exception()
    if error is not None:
        call.fail(error)
    else:
        call.succeed(future.result())
