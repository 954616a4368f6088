"""Where the tracker's spans go: the user's SDK provider, or a private one it builds."""

from __future__ import annotations

import atexit
import contextvars
import math
import os
from collections.abc import Sequence
from time import monotonic

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.util.types import Attributes

from agentsight_otel._config import Settings
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._export.exporter import AgentSightSpanExporter
from agentsight_otel._log import internal_errors, log_internal_error, logger
from agentsight_otel._runtime import RUNTIME, ForkSafeLock
from agentsight_otel._semconv import INSTRUMENTATION_NAME
from agentsight_otel._tracker.span_queue import RequestFlush, SpanQueue
from agentsight_otel._version import __version__

# The trace id the next root span must take; set only around the tracker's own start_span.
_NEXT_TRACE_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "agentsight_otel.next_trace_id", default=None
)


# How long a send that nobody waits for (timeout=0, an idle conversation's retirement) may wait
# for others to join its export: 20 turns a second sent one by one would otherwise cost 20
# exports and up to 20 requests, each waking two threads.
COALESCE_SECONDS = 0.05


class ConversationIdGenerator(IdGenerator):
    """Delegates to the provider's generator, except for a conversation's root spans."""

    def __init__(self, inner: IdGenerator) -> None:
        self.inner = inner
        # Every span asks for an id: the wrapped generator answers directly, no frame between.
        self.generate_span_id = inner.generate_span_id  # type: ignore[method-assign]

    def generate_span_id(self) -> int:
        """A span id from the wrapped generator."""
        return self.inner.generate_span_id()

    def generate_trace_id(self) -> int:
        """The conversation's derived trace id when one is pending, else a random one."""
        return _NEXT_TRACE_ID.get() or self.inner.generate_trace_id()

    def is_trace_id_random(self) -> bool:
        """Derived ids are hashes, not W3C random ids."""
        if _NEXT_TRACE_ID.get() is not None:
            return False
        check = getattr(self.inner, "is_trace_id_random", None)
        return bool(check()) if callable(check) else False


