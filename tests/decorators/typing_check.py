"""Checked by mypy (``test_typing.py``), never run: decorated functions keep their types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from typing_extensions import assert_type

from agentsight_otel import traced_action


@traced_action
def add(a: int, b: int = 2) -> int:
    return a + b


@traced_action()
async def fetch(url: str, *, timeout: float = 1.0) -> bytes:
    return b""


def hide(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in arguments.items() if k != "password"}


@traced_action(name="login", kind="task", capture_result=False, redact=hide)
def login(user: str, password: str) -> bool:
    return True


@traced_action
def stream(n: int) -> Iterator[str]:
    yield "a"


@traced_action(capture_arguments=False)
async def astream(n: int) -> AsyncIterator[int]:
    yield n


class Shop:
    @traced_action
    def buy(self, item: str) -> str:
        return item


async def uses() -> None:
    assert_type(add(1), int)
    assert_type(login("ann", password="x"), bool)
    assert_type(stream(3), Iterator[str])
    assert_type(astream(3), AsyncIterator[int])
    assert_type(Shop().buy("pear"), str)
    assert_type(await fetch("https://x.test", timeout=2.0), bytes)
    add("one")  # type: ignore[arg-type]
    await fetch("u", retries=3)  # type: ignore[call-arg]
