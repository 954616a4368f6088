"""Streams: the action lasts as long as the stream, and ends however the stream ends."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Generator, Iterator
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from agentsight_otel import _semconv as sc
from agentsight_otel import traced_action
from agentsight_otel._actions.call import OUTCOME

from .helpers import Rig, attrs, current_name


class Broken(Exception):
    pass


@traced_action
def numbers(n: int) -> Iterator[str]:
    try:
        for i in range(n):
            yield f"{i}:{current_name()}"
    finally:
        cleanup.append(current_name())


cleanup: list[str] = []


def test_the_span_is_current_inside_the_generator_only(rig: Rig) -> None:
    rig.tracker.get_or_create_conversation("inside")
    seen = []
    for item in numbers(2):
        seen.append((item, current_name()))
    assert seen == [("0:numbers", "turn"), ("1:numbers", "turn")]


def test_a_generator_closed_early_ends_its_action_as_closed(rig: Rig) -> None:
    cleanup.clear()
    rig.tracker.get_or_create_conversation("closed")
    stream = numbers(10)
    assert next(stream) == "0:numbers"
    assert rig.spans("numbers") == []
    stream.close()
    assert cleanup == ["numbers"]  # the generator's own cleanup ran inside the action
    span = rig.span("numbers")
    assert attrs(span)[OUTCOME] == "closed"
    assert attrs(span)[sc.TOOL_RESPONSE] == "0:numbers"
    assert span.status.status_code is StatusCode.UNSET


def test_a_generator_dropped_unfinished_ends_its_action_as_abandoned(rig: Rig) -> None:
    rig.tracker.get_or_create_conversation("abandoned")
    started = numbers(10)
    next(started)
    del started
    never_started = numbers(5)
    del never_started
    gc.collect()
    outcomes = [attrs(s)[OUTCOME] for s in rig.spans("numbers")]
    assert outcomes == ["abandoned", "abandoned"]


def test_an_exception_inside_a_generator_is_recorded_and_raised(rig: Rig) -> None:
    @traced_action
    def failing() -> Iterator[int]:
        yield 1
        raise Broken("mid-stream")

    rig.tracker.get_or_create_conversation("gen-error")
    stream = failing()
    assert next(stream) == 1
    with pytest.raises(Broken, match="mid-stream"):
        next(stream)
    span = rig.span("failing")
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[sc.TOOL_ERROR] == "Broken: mid-stream"
    assert len([e for e in span.events if e.name == "exception"]) == 1


def test_send_throw_and_the_return_value_pass_through(rig: Rig) -> None:
    @traced_action
    def accumulate() -> Generator[int, int, str]:
        total = 0
        while True:
            try:
                total += yield total
            except Broken:
                return f"stopped at {total}"

    rig.tracker.get_or_create_conversation("protocol")
    stream = accumulate()
    assert next(stream) == 0
    assert stream.send(5) == 5
    assert stream.send(2) == 7
    with pytest.raises(StopIteration) as stop:
        stream.throw(Broken())
    assert stop.value.value == "stopped at 7"
    span = rig.span("accumulate")
    assert attrs(span)[OUTCOME] == "exhausted"
    assert span.status.status_code is StatusCode.OK


def test_a_generator_that_fails_when_called_records_the_error(rig: Rig) -> None:
    @traced_action
    def needs_two(a: int, b: int) -> Iterator[int]:
        yield a + b

    rig.tracker.get_or_create_conversation("bad-call")
    with pytest.raises(TypeError):
        needs_two(1)  # type: ignore[call-arg]
    assert rig.span("needs_two").status.status_code is StatusCode.ERROR


@traced_action
async def ticker(n: int, fail_at: int | None = None) -> AsyncIterator[str]:
    try:
        for i in range(n):
            if i == fail_at:
                raise Broken(f"tick {i}")
            await asyncio.sleep(0)
            yield f"{i}:{current_name()}"
    finally:
        await asyncio.sleep(0)


def test_an_async_generator_closed_early_ends_as_closed(rig: Rig) -> None:
    async def main() -> list[tuple[str, str]]:
        rig.tracker.get_or_create_conversation("agen-closed")
        stream = ticker(10)
        seen = [(await stream.__anext__(), current_name())]
        await stream.aclose()
        return seen

    assert asyncio.run(main()) == [("0:ticker", "turn")]
    span = rig.span("ticker")
    assert attrs(span)[OUTCOME] == "closed"
    assert span.status.status_code is StatusCode.UNSET


def test_an_exception_inside_an_async_generator_is_recorded_and_raised(rig: Rig) -> None:
    async def main() -> list[str]:
        rig.tracker.get_or_create_conversation("agen-error")
        seen = []
        with pytest.raises(Broken, match="tick 2"):
            async for item in ticker(5, fail_at=2):
                seen.append(item)
        return seen

    assert asyncio.run(main()) == ["0:ticker", "1:ticker"]
    span = rig.span("ticker")
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[sc.TOOL_ERROR] == "Broken: tick 2"
    assert attrs(span)[sc.TOOL_RESPONSE] == "0:ticker1:ticker"  # what streamed before the error
    assert len([e for e in span.events if e.name == "exception"]) == 1


def test_an_async_generator_dropped_unfinished_ends_as_abandoned(rig: Rig) -> None:
    async def main() -> None:
        rig.tracker.get_or_create_conversation("agen-abandoned")
        stream = ticker(10)
        await stream.__anext__()
        del stream
        gc.collect()
        for _ in range(5):  # let the loop's async-generator finalizer run aclose()
            await asyncio.sleep(0)

    asyncio.run(main())
    assert attrs(rig.span("ticker"))[OUTCOME] == "abandoned"


def test_cancelling_an_async_generator_mid_item_records_cancelled(rig: Rig) -> None:
    @traced_action
    async def waits() -> AsyncIterator[int]:
        yield 1
        await asyncio.Event().wait()
        yield 2

    async def consume() -> None:
        async for _ in waits():
            pass

    async def main() -> None:
        rig.tracker.get_or_create_conversation("agen-cancel")
        task = asyncio.ensure_future(consume())
        for _ in range(3):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    span = rig.span("waits")
    assert span.status.description == "cancelled"


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
def test_an_awaitable_never_awaited_ends_as_abandoned(rig: Rig) -> None:
    async def remote() -> int:
        return 1

    @traced_action
    def schedule() -> Awaitable[int]:
        return remote()

    rig.tracker.get_or_create_conversation("never-awaited")
    pending: Any = schedule()
    # Python warns that the coroutine was never awaited, as it would without the decorator.
    del pending
    gc.collect()
    assert attrs(rig.span("schedule"))[OUTCOME] == "abandoned"


def test_a_returned_future_that_is_cancelled_records_cancelled(rig: Rig) -> None:
    @traced_action
    def later(loop: Any) -> asyncio.Future[int]:
        future: asyncio.Future[int] = loop.create_future()
        return future

    async def main() -> None:
        rig.tracker.get_or_create_conversation("future-cancel")
        future = later(asyncio.get_running_loop())
        future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await future
        await asyncio.sleep(0)

    asyncio.run(main())
    assert rig.span("later").status.description == "cancelled"