class Pipeline:
    """The tracer the tracker uses, and the way to nudge its export along."""

    def __init__(
        self,
        settings: Settings,
        ledger: DeliveryLedger,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        provider: trace.TracerProvider | None = tracer_provider or _global_sdk_provider()
        self.provider: trace.TracerProvider
        self.exporter: AgentSightSpanExporter | None = None
        self._flush_at = math.inf  # when the flush asked for is due (inf: none is)
        self._closed = False
        RUNTIME.adopt(self, Pipeline._forked)
        if provider is None:
            self.exporter = AgentSightSpanExporter(_settings=settings, _ledger=ledger)
            self._processor = _span_queue(self.exporter, self.request_flush)
            private = _promoted.reuse() or TracerProvider(
                resource=_resource(), shutdown_on_exit=False
            )
            private.add_span_processor(self._processor)
            atexit.register(self.shutdown)
            provider = self.provider = private  # before promoting: it is read there
            if settings.set_global_provider:
                _promoted.promote(self, private)
        self.provider = provider
        self.tracer = provider.get_tracer(INSTRUMENTATION_NAME, __version__)
        if isinstance(self.tracer, SdkTracer) and not isinstance(
            self.tracer.id_generator, ConversationIdGenerator
        ):
            self.tracer.id_generator = ConversationIdGenerator(self.tracer.id_generator)
        RUNTIME.timer.add(self, weak=True)

    def start_root(
        self,
        name: str,
        trace_id: int,
        attributes: Attributes,
        links: Sequence[trace.Link] = (),
        start_time: int | None = None,
    ) -> trace.Span:
        """A root span in the conversation's trace, whatever context is current."""
        token = _NEXT_TRACE_ID.set(trace_id)
        try:
            return self.tracer.start_span(
                name,
                context=_EMPTY_CONTEXT,
                attributes=attributes,
                links=links,
                start_time=start_time,
            )
        finally:
            _NEXT_TRACE_ID.reset(token)

    def start_child(
        self, name: str, parent: trace.Span, attributes: Attributes, start_time: int | None = None
    ) -> trace.Span:
        """A child of ``parent``."""
        return self.tracer.start_span(
            name,
            context=trace.set_span_in_context(parent),
            attributes=attributes,
            start_time=start_time,
        )

    def observes_delivery(self) -> bool | None:
        """Whether an AgentSight exporter receives these spans (None when it can't be told)."""
        return self.exporter is not None or _has_agentsight_exporter(self.provider)

    def request_flush(self, within: float) -> None:
        """Ask for an export within ``within`` seconds, on the runtime's timer thread.

        Now (0) when the caller waits for the delivery; ``COALESCE_SECONDS`` for a send nobody
        waits for, so that the sends of a busy application make one export and one request.
        """
        if self._closed:
            return
        at = monotonic() + within
        if self._flush_at <= at:
            return  # a flush as soon as this one wants is already coming
        self._flush_at = at
        RUNTIME.timer.wake_by(at)

    def _forked(self) -> None:
        """In a forked child: a flush its parent asked for is the parent's (so is its thread)."""
        self._flush_at = math.inf

    def due(self, now: float) -> float:
        """When the flush asked for is due; requests that came meanwhile make one flush."""
        return math.inf if self._closed else self._flush_at - now

    def work(self) -> None:
        """Flush the provider: its processors hand what ended to their exporters.

        Ours only queue for the io thread; an application's exporter that posts here holds the
        timer thread for that long (its deadlines are then late by as much).
        """
        self._flush_at = math.inf
        with internal_errors("flushing the tracer provider"):
            flush = getattr(self.provider, "force_flush", None)
            if callable(flush):
                flush(5_000)

    def flush_delivery(self, timeout_millis: int) -> bool:
        """Export what has ended and wait for its delivery attempt; the pipeline keeps running."""
        end = monotonic() + timeout_millis / 1000
        try:
            flush = getattr(self.provider, "force_flush", None)
            if callable(flush):
                flush(timeout_millis)
            exporters = [self.exporter] if self.exporter else _agentsight_exporters(self.provider)
            delivered = True
            for exporter in exporters:
                left = max(0, int((end - monotonic()) * 1000))
                delivered = exporter.force_flush(left) and delivered
            return delivered
        except Exception:
            log_internal_error("flushing the tracer provider")
            return False

    def shutdown(self, timeout_millis: int = 10_000, reason: str | None = None) -> None:
        """Flush and shut down a private provider; leave a user's provider alone.

        What cannot be delivered is reported lost for ``reason`` (the exporter's own default).
        """
        if self._closed:
            return
        self._closed = True
        RUNTIME.timer.remove(self)
        if self.exporter is None:
            return
        atexit.unregister(self.shutdown)
        try:
            # Flush first so the exporter's own bounded shutdown is what limits the wait.
            self._processor.force_flush()
            self.exporter.shutdown(timeout_millis, _reason=reason)
            self._processor.shutdown()
        except Exception:
            log_internal_error("shutting down the private tracer provider")


_EMPTY_CONTEXT = trace.set_span_in_context(trace.INVALID_SPAN)


def _has_agentsight_exporter(provider: trace.TracerProvider) -> bool | None:
    """Whether the provider's processors export to an AgentSightSpanExporter (None: can't tell).

    Reads the SDK provider's processor list, which has no public accessor; when the shape is
    not the expected one the answer is "unknown" and the ledger decides.
    """
    active = getattr(provider, "_active_span_processor", None)
    processors = getattr(active, "_span_processors", None)
    if not isinstance(processors, tuple):
        return None
    return bool(_agentsight_exporters(provider))


def _agentsight_exporters(provider: trace.TracerProvider) -> list[AgentSightSpanExporter]:
    """The AgentSight exporters behind the provider's processors (none when it can't tell)."""
    active = getattr(provider, "_active_span_processor", None)
    processors = getattr(active, "_span_processors", None)
    found = [getattr(p, "span_exporter", None) for p in processors or ()]
    return [e for e in found if isinstance(e, AgentSightSpanExporter)]


def _span_queue(exporter: AgentSightSpanExporter, request_flush: RequestFlush) -> SpanQueue:
    """The private pipeline's processor: a deeper queue than the SDK's 2,048 spans.

    The exporter only assembles and queues, so a deep queue drains fast. The SDK's
    OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_SCHEDULE_DELAY and OTEL_BSP_MAX_EXPORT_BATCH_SIZE still
    apply to it.
    """
    queue = _bsp_setting("OTEL_BSP_MAX_QUEUE_SIZE", 32_768)
    delay = _bsp_setting("OTEL_BSP_SCHEDULE_DELAY", 1_000) / 1000
    batch = min(queue, _bsp_setting("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 2_048))
    return SpanQueue(
        exporter, request_flush, max_queue_size=queue, max_batch=batch, schedule_delay=delay
    )


def _bsp_setting(name: str, default: int) -> int:
    """A positive whole number from the environment, else ``default`` (as the SDK reads it)."""
    raw = os.environ.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = 0
    if value <= 0:
        logger.warning("%s=%r is not a positive whole number: %d is used", name, raw, default)
        return default
    return value


class _Promoted:
    """The private provider a pipeline made the global one, as Langfuse and Logfire do.

    GenAI instrumentations write to the global provider: with none set, theirs would be the
    no-op one and their usage lost. Only one provider can ever be global in a process: when
    its pipeline is replaced (``configure``), the next private pipeline takes it over.
    """

    def __init__(self) -> None:
        self.pipeline: Pipeline | None = None
        self._lock = ForkSafeLock()

    def promote(self, pipeline: Pipeline, provider: TracerProvider) -> None:
        """Make ``provider`` the global one when the application has set none."""
        with self._lock:
            if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
                trace.set_tracer_provider(provider)
            if trace.get_tracer_provider() is provider:
                self.pipeline = pipeline

    def is_ours(self, provider: object) -> bool:
        """Whether ``provider`` is the global one a pipeline of ours promoted."""
        return self.pipeline is not None and self.pipeline.provider is provider

    def reuse(self) -> TracerProvider | None:
        """The promoted global provider when its pipeline is closed: the next one takes it."""
        with self._lock:
            pipeline = self.pipeline
            if pipeline is None or not pipeline._closed:
                return None
            provider = pipeline.provider
            if trace.get_tracer_provider() is not provider:
                return None
            return provider if isinstance(provider, TracerProvider) else None


_promoted = _Promoted()


def _global_sdk_provider() -> TracerProvider | None:
    """The application's global provider when it is an SDK one we can add spans to.

    A private provider of ours made global is not the application's: it is never borrowed.
    """
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider) or _promoted.is_ours(provider):
        return None
    return provider


def _resource() -> Resource:
    """The private provider's resource; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES apply."""
    return Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "agentsight-otel")})
