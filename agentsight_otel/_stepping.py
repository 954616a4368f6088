"""Running a generator (or async generator) one step at a time inside a context of ours.

A context made current around a whole stream would stay current in the consumer between items;
made current around each step, it is current only while the wrapped code runs.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from contextvars import Token
from typing import Any, Protocol, TypeVar

from opentelemetry import context as otel_context

T = TypeVar("T")


class Step(Protocol):
    """What a driven stream runs inside, and is told how each step went."""

    def enter(self) -> Token[otel_context.Context]:
        """Make the context current; the token for ``leave``."""
        ...

    def leave(self, token: Token[otel_context.Context]) -> None:
        """Restore the context ``enter`` replaced."""
        ...

    def collect(self, item: object) -> None:
        """An item the stream yielded."""
        ...

    def fail(self, error: BaseException) -> None:
        """The stream raised ``error``."""
        ...

    def finish_stream(self, outcome: str) -> None:
        """The stream was exhausted or closed."""
        ...


def drive(call: Step, inner: Generator[T, Any, Any]) -> Generator[T, Any, Any]:
    """``yield from inner`` with ``call``'s context current inside ``inner`` only."""
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        token = call.enter()
        try:
            item = inner.send(sent) if thrown is None else inner.throw(thrown)
        except StopIteration as stop:
            call.leave(token)
            call.finish_stream("exhausted")
            return stop.value
        except BaseException as exc:  # the caller's own: recorded, then re-raised untouched
            call.leave(token)
            call.fail(exc)
            raise
        call.leave(token)
        call.collect(item)
        thrown = None
        try:
            sent = yield item
        except GeneratorExit:
            _close(call, inner)
            raise
        except BaseException as exc:  # the consumer's throw(): passed on into the stream
            sent, thrown = None, exc


def _close(call: Step, inner: Generator[Any, Any, Any]) -> None:
    """Close ``inner`` (its cleanup runs inside ``call``'s context) and finish as closed."""
    token = call.enter()
    try:
        inner.close()
    except BaseException as exc:  # the caller's own: recorded, then re-raised untouched
        call.leave(token)
        call.fail(exc)
        raise
    call.leave(token)
    call.finish_stream("closed")


async def drive_async(call: Step, inner: AsyncGenerator[T, Any]) -> AsyncGenerator[T, Any]:
    """``async for`` over ``inner`` passing sends and throws on, ``call``'s context inside."""
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        token = call.enter()
        try:
            item = await (inner.asend(sent) if thrown is None else inner.athrow(thrown))
        except StopAsyncIteration:
            call.leave(token)
            call.finish_stream("exhausted")
            return
        except BaseException as exc:  # the caller's own: recorded, then re-raised untouched
            call.leave(token)
            call.fail(exc)
            raise
        call.leave(token)
        call.collect(item)
        thrown = None
        try:
            sent = yield item
        except GeneratorExit:
            await _aclose(call, inner)
            raise
        except BaseException as exc:  # the consumer's throw(): passed on into the stream
            sent, thrown = None, exc


async def _aclose(call: Step, inner: AsyncGenerator[Any, Any]) -> None:
    """Close ``inner`` inside ``call``'s context and finish as closed."""
    token = call.enter()
    try:
        await inner.aclose()
    except BaseException as exc:  # the caller's own: recorded, then re-raised untouched
        call.leave(token)
        call.fail(exc)
        raise
    call.leave(token)
    call.finish_stream("closed")
