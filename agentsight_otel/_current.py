"""Which conversation is current, for everything that asks: one ``Current``, one lookup.

``conversation(...)`` makes one current for a block: it rides in the OpenTelemetry context
(never in baggage, so its fields do not leave the process in request headers). A tracker's
``get_or_create_conversation`` makes one current until the next (a ContextVar: it outlives the
spans of the request it was called in, as the seed's current conversation does). A span
processor stamps the current conversation's attributes on each span started there, by any
instrumentation, as OpenInference's ``using_session`` does; ``@traced_action`` nests under the
tracked one. The tracker's current turn hangs off its conversation (``Tracking``).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import weakref
from collections.abc import Callable, Mapping
from contextvars import Token
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from agentsight_otel import _semconv as sc
from agentsight_otel._mapping.identity import is_genai
from agentsight_otel._redaction import Redactor
from agentsight_otel._runtime import ForkSafeLock
from agentsight_otel._stepping import drive, drive_async
from agentsight_otel._tracker import fields as checks
from agentsight_otel._tracker.registry import shared_registry
from agentsight_otel.helpers import generate_conversation_id

F = TypeVar("F", bound=Callable[..., Any])
_KEY = otel_context.create_key("agentsight_otel.conversation")


class Tracking(Protocol):
    """What a tracker answers about the conversation it made current (its turn, say)."""

    def current_conversation_attributes(
        self, cid: str, *, model_call: bool = False
    ) -> Mapping[str, Any] | None:
        """The conversation's span attributes; for a model call with its current turn's id."""
        ...

    def action_parent(
        self, conversation_id: str | None, action: str
    ) -> tuple[trace.Span, str, str, trace.Tracer] | None:
        """For ``@traced_action``: the turn span to nest under (opened if needed), its
        conversation id, turn id and the tracer to use; None outside any conversation."""
        ...

    def redactor(self) -> Redactor | None:
        """The tracker's PII redactor in force (None: redaction is off)."""
        ...


@dataclass(frozen=True, slots=True)
class Current:
    """The current conversation: its id, and its attributes or the tracker that has them."""

    conversation_id: str
    attributes: Mapping[str, Any] | None = None  # conversation(...)'s; None: the tracker's
    tracker: Tracking | None = None
    scope: object = None  # the registry of conversations it belongs to (a tracker's)


# The conversation a tracker made current in this thread or task (not scoped to a block).
TRACKED: contextvars.ContextVar[Current | None] = contextvars.ContextVar(
    "agentsight_otel.tracked_conversation", default=None
)


def current(context: otel_context.Context | None = None) -> Current | None:
    """The conversation current in ``context``: a ``conversation(...)`` block's, else tracked."""
    value = otel_context.get_value(_KEY, context)
    return value if isinstance(value, Current) else TRACKED.get()


def tracked() -> Current | None:
    """The conversation a tracker made current in this thread or task."""
    return TRACKED.get()


def make_tracked(value: Current) -> None:
    """Make a tracker's conversation current in this thread or task."""
    TRACKED.set(value)


def ready_tracking() -> Tracking | None:
    """The package's ready tracker (``conversation_tracker``), once it exists."""
    owner = shared_registry().owner
    return owner._recording if owner is not None else None


def redactor_in_force() -> Redactor | None:
    """The PII redactor of the tracker that made a conversation current, else the ready one's."""
    value = TRACKED.get()
    tracker = value.tracker if value is not None else None
    if tracker is None:
        tracker = ready_tracking()
    return tracker.redactor() if tracker is not None else None


_stamped: weakref.WeakSet[TracerProvider] = weakref.WeakSet()
_stamped_lock = ForkSafeLock()


# The conversations entered in this thread or task, innermost last, with the tokens that undo
# them. One variable for every Conversation: a variable per instance, left set in the context,
# would keep an entry (and the variable) alive per call in a long-lived thread.
_ENTERED: contextvars.ContextVar[tuple[tuple[Conversation, Token[otel_context.Context]], ...]] = (
    contextvars.ContextVar("agentsight_otel.conversations_entered", default=())
)


