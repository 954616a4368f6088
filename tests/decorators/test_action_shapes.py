"""Every decorator shape on every kind of callable records one action per call."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any

import pytest

from agentsight_otel import _semconv as sc
from agentsight_otel import traced_action
from agentsight_otel.exceptions import ValidationError

from .helpers import Rig, arguments, attrs, current_name


@traced_action
def bare(x: int) -> int:
    return x + 1


@traced_action()
def called(x: int) -> int:
    return x + 2


@traced_action(
    name="renamed",
    kind="task",
    capture_arguments=True,
    capture_result=True,
    conversation_id=None,
    redact=None,
)
def configured(x: int) -> int:
    return x + 3


class Shop:
    def __init__(self, stock: int) -> None:
        self.stock = stock

    @traced_action
    def buy(self, item: str, count: int = 1) -> int:
        self.stock -= count
        return self.stock

    @classmethod
    @traced_action
    def open(cls, hours: int) -> str:
        return f"{cls.__name__} {hours}h"

    @traced_action
    @classmethod
    def close(cls, reason: str) -> str:
        return f"{cls.__name__} closed: {reason}"

    @staticmethod
    @traced_action
    def price(item: str) -> float:
        return 2.5

    @traced_action
    @staticmethod
    def tax(amount: float) -> float:
        return amount * 0.2


def test_the_three_shapes_record_an_action_each(rig: Rig) -> None:
    rig.tracker.get_or_create_conversation("shapes")
    assert (bare(1), called(1), configured(1)) == (2, 3, 4)
    assert [s.name for s in rig.spans()] == ["bare", "called", "renamed"]
    assert attrs(rig.span("bare"))[sc.SPAN_KIND] == "tool"
    renamed = attrs(rig.span("renamed"))
    assert renamed[sc.SPAN_KIND] == "task"
    assert renamed[sc.TOOL_NAME] == renamed[sc.ENTITY_NAME] == "renamed"
    wire = rig.send("shapes")
    assert sorted(s["kind"] for s in wire["spans"]) == ["task", "tool", "tool", "turn"]


def test_methods_drop_self_and_cls_whichever_way_they_are_stacked(rig: Rig) -> None:
    rig.tracker.get_or_create_conversation("methods")
    shop = Shop(10)
    assert shop.buy("apple", count=3) == 7
    assert Shop.open(8) == "Shop 8h"
    assert shop.open(9) == "Shop 9h"
    assert Shop.close("night") == "Shop closed: night"
    assert Shop.price("pear") == 2.5
    assert shop.tax(10.0) == 2.0
    assert arguments(rig.span("buy")) == {"item": "apple", "count": 3}
    assert [arguments(s) for s in rig.spans("open")] == [{"hours": 8}, {"hours": 9}]
    assert arguments(rig.span("close")) == {"reason": "night"}
    assert arguments(rig.span("price")) == {"item": "pear"}
    assert arguments(rig.span("tax")) == {"amount": 10.0}


def test_async_functions_are_timed_across_their_awaits(rig: Rig) -> None:
    seen: list[str] = []

    @traced_action
    async def fetch(url: str) -> str:
        for _ in range(3):
            seen.append(current_name())
            await asyncio.sleep(0)
        return f"body of {url}"

    async def main() -> str:
        rig.tracker.get_or_create_conversation("async")
        other = asyncio.ensure_future(asyncio.sleep(0))  # another task runs between the awaits
        body = await fetch("https://x.test")
        await other
        return body

    assert asyncio.run(main()) == "body of https://x.test"
    assert seen == ["fetch"] * 3
    span = rig.span("fetch")
    assert attrs(span)[sc.TOOL_RESPONSE] == "body of https://x.test"
    assert attrs(span)[sc.CONVERSATION_ID] == "async"
    assert inspect.iscoroutinefunction(fetch)


def test_generators_end_when_exhausted_not_when_created(rig: Rig) -> None:
    @traced_action
    def count(n: int) -> Iterator[str]:
        yield from (str(i) for i in range(n))
        return None

    rig.tracker.get_or_create_conversation("gen")
    stream = count(3)
    assert rig.spans("count") == []
    assert next(stream) == "0"
    assert rig.spans("count") == []
    assert list(stream) == ["1", "2"]
    span = rig.span("count")
    assert attrs(span)[sc.TOOL_RESPONSE] == "012"
    assert attrs(span)["agentsight.tool.outcome"] == "exhausted"
    assert span.status.is_ok


def test_async_generators_end_when_exhausted(rig: Rig) -> None:
    @traced_action
    async def ticks(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def main() -> list[int]:
        rig.tracker.get_or_create_conversation("agen")
        stream = ticks(3)
        first = await stream.__anext__()
        assert rig.spans("ticks") == []
        return [first] + [i async for i in stream]

    assert asyncio.run(main()) == [0, 1, 2]
    span = rig.span("ticks")
    assert attrs(span)[sc.TOOL_RESPONSE] == "0\n1\n2"
    assert span.status.is_ok


def test_a_function_returning_a_coroutine_ends_when_it_is_awaited(rig: Rig) -> None:
    async def remote(x: int) -> int:
        await asyncio.sleep(0)
        return x * 10

    @traced_action
    def schedule(x: int) -> Awaitable[int]:
        return remote(x)

    async def main() -> int:
        rig.tracker.get_or_create_conversation("awaitable")
        pending = schedule(4)
        assert rig.spans("schedule") == []
        return await pending

    assert asyncio.run(main()) == 40
    assert attrs(rig.span("schedule"))[sc.TOOL_RESPONSE] == "40"


def test_a_function_returning_a_future_gets_the_same_future_back(rig: Rig) -> None:
    @traced_action
    def later(loop: Any, value: str) -> asyncio.Future[str]:
        future: asyncio.Future[str] = loop.create_future()
        loop.call_soon(future.set_result, value)
        return future

    async def main() -> str:
        rig.tracker.get_or_create_conversation("future")
        future = later(asyncio.get_running_loop(), "done")
        assert isinstance(future, asyncio.Future)
        result = await future
        await asyncio.sleep(0)  # the done callback runs on the next loop iteration
        return result

    assert asyncio.run(main()) == "done"
    assert attrs(rig.span("later"))[sc.TOOL_RESPONSE] == "done"


def test_wraps_keeps_name_doc_signature_and_wrapped() -> None:
    def original(a: int, *, b: str = "x") -> str:
        """Docs."""
        return b * a

    decorated = traced_action(original)
    assert decorated.__name__ == "original"
    assert decorated.__doc__ == "Docs."
    assert decorated.__wrapped__ is original  # type: ignore[attr-defined]
    assert inspect.signature(decorated) == inspect.signature(original)


def test_decoration_rejects_bad_options_at_once() -> None:
    with pytest.raises(ValidationError):
        traced_action(kind="llm")
    with pytest.raises(ValidationError):
        traced_action(name="  ")
    with pytest.raises(ValidationError):
        traced_action(conversation_id=" ")
    with pytest.raises(ValidationError):
        traced_action(redact="no")  # type: ignore[arg-type]


def test_callables_without_a_name_or_signature_still_work(rig: Rig) -> None:
    class Adder:
        def __call__(self, a: int, b: int) -> int:
            return a + b

    rig.tracker.get_or_create_conversation("callables")
    assert traced_action(Adder())(1, 2) == 3
    assert traced_action(max)(3, 9) == 9
    assert arguments(rig.span("Adder")) == {"a": 1, "b": 2}
    assert arguments(rig.span("max")) == {"arg0": 3, "arg1": 9}
