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
from agentsight_otel._current import current, ready_tracking, redactor_in_force, tracked
from agentsight_otel._log import RateLimitedLog, log_internal_error
from agentsight_otel._redaction import Redactor
from agentsight_otel._sanitize import encode_value
from agentsight_otel._tracker.misfiling import warn_outside
from agentsight_otel._version import __version__

if TYPE_CHECKING:
    pass

Redact = Callable[[dict[str, Any]], "Mapping[str, Any] | None"]
# The started span, the context making it current and the PII redactor in force (or None).
Started = tuple[trace.Span, otel_context.Context, Redactor | None]
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

    def begin(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Started | None:
        """The started span, the context making it current and the redactor; None: untraced.

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
                tracker = ready_tracking()
            parent = (
                tracker.action_parent(self.conversation_id, self.name)
                if tracker is not None
                else None
            )
            # One read of the current context, handed to every call below.
            context = otel_context.get_current()
            if parent is None:
                if current(context) is None:
                    warn_outside(self.name)
                return self._start_ambient(context, args, kwargs, redactor_in_force())
            turn, cid, turn_hex, tracer = parent
            # Nest under whatever span of this conversation runs (an outer action, a model
            # call); from anywhere else (another trace, or none) under the turn itself.
            running = trace.get_current_span(context)
            now, own = running.get_span_context(), turn.get_span_context()
            if now is not own and (now.trace_id != own.trace_id or not running.is_recording()):
                context = trace.set_span_in_context(turn, context)
            attributes = {**self.attributes, sc.CONVERSATION_ID: cid, sc.TURN_ID: turn_hex}
            redactor = tracker.redactor() if tracker is not None else None
            if self.capture_arguments:
                text = self._arguments_text(args, kwargs, redactor)
                if text is not None:
                    attributes[sc.TOOL_ARGUMENTS] = text
            span = tracer.start_span(self.name, context, attributes=attributes)
            return span, trace.set_span_in_context(span, context), redactor
        except Exception:
            log_internal_error("@traced_action starting the action span")
            return None
        finally:
            BUSY.reset(busy)

    def _start_ambient(
        self,
        context: otel_context.Context,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        redactor: Redactor | None,
    ) -> Started:
        """A span from the global provider in whatever trace is current."""
        span = _AMBIENT.get().start_span(self.name, context, attributes=self.attributes)
        # Only a recording span is worth the encoding (no SDK, or sampled out: skip it).
        if self.capture_arguments and span.is_recording():
            text = self._arguments_text(args, kwargs, redactor)
            if text is not None:
                span.set_attribute(sc.TOOL_ARGUMENTS, text)
        return span, trace.set_span_in_context(span, context), redactor

    def _arguments_text(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], redactor: Redactor | None
    ) -> str | None:
        """The bound arguments as JSON, through the redact hook and PII redaction; None: none."""
        try:
            plan = self.plan
            bound = (
                plan.bind(args, kwargs) if plan is not None else positional_fallback(args, kwargs)
            )
            document: object = bound
            if self.redact is not None:
                try:
                    document = self.redact(bound)
                except Exception as exc:
                    _hook_failed(exc)
                    return None
                if document is None:
                    return None
            return encode_value(redactor.value(document) if redactor is not None else document)
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