class Conversation:
    """A conversation made current by ``with`` (or ``async with``) or as a decorator.

    Entering yields the conversation id. Without an id each entry starts a new conversation.
    """

    def __init__(self, conversation_id: str | None, fields: Mapping[str, Any]) -> None:
        self._id = conversation_id
        self._fields = dict(fields)

    def __enter__(self) -> str:
        cid = self._id or generate_conversation_id()
        token = otel_context.attach(self._context(cid))
        _ENTERED.set((*_ENTERED.get(), (self, token)))
        return cid

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        entered = _ENTERED.get()
        for at in range(len(entered) - 1, -1, -1):
            if entered[at][0] is self:
                _ENTERED.set(entered[:at] + entered[at + 1 :])
                otel_context.detach(entered[at][1])
                return

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    def __call__(self, function: F) -> F:
        """Run every call of ``function`` (sync, async, generator) inside the conversation.

        A generator's body runs when it is iterated, not when it is called: the conversation is
        current around each of its steps (and never in the consumer between them).
        """
        if inspect.isasyncgenfunction(function):

            @functools.wraps(function)
            def run_async_stream(*args: Any, **kwargs: Any) -> Any:
                return drive_async(self._step(), function(*args, **kwargs))

            return cast(F, run_async_stream)
        if inspect.isgeneratorfunction(function):

            @functools.wraps(function)
            def run_stream(*args: Any, **kwargs: Any) -> Any:
                return drive(self._step(), function(*args, **kwargs))

            return cast(F, run_stream)
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await function(*args, **kwargs)

            return cast(F, run_async)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self:
                return function(*args, **kwargs)

        return cast(F, run)

    def _context(self, cid: str) -> otel_context.Context:
        """The current context with conversation ``cid`` made current in it."""
        ensure_stamping()
        attributes = {**checks.identity_attributes(cid), **self._fields}
        return otel_context.set_value(_KEY, Current(cid, attributes))

    def _step(self) -> _StreamStep:
        """One conversation (one id) for every step of one stream."""
        return _StreamStep(self, self._id or generate_conversation_id())


class _StreamStep:
    """A stream's steps inside one conversation: made current afresh around each step."""

    __slots__ = ("_cid", "_conversation")

    def __init__(self, conversation: Conversation, cid: str) -> None:
        self._conversation = conversation
        self._cid = cid

    def enter(self) -> Token[otel_context.Context]:
        """Make the conversation current (in the context current now, for this step)."""
        return otel_context.attach(self._conversation._context(self._cid))

    def leave(self, token: Token[otel_context.Context]) -> None:
        """Restore the context of before the step."""
        otel_context.detach(token)

    def collect(self, item: object) -> None:
        """Items pass through untouched."""

    def fail(self, error: BaseException) -> None:
        """The stream's errors propagate untouched."""

    def finish_stream(self, outcome: str) -> None:
        """Nothing to end."""


def conversation(
    conversation_id: str | None = None,
    *,
    customer_id: str | None = None,
    customer_ip_address: str | None = None,
    device: str | None = None,
    source: str | None = None,
    language: str | None = None,
    name: str | None = None,
    environment: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Conversation:
    """Make a conversation current: every span started inside carries its id and fields.

    ``with conversation("c-1", customer_id="u-7") as cid: agent.run(...)``, or as a decorator.
    Bad input raises ``ValidationError`` here, at the call. With PII redaction on (that of the
    tracker whose conversation is current, else ``conversation_tracker``'s), the fields are
    redacted here too.
    """
    cid = checks.conversation_id(conversation_id)
    fields = checks.conversation_fields(locals(), redactor_in_force())
    return Conversation(cid, fields)


class ConversationStamper(SpanProcessor):
    """Stamps the current conversation's attributes on spans that name no conversation yet."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        """Add the current conversation's attributes, when there is one."""
        # Every span in the process passes here: an SDK span's own dict is read directly,
        # without the public property's read-only copy of it.
        own = getattr(getattr(span, "_attributes", None), "_dict", None)
        if type(own) is not dict:
            own = span.attributes or {}
        if sc.CONVERSATION_ID in own:
            return
        attributes = current_attributes(parent_context, model_call=is_genai(own))
        if attributes:
            span.set_attributes(attributes)

    def on_end(self, span: ReadableSpan) -> None:
        """Nothing to do when a span ends."""

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is held."""
        return True


def current_attributes(
    context: otel_context.Context | None = None, *, model_call: bool = False
) -> Mapping[str, Any] | None:
    """The attributes of the conversation current in ``context``.

    A GenAI span (``model_call``) in a tracked conversation is also given the tracker's turn.
    """
    value = current(context)
    if value is None or value.attributes is not None:
        return value.attributes if value is not None else None
    if value.tracker is None:
        return None
    return value.tracker.current_conversation_attributes(
        value.conversation_id, model_call=model_call
    )


def ensure_stamping(provider: object | None = None) -> None:
    """Add the stamper to the given (or the global) SDK provider, once per provider."""
    provider = provider or trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider) or provider in _stamped:
        return
    with _stamped_lock:
        if provider not in _stamped:
            _stamped.add(provider)
            provider.add_span_processor(ConversationStamper())
