"""Ending an action span (exactly once, never raising) and the state of one that outlives a call."""

from __future__ import annotations

import asyncio
import contextvars
import traceback
from contextvars import Token

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from agentsight_otel import _semconv as sc
from agentsight_otel._log import log_internal_error
from agentsight_otel._redaction import Redactor
from agentsight_otel._sanitize import MAX_TEXT, to_text, truncate

# How a streamed (or handed-back awaitable) action ended: "exhausted", "closed" (early, by the
# consumer) or "abandoned" (garbage-collected without being finished).
OUTCOME = "agentsight.tool.outcome"

# Set while the library works for an action (starting, recording, ending): a decorated function
# called meanwhile (by a span processor, a redact hook, an argument's __str__) runs untraced,
# so that nothing recurses without end and no tracker lock is taken twice.
BUSY: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "agentsight_otel.action_busy", default=False
)
_OK = Status(StatusCode.OK)
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what the JSON encoder writes as a plain integer


# The end functions run on every decorated call: plain try/except, not the context manager.
def succeed(
    span: trace.Span, result: object, capture_result: bool, redactor: Redactor | None = None
) -> None:
    """End with OK status and the result as the response."""
    busy = BUSY.set(True)
    try:
        try:
            span.set_status(_OK)
            if result is not None and capture_result and span.is_recording():
                if redactor is not None:
                    result = redactor.value(result)
                span.set_attribute(sc.TOOL_RESPONSE, response_text(result))
        except Exception:
            log_internal_error("@traced_action recording the result")
        span.end()
    except Exception:
        log_internal_error("@traced_action ending the action span")
    finally:
        BUSY.reset(busy)


def fail(
    span: trace.Span,
    error: BaseException,
    response: str | None = None,
    *,
    redactor: Redactor | None = None,
) -> None:
    """End with error status, the error text and the ``exception`` event (once)."""
    busy = BUSY.set(True)
    try:
        try:
            text = error_text(error, redactor)
            span.set_attribute(sc.TOOL_ERROR, text)
            if response is not None:
                span.set_attribute(sc.TOOL_RESPONSE, response)
            span.set_status(Status(StatusCode.ERROR, text))
            if redactor is None:
                _record_exception(span, error)
            else:
                span.add_event("exception", redacted_exception(error, redactor))
        except Exception:
            log_internal_error("@traced_action recording the error")
        span.end()
    except Exception:
        log_internal_error("@traced_action ending the action span")
    finally:
        BUSY.reset(busy)


def finish(span: trace.Span, outcome: str, response: str | None) -> None:
    """End a stream: OK when exhausted; closed or abandoned streams keep status unset."""
    busy = BUSY.set(True)
    try:
        try:
            span.set_attribute(OUTCOME, outcome)
            if response is not None:
                span.set_attribute(sc.TOOL_RESPONSE, response)
            if outcome == "exhausted":
                span.set_status(_OK)
        except Exception:
            log_internal_error("@traced_action recording the stream")
        span.end()
    except Exception:
        log_internal_error("@traced_action ending the action span")
    finally:
        BUSY.reset(busy)


class ActionCall:
    """An action that outlives its call (a stream, an awaitable): ended once, whatever comes."""

    __slots__ = (
        "capture_result",
        "context",
        "ended",
        "pieces",
        "redactor",
        "size",
        "span",
        "textual",
    )

    def __init__(
        self,
        capture_result: bool,
        span: trace.Span,
        context: otel_context.Context,
        redactor: Redactor | None = None,
    ) -> None:
        self.capture_result = capture_result
        self.span = span
        self.context = context
        self.redactor = redactor
        self.ended = False
        self.pieces: list[str] | None = None
        self.size = 0
        self.textual = True

    def enter(self) -> Token[otel_context.Context]:
        """Make the action span current; the token for ``leave``."""
        return otel_context.attach(self.context)

    def leave(self, token: Token[otel_context.Context]) -> None:
        """Restore the context ``enter`` replaced."""
        otel_context.detach(token)

    def succeed(self, result: object) -> None:
        """End with OK status and the result as the response."""
        if not self.ended:
            self.ended = True
            succeed(self.span, result, self.capture_result, self.redactor)

    def fail(self, error: BaseException) -> None:
        """End as failed; what streamed before the failure is the response."""
        if not self.ended:
            self.ended = True
            fail(self.span, error, self._streamed(), redactor=self.redactor)

    def finish_stream(self, outcome: str) -> None:
        """End a stream that was exhausted, closed or abandoned."""
        if not self.ended:
            self.ended = True
            finish(self.span, outcome, self._streamed())

    def abandon(self) -> None:
        """End a stream or awaitable dropped without being finished (a finalizer callback)."""
        self.finish_stream("abandoned")

    def collect(self, item: object) -> None:
        """Keep a streamed item's text for the response, up to the text limit."""
        if not self.capture_result or self.size > MAX_TEXT:
            return
        textual = type(item) is str
        try:
            text = item if isinstance(item, str) and textual else to_text(item)
        except Exception:
            log_internal_error("@traced_action recording a streamed item")
            self.size = MAX_TEXT + 1
            return
        if self.pieces is None:
            self.pieces = []
        self.pieces.append(text)
        self.size += len(text)
        self.textual = self.textual and textual

    def _streamed(self) -> str | None:
        """What streamed so far: strings joined as they are, other items one per line."""
        pieces, self.pieces = self.pieces, None
        if not pieces:
            return None
        text = ("" if self.textual else "\n").join(pieces)
        return truncate(self.redactor.text(text) if self.redactor is not None else text)


def response_text(result: object) -> str:
    """``sanitize.to_text``, sooner for the integers many tools return (the same text)."""
    if type(result) is int and _INT_MIN <= result <= _INT_MAX:
        return str(result)
    return to_text(result)


def error_text(error: BaseException, redactor: Redactor | None = None) -> str:
    """What the action log shows for an exception; a cancelled task says so plainly."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    try:
        text = f"{type(error).__name__}: {error}"
    except Exception:  # not ours: the caller's exception cannot be printed; its type will do
        return type(error).__name__
    return truncate(redactor.text(text) if redactor is not None else text)


def redacted_exception(error: BaseException, redactor: Redactor) -> dict[str, str]:
    """The attributes ``record_exception`` writes, message and stack trace redacted.

    The SDK's own event would carry them as they are; the caller's exception is not touched.
    """
    module, qualname = type(error).__module__, type(error).__qualname__
    kind = f"{module}.{qualname}" if module and module != "builtins" else qualname
    try:
        message = str(error)
    except Exception:  # not ours: the caller's exception cannot be printed
        message = ""
    try:
        stacktrace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    except Exception:  # not ours: as above; the frames alone will do
        stacktrace = "".join(traceback.format_tb(error.__traceback__))
    return {
        "exception.type": kind,
        "exception.message": redactor.text(message),
        "exception.stacktrace": redactor.text(stacktrace),
        "exception.escaped": "False",
    }


def _record_exception(span: trace.Span, error: BaseException) -> None:
    """The ``exception`` event; without the message when the exception cannot be printed."""
    try:
        span.record_exception(error)
    except Exception:  # not ours: the caller's exception cannot be printed; record it without
        span.add_event(
            "exception",
            {
                "exception.type": f"{type(error).__module__}.{type(error).__qualname__}",
                "exception.stacktrace": "".join(traceback.format_tb(error.__traceback__)),
            },
        )
