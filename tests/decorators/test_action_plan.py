"""The binding plan gives what ``Signature.bind`` + ``apply_defaults`` gives, minus self/cls."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from agentsight_otel._actions.plan import ArgumentPlan


def plain(a, b, c=3): ...  # type: ignore[no-untyped-def]
def only_defaults(a=1, b="x"): ...  # type: ignore[no-untyped-def]
def star(a, *rest, key=None, **more): ...  # type: ignore[no-untyped-def]
def positional_only(a, b=2, /, c=3, *, d, e=5): ...  # type: ignore[no-untyped-def]
def keywords_only(*, x, y=0): ...  # type: ignore[no-untyped-def]
def method(self, item, count=1): ...  # type: ignore[no-untyped-def]
def class_method(cls, *names): ...  # type: ignore[no-untyped-def]
def nothing(): ...  # type: ignore[no-untyped-def]
def kwargs_only(**options): ...  # type: ignore[no-untyped-def]


CASES: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = [
    (plain, (1, 2), {}),
    (plain, (1, 2, 4), {}),
    (plain, (1,), {"b": 2}),
    (plain, (), {"c": 9, "b": 2, "a": 1}),
    (only_defaults, (), {}),
    (only_defaults, (5,), {}),
    (only_defaults, (), {"b": "y"}),
    (star, (1,), {}),
    (star, (1, 2, 3), {"key": "k", "z": 26}),
    (star, (), {"a": 1, "other": True}),
    (positional_only, (1,), {"d": 4}),
    (positional_only, (1, 2, 3), {"d": 4, "e": 6}),
    (positional_only, (1,), {"c": 30, "d": 4}),
    (keywords_only, (), {"x": 1}),
    (keywords_only, (), {"y": 2, "x": 1}),
    (method, ("SELF", "apple"), {}),
    (method, ("SELF",), {"item": "pear", "count": 2}),
    (class_method, ("CLS", "a", "b"), {}),
    (nothing, (), {}),
    (kwargs_only, (), {}),
    (kwargs_only, (), {"a": 1, "b": 2}),
]


def expected(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    bound = inspect.signature(func).bind(*args, **kwargs)
    bound.apply_defaults()
    result = dict(bound.arguments)
    first = next(iter(inspect.signature(func).parameters), None)
    if first in ("self", "cls"):
        result.pop(first)
    return result


@pytest.mark.parametrize(("func", "args", "kwargs"), CASES)
def test_the_plan_binds_like_the_signature(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    plan = ArgumentPlan.of(func)
    assert plan is not None
    got = plan.bind(args, kwargs)
    want = expected(func, args, kwargs)
    assert got == want
    assert list(got) == list(want)  # same order: the recorded JSON reads like the signature


def test_calls_python_would_refuse_are_recorded_without_raising() -> None:
    plan = ArgumentPlan.of(plain)
    assert plan is not None
    assert plan.bind((1, 2, 3, 4), {"zz": 0}) == {"a": 1, "b": 2, "c": 3, "arg3": 4, "zz": 0}
    assert plan.bind((), {}) == {"c": 3}


def test_var_keyword_is_a_fresh_dict_on_every_call() -> None:
    plan = ArgumentPlan.of(kwargs_only)
    assert plan is not None
    first = plan.bind((), {})
    first["options"]["added"] = True
    assert plan.bind((), {}) == {"options": {}}


def test_functions_without_a_signature_have_no_plan() -> None:
    assert ArgumentPlan.of(max) is None
