"""``conversation(...)``: make a conversation current for every span started inside it.

The conversation rides in the OpenTelemetry context (never in baggage, so its fields do not
leave the process in request headers); a span processor stamps its attributes on each span
started there, by any instrumentation, as OpenInference's ``using_session`` does. The tracker's
``get_or_create_conversation`` has the same effect through the same processor.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
import weakref
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from agentsight_otel import _semconv as sc
from agentsight_otel._mapping.identity import is_genai
from agentsight_otel._tracker import fields as checks
from agentsight_otel._tracker.core import ACTIVE_TRACKER, redactor_in_force
from agentsight_otel.helpers import generate_conversation_id

F = TypeVar("F", bound=Callable[..., Any])
_KEY = otel_context.create_key("agentsight_otel.conversation")
_stamped: weakref.WeakSet[TracerProvider] = weakref.WeakSet()
_stamped_lock = threading.Lock()


class Conversation:
    """A conversation made current by ``with`` (or ``async with``) or as a decorator.

    Entering yields the conversation id. Without an id each entry starts a new conversation.
    """

    def __init__(self, conversation_id: str | None, fields: Mapping[str, Any]) -> None:
        self._id = conversation_id
        self._fields = dict(fields)
        self._tokens: contextvars.ContextVar[tuple[object, ...]] = contextvars.ContextVar(
            "agentsight_otel.conversation_tokens", default=()
        )

    def __enter__(self) -> str:
        cid = self._id or generate_conversation_id()
        attributes = {**checks.identity_attributes(cid), **self._fields}
        ensure_stamping()
        token = otel_context.attach(otel_context.set_value(_KEY, attributes))
        self._tokens.set((*self._tokens.get(), token))
        return cid

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        tokens = self._tokens.get()
        if tokens:
            self._tokens.set(tokens[:-1])
            otel_context.detach(cast(contextvars.Token[otel_context.Context], tokens[-1]))

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
        """Run every call of ``function`` (sync or async) inside the conversation."""
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
    Bad input raises ``ValidationError`` here, at the call. With PII redaction on (the active
    tracker's, else ``conversation_tracker``'s), the fields are redacted here too.
    """
    cid = checks.conversation_id(conversation_id)
    fields = checks.conversation_fields(locals(), redactor_in_force())
    return Conversation(cid, fields)


class ConversationStamper(SpanProcessor):
    """Stamps the current conversation's attributes on spans that name no conversation yet."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        """Add the current conversation's attributes, when there is one."""
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
    """The attributes of the conversation current in ``context`` (or for the active tracker).

    A GenAI span (``model_call``) under the active tracker is also given the tracker's turn.
    """
    value = otel_context.get_value(_KEY, context)
    if value is not None:
        return cast(Mapping[str, Any], value)
    tracker = ACTIVE_TRACKER.get()
    if tracker is None:
        return None
    return tracker.current_conversation_attributes(model_call=model_call)


def ensure_stamping(provider: object | None = None) -> None:
    """Add the stamper to the given (or the global) SDK provider, once per provider."""
    provider = provider or trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider) or provider in _stamped:
        return
    with _stamped_lock:
        if provider not in _stamped:
            _stamped.add(provider)
            provider.add_span_processor(ConversationStamper())
