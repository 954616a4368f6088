"""``@traced_action``: a tool function's every call becomes an action span."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, overload

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from agentsight_otel import semconv as sc
from agentsight_otel.sanitize import encode_value, to_text, truncate

P = ParamSpec("P")
R = TypeVar("R")


@overload
def traced_action(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def traced_action(*, name: str | None = None, kind: str = "tool",
                  capture_arguments: bool = True, capture_result: bool = True,
                  conversation_id: str | None = None
                  ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def traced_action(func: Callable[P, R] | None = None, /, *, name: str | None = None,
                  kind: str = "tool", capture_arguments: bool = True,
                  capture_result: bool = True, conversation_id: str | None = None
                  ) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Record each call of the decorated function as an action of the current conversation."""

    def decorate(target: Callable[P, R]) -> Callable[P, R]:
        action = name or target.__name__
        signature = inspect.signature(target)

        @functools.wraps(target)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            span = _start(action, kind, conversation_id)
            if span is None:
                return target(*args, **kwargs)
            if capture_arguments:
                _record_arguments(span, signature, args, kwargs)
            with trace.use_span(span, end_on_exit=True, record_exception=False,
                                set_status_on_exception=False):
                try:
                    result = target(*args, **kwargs)
                except BaseException as exc:
                    _record_error(span, exc)
                    raise
                if capture_result and result is not None:
                    span.set_attribute(sc.TOOL_RESPONSE, to_text(result))
                span.set_status(Status(StatusCode.OK))
                return result

        return wrapper

    return decorate(func) if func is not None else decorate


def _start(action: str, kind: str, conversation_id: str | None) -> trace.Span | None:
    """A span in the conversation's interaction, or in the ambient trace outside one."""
    try:
        from agentsight_otel import conversation_tracker
        from agentsight_otel.tracker.tracker import ACTIVE_TRACKER

        tracker = ACTIVE_TRACKER.get() or conversation_tracker
        parent = tracker._action_parent(conversation_id, action)
        attributes = {sc.SPAN_KIND: kind, sc.ENTITY_NAME: action, sc.TOOL_NAME: action}
        if parent is None:
            tracer = trace.get_tracer(sc.INSTRUMENTATION_NAME)
            return tracer.start_span(action, attributes=attributes)
        span, cid, turn_hex, tracer = parent
        attributes[sc.CONVERSATION_ID] = cid
        attributes[sc.TURN_ID] = turn_hex
        return tracer.start_span(action, context=trace.set_span_in_context(span),
                                 attributes=attributes)
    except Exception:
        return None


def _record_arguments(span: trace.Span, signature: inspect.Signature, args: Any,
                      kwargs: Any) -> None:
    """Bound arguments (without self/cls) as the action's ``tools_used``."""
    try:
        bound = signature.bind_partial(*args, **kwargs)
        arguments = {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
        span.set_attribute(sc.TOOL_ARGUMENTS, encode_value(arguments))
    except Exception:
        return


def _record_error(span: trace.Span, exc: BaseException) -> None:
    """Error status, the error text, and the exception event once."""
    message = truncate(f"{type(exc).__name__}: {exc}")
    span.set_attribute(sc.TOOL_ERROR, message)
    span.set_status(Status(StatusCode.ERROR, message))
    span.record_exception(exc)
