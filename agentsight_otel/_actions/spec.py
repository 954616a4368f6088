"""What a decorated function records, decided at decoration time, and where each call goes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from agentsight_otel import _semconv as sc
from agentsight_otel._actions.call import BUSY
from agentsight_otel._actions.plan import ArgumentPlan, positional_fallback
from agentsight_otel._current import tracked
from agentsight_otel._log import RateLimitedLog, log_internal_error
from agentsight_otel._sanitize import encode_value
from agentsight_otel._tracker.registry import shared_registry
from agentsight_otel._version import __version__

if TYPE_CHECKING:
    from agentsight_otel._current import Tracking

Redact = Callable[[dict[str, Any]], "Mapping[str, Any] | None"]
# The caller's redact hook failing is not a failure of ours: a warning, not an internal error.
_HOOK_LOG = RateLimitedLog()


class AmbientTracer:
    """The global provider's tracer, fetched again when the application replaces the provider."""

    __slots__ = ("_pair",)

    def __init__(self) -> None:
        self._pair: tuple[trace.TracerProvider, trace.Tracer] | None = None

    def get(self) -> trace.Tracer:
        """The tracer for spans outside any conversation."""
        provider = trace.get_tracer_provider()
        pair = self._pair
        if pair is None or pair[0] is not provider:
            pair = self._pair = (
                provider,
                provider.get_tracer(sc.INSTRUMENTATION_NAME, __version__),
            )
        return pair[1]


_AMBIENT = AmbientTracer()


class ActionSpec:
    """What one decorated function records, decided once at decoration time."""

    __slots__ = (
        "attributes",
        "capture_arguments",
        "capture_result",
        "conversation_id",
        "name",
        "plan",
        "redact",
    )

    def __init__(
        self,
        func: Callable[..., Any],
        name: str,
        kind: str,
        *,
        capture_arguments: bool,
        capture_result: bool,
        conversation_id: str | None,
        redact: Redact | None,
    ) -> None:
        self.name = name
        self.capture_arguments = capture_arguments
        self.capture_result = capture_result
        self.conversation_id = conversation_id
        self.redact = redact
        self.plan = ArgumentPlan.of(func) if capture_arguments else None
        self.attributes: dict[str, Any] = {
            sc.SPAN_KIND: kind,
            sc.ENTITY_NAME: name,
            sc.TOOL_NAME: name,
        }

    def begin(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[trace.Span, otel_context.Context] | None:
        """The started span and the context making it current; None to run untraced.

        Inside a conversation the span is a child of its turn; outside, a span of the
        ambient trace. None when re-entered from the library's own work, or when starting fails.
        """
        if BUSY.get():
            return None
        busy = BUSY.set(True)
        try:
            value = tracked()
            tracker = value.tracker if value is not None else None
            if tracker is None and self.conversation_id is not None:
                tracker = _default_tracker()
            parent = (
                tracker.action_parent(self.conversation_id, self.name)
                if tracker is not None
                else None
            )
            # One read of the current context, handed to every call below.
            context = otel_context.get_current()
            if parent is None:
                return self._start_ambient(context, args, kwargs)
            turn, cid, turn_hex, tracer = parent
            # Nest under whatever span of this conversation runs (an outer action, a model
            # call); from anywhere else (another trace, or none) under the turn itself.
            current = trace.get_current_span(context)
            now, own = current.get_span_context(), turn.get_span_context()
            if now is not own and (now.trace_id != own.trace_id or not current.is_recording()):
                context = trace.set_span_in_context(turn, context)
            attributes = {**self.attributes, sc.CONVERSATION_ID: cid, sc.TURN_ID: turn_hex}
            if self.capture_arguments:
                text = self._arguments_text(args, kwargs)
                if text is not None:
                    attributes[sc.TOOL_ARGUMENTS] = text
            span = tracer.start_span(self.name, context, attributes=attributes)
            return span, trace.set_span_in_context(span, context)
        except Exception:
            log_internal_error("@traced_action starting the action span")
            return None
        finally:
            BUSY.reset(busy)

    def _start_ambient(
        self, context: otel_context.Context, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[trace.Span, otel_context.Context]:
        """A span from the global provider in whatever trace is current."""
        span = _AMBIENT.get().start_span(self.name, context, attributes=self.attributes)
        # Only a recording span is worth the encoding (no SDK, or sampled out: skip it).
        if self.capture_arguments and span.is_recording():
            text = self._arguments_text(args, kwargs)
            if text is not None:
                span.set_attribute(sc.TOOL_ARGUMENTS, text)
        return span, trace.set_span_in_context(span, context)

    def _arguments_text(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        """The bound arguments as JSON, through the redact hook; None to record none."""
        try:
            plan = self.plan
            bound = (
                plan.bind(args, kwargs) if plan is not None else positional_fallback(args, kwargs)
            )
            if self.redact is not None:
                try:
                    redacted = self.redact(bound)
                except Exception as exc:
                    _hook_failed(exc)
                    return None
                if redacted is None:
                    return None
                return encode_value(redacted)
            return encode_value(bound)
        except Exception:
            log_internal_error("@traced_action recording the arguments")
            return None


def _hook_failed(error: Exception) -> None:
    """Warn (rate-limited) that the caller's redact hook raised; the arguments go unrecorded."""
    try:
        detail = f"{type(error).__name__}: {error}"
    except Exception:  # the hook's own exception cannot be printed: its type will do
        detail = type(error).__name__
    _HOOK_LOG.log(
        logging.WARNING,
        "traced_action.redact",
        f"@traced_action: the redact hook failed ({detail}); no arguments were recorded and "
        "the call itself is unaffected",
    )


def _default_tracker() -> Tracking | None:
    """The package's ready tracker, for ``conversation_id=`` before any conversation is current."""
    owner = shared_registry().owner
    return owner._recording if owner is not None else None
