"""``@traced_action``: every call of a tool function becomes an action span."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast, overload

from opentelemetry.context import attach, detach

from agentsight_otel import _semconv as sc
from agentsight_otel._actions.call import ActionCall, fail, succeed
from agentsight_otel._actions.spec import ActionSpec, Redact
from agentsight_otel._actions.streams import settle_later, watch
from agentsight_otel._stepping import drive, drive_async
from agentsight_otel._tracker import fields
from agentsight_otel.exceptions import ValidationError

P = ParamSpec("P")
R = TypeVar("R")

# Results that are certainly not awaitable, so most calls skip the slower check.
_PLAIN = frozenset({type(None), str, int, float, bool, dict, list, tuple, bytes, set})


@overload
def traced_action(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def traced_action(
    func: None = None,
    /,
    *,
    name: str | None = None,
    kind: str = "tool",
    capture_arguments: bool = True,
    capture_result: bool = True,
    conversation_id: str | None = None,
    redact: Redact | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def traced_action(
    func: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    kind: str = "tool",
    capture_arguments: bool = True,
    capture_result: bool = True,
    conversation_id: str | None = None,
    redact: Redact | None = None,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Record each call of the decorated function as an action (a ``tool`` or ``task`` span).

    Works on functions, methods (``self``/``cls`` are not recorded), ``async def`` functions,
    generators and async generators (the action ends when the stream is exhausted, closed or
    garbage-collected, as ``agentsight.tool.outcome`` says) and plain functions returning an
    awaitable (it ends when that settles: an asyncio future comes back as it is, any other
    awaitable wrapped in a coroutine).

    Inside a tracked turn (the conversation current in this thread or task, or
    ``conversation_id=``) the action is a child of the turn and goes out with that
    conversation; spans started inside the function nest under it. Outside any conversation it
    is a plain span from the global tracer provider. Tracing failures never reach the caller.

    Arguments are recorded as JSON (``redact`` receives them as a dict and returns the dict to
    record, or None for none), the result as text, an exception as the error with error status
    (a cancelled task as "cancelled") and is re-raised as it is; ``capture_arguments=False`` and
    ``capture_result=False`` keep values out.

    ``asyncio.gather``, ``asyncio.create_task`` and ``asyncio.to_thread`` carry the current
    conversation and span into the work they start. ``ThreadPoolExecutor.submit``,
    ``loop.run_in_executor`` and ``threading.Thread`` do not: submit through a copy of the
    context, one copy per submission::

        pool.submit(contextvars.copy_context().run, lookup_order, order_id)
    """
    options = _checked_options(name, kind, redact, conversation_id)
    options.update(capture_arguments=capture_arguments, capture_result=capture_result)

    def decorate(target: Callable[P, R]) -> Callable[P, R]:
        return cast("Callable[P, R]", _decorate(target, **options))

    return decorate(func) if func is not None else decorate


def _checked_options(
    name: object, kind: object, redact: object, conversation_id: object
) -> dict[str, Any]:
    """The decorator's options, checked (ValidationError at decoration time)."""
    if kind not in (sc.KIND_TOOL, sc.KIND_TASK):
        raise ValidationError("kind must be 'tool' or 'task'")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValidationError("name must be a non-empty string")
    if conversation_id is not None:
        conversation_id = fields.conversation_id(conversation_id)
    if redact is not None and not callable(redact):
        raise ValidationError("redact must be callable")
    return {
        "name": name,
        "kind": kind,
        "redact": redact,
        "conversation_id": conversation_id,
    }


def _decorate(target: Any, *, name: str | None, **options: Any) -> Any:
    """The wrapper for ``target``'s shape; methods' descriptors are unwrapped and rewrapped."""
    if isinstance(target, (classmethod, staticmethod)):
        return type(target)(_decorate(target.__func__, name=name, **options))
    if not callable(target):
        raise ValidationError(f"@traced_action needs a callable, not {type(target).__name__}")
    action = (name or getattr(target, "__name__", None) or type(target).__name__).strip()[:255]
    spec = ActionSpec(target, action, **options)
    if inspect.isasyncgenfunction(target):
        return _stream(target, spec, drive_async)
    if inspect.isgeneratorfunction(target):
        return _stream(target, spec, drive)
    if inspect.iscoroutinefunction(target):
        return _coroutine(target, spec)
    return _plain(target, spec)


def _plain(func: Callable[..., Any], spec: ActionSpec) -> Callable[..., Any]:
    """A function; if it hands back an awaitable, the action lasts until that settles."""
    begin, capture_result = spec.begin, spec.capture_result

    @functools.wraps(func)
    def action(*args: Any, **kwargs: Any) -> Any:
        started = begin(args, kwargs)
        if started is None:
            return func(*args, **kwargs)
        span, context, redactor = started
        token = attach(context)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:  # the caller's own: recorded, then re-raised untouched
            detach(token)
            fail(span, exc, redactor=redactor)
            raise
        detach(token)
        if type(result) not in _PLAIN and inspect.isawaitable(result):
            return settle_later(ActionCall(capture_result, span, context, redactor), result)
        succeed(span, result, capture_result, redactor)
        return result

    return action


def _coroutine(func: Callable[..., Any], spec: ActionSpec) -> Callable[..., Any]:
    """An ``async def`` function: the span is current across its awaits."""
    begin, capture_result = spec.begin, spec.capture_result

    @functools.wraps(func)
    async def action(*args: Any, **kwargs: Any) -> Any:
        started = begin(args, kwargs)
        if started is None:
            return await func(*args, **kwargs)
        span, context, redactor = started
        token = attach(context)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:  # the caller's own: recorded, then re-raised untouched
            detach(token)
            fail(span, exc, redactor=redactor)
            raise
        detach(token)
        succeed(span, result, capture_result, redactor)
        return result

    return action


def _stream(
    func: Callable[..., Any], spec: ActionSpec, driver: Callable[[ActionCall, Any], Any]
) -> Callable[..., Any]:
    """A generator or async generator function: the action ends with the stream.

    Calling the function runs none of its body, so the span need not be current here; the
    driver makes it current around every step of the stream.
    """

    @functools.wraps(func)
    def action(*args: Any, **kwargs: Any) -> Any:
        started = spec.begin(args, kwargs)
        if started is None:
            return func(*args, **kwargs)
        call = ActionCall(spec.capture_result, *started)
        try:
            inner = func(*args, **kwargs)
        except BaseException as exc:  # the caller's own: recorded, then re-raised untouched
            call.fail(exc)
            raise
        stream = driver(call, inner)
        watch(stream, call)
        return stream

    return action
