"""The tracker's machinery: settings, the span pipeline, conversations, receipts, exit."""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections.abc import Callable
from time import monotonic, time_ns
from typing import Any

from opentelemetry import trace

from agentsight_otel._attachments.tracking import FileTracking, report_uploads
from agentsight_otel._config import Settings, apply_log_level, resolve_settings
from agentsight_otel._delivery.client import RetryPolicy
from agentsight_otel._delivery.clock import Clock
from agentsight_otel._delivery.forking import reset_in_child
from agentsight_otel._delivery.ledger import (
    DEFAULT_LEDGER,
    DeliveryLedger,
    Receipt,
    Settlement,
)
from agentsight_otel._delivery.transport import Transport
from agentsight_otel._redaction import Redactor, TextHook
from agentsight_otel._tracker import fields
from agentsight_otel._tracker.inputs import PREVIEW
from agentsight_otel._tracker.lifecycle import SHUTDOWN_REASON, ExitHook, install_sigterm_handler
from agentsight_otel._tracker.pipeline import Pipeline
from agentsight_otel._tracker.recorder import Recorder
from agentsight_otel._tracker.registry import ConversationRegistry
from agentsight_otel._tracker.state import ConversationState, Item
from agentsight_otel._tracker.summary import combine, send_response
from agentsight_otel.exceptions import NothingToSendError, ValidationError
from agentsight_otel.helpers import generate_conversation_id

_UNRESOLVED = object()
# The tracker whose conversation was made current last in this thread or task, so that
# ``@traced_action`` finds it without being told which tracker the application uses.
ACTIVE_TRACKER: contextvars.ContextVar[TrackerCore | None] = contextvars.ContextVar(
    "agentsight_otel.active_tracker", default=None
)


class TrackerCore:
    """Wiring and internals shared by the public tracking methods of ``ConversationTracker``."""

    def __init__(
        self,
        api_key: str | None = None,
        endpoint: str | None = None,
        environment: str | None = None,
        *,
        log_level: str | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        send_timeout: float | None = None,
        compression: str | None = None,
        ledger: DeliveryLedger | None = None,
        max_conversations: int = 10_000,
        transport: Transport | None = None,
        clock: Clock | None = None,
        retry_policy: RetryPolicy | None = None,
        redact: bool | Redactor | TextHook | None = None,
    ) -> None:
        self._explicit: dict[str, Any] = {}
        self._provider = tracer_provider
        self._ledger = ledger or DEFAULT_LEDGER
        self._lock = threading.Lock()
        self._registry = ConversationRegistry(max_conversations)
        self._recorder: Recorder | None = None
        self._settings: Settings | None = None
        # The redactor in force once settings are resolved; _UNRESOLVED (not None) until then.
        self._redaction: object = _UNRESOLVED
        self._exit_hook = ExitHook(self)
        reset_in_child(self, TrackerCore._forked)
        # Attachment bytes: uploaded by the tracker's own uploader (transport, clock and
        # retry policy are for tests; the exporter's defaults otherwise).
        self._files = FileTracking(
            self._event,
            lambda: self.settings,
            transport=transport,
            clock=clock,
            policy=retry_policy,
        )
        self.configure(
            api_key=api_key,
            endpoint=endpoint,
            environment=environment,
            log_level=log_level,
            send_timeout=send_timeout,
            compression=compression,
            redact=redact,
        )

    # -- configuration -------------------------------------------------------------------

    def configure(
        self,
        api_key: str | None = None,
        endpoint: str | None = None,
        environment: str | None = None,
        *,
        log_level: str | None = None,
        send_timeout: float | None = None,
        compression: str | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        redact: bool | Redactor | TextHook | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int | None = None,
        max_queue_bytes: int | None = None,
        handle_sigterm: bool = False,
    ) -> None:
        """Override settings (explicit values win over the environment); checked at once.

        ``spool_dir`` (``AGENTSIGHT_SPOOL_DIR``): undeliverable batches wait on disk there (at
        most ``spool_max_bytes``) and go out when the backend answers again, also after a
        restart. ``handle_sigterm=True`` installs ``install_sigterm_handler`` for this tracker.
        ``redact``: True, a ``Redactor`` or a text callable turns PII redaction on (README).
        """
        candidates = {
            "api_key": api_key,
            "endpoint": endpoint,
            "environment": environment,
            "log_level": log_level,
            "send_timeout": send_timeout,
            "compression": compression,
            "redact": redact,
            "spool_dir": spool_dir,
            "spool_max_bytes": spool_max_bytes,
            "max_queue_bytes": max_queue_bytes,
        }
        given = {k: v for k, v in candidates.items() if v is not None}
        resolve_settings(base=Settings(), **given)
        changed = bool(given) or tracer_provider is not None
        with self._lock:
            self._explicit.update(given)
            if tracer_provider is not None:
                self._provider = tracer_provider
            # Nothing to change (say, only handle_sigterm): the pipeline in use stays.
            old = self._recorder if changed else None
            if changed:
                self._recorder, self._settings = None, None
                self._redaction = _UNRESOLVED
        if old is not None:
            # The old pipeline drains on its own thread: reconfiguring never waits on a network.
            threading.Thread(
                target=old.pipeline.shutdown, daemon=True, name="agentsight-reconfigure"
            ).start()
        if handle_sigterm:
            install_sigterm_handler(self)

    @property
    def settings(self) -> Settings:
        """The settings in force (resolved on first use)."""
        return self._setup()[1]

    def _setup(self) -> tuple[Recorder, Settings]:
        """Resolve settings and the span pipeline once, lazily, never at import."""
        recorder, settings = self._recorder, self._settings
        if recorder is not None and settings is not None:
            return recorder, settings
        with self._lock:
            if self._recorder is None or self._settings is None:
                settings = resolve_settings(**self._explicit)
                apply_log_level(settings)
                pipeline = Pipeline(settings, self._ledger, self._provider)
                self._settings, self._recorder = settings, Recorder(pipeline, self._ledger)
                self._redaction = settings.redact
                # After the pipeline's (and the application's provider's) exit handlers.
                self._exit_hook.register()
            return self._recorder, self._settings

    def shutdown(self, timeout: float = 10.0) -> None:
        """Deliver what the private pipeline and the uploader hold, within ``timeout`` seconds."""
        end = monotonic() + timeout
        self._exit_hook.unregister()
        recorder = self._recorder
        if recorder is not None:
            recorder.pipeline.shutdown(int(timeout * 1000))
        self._files.shutdown(max(0.0, end - monotonic()))

    def _forked(self) -> None:
        """In a forked child: what the parent had open is the parent's to end and send."""
        self._lock = threading.Lock()
        self._registry.forked()

    def _exit(self, timeout: float) -> None:
        """The exit path: open interactions end incomplete (``shutdown``), all is delivered."""
        end = monotonic() + timeout
        try:
            recorder = self._recorder
            if recorder is not None:
                self._end_open_interactions(recorder, SHUTDOWN_REASON)
                recorder.pipeline.flush_delivery(int(timeout * 1000))
            self.shutdown(max(0.0, end - monotonic()))
        except Exception:
            logging.getLogger("agentsight_otel").exception("delivering at exit failed")

    def _flush(self, timeout: float) -> None:
        """Deliver what has ended within ``timeout`` seconds; tracking goes on."""
        recorder = self._recorder
        if recorder is not None:
            recorder.pipeline.flush_delivery(int(timeout * 1000))

    def _end_open_interactions(self, recorder: Recorder, reason: str) -> None:
        """End every open interaction, marked incomplete with ``reason``."""
        for state in self._registry.states():
            # A lock held by a thread that is stuck (or gone) must not hang the exit.
            if not state.lock.acquire(timeout=1.0):
                continue
            try:
                if state.interaction is not None:
                    recorder.close(state, complete=False, reason=reason)
            finally:
                state.lock.release()

    # -- sending -------------------------------------------------------------------------

    def _verdict(
        self,
        cid: str,
        items: list[Item],
        receipts: list[tuple[int, Receipt]],
        uploads: list[tuple[int, Receipt]],
        wait: float,
    ) -> dict[str, Any]:
        """The send's answer: spans' receipts, then uploads', all within ``wait`` seconds."""
        deadline = monotonic() + wait
        response = send_response(cid, items, self._await(receipts, wait))
        return report_uploads(response, items, uploads, deadline)

    def _close_for_send(
        self, conversation_id: str | None, timeout: float | None
    ) -> tuple[str, list[Item], list[tuple[int, Receipt]], list[tuple[int, Receipt]], float]:
        """End the interaction and take its items; what a send then waits on."""
        fields.check_timeout(timeout)  # before anything is closed
        cid = self._chosen_id(conversation_id)
        state = self._registry.get(cid)
        if state is None:
            raise NothingToSendError(
                "no conversation to send: call get_or_create_conversation or pass conversation_id"
            )
        recorder, settings = self._setup()
        with state.lock:
            if not state.items and state.interaction is None:
                raise NothingToSendError(
                    f"nothing tracked for conversation {cid!r} since the last send"
                )
            items, state.items = state.items, []
            uploads, state.uploads = state.uploads, []
            receipts = recorder.close(state, complete=True)
            state.usage.prompt_tokens = state.usage.completion_tokens = 0
            state.usage.total_tokens = 0
        if receipts:
            recorder.pipeline.request_flush()
        wait = settings.send_timeout if timeout is None else max(0.0, float(timeout))
        return state.conversation_id, items, receipts, uploads, wait

    # -- internals -----------------------------------------------------------------------

    def _action_parent(
        self, conversation_id: str | None, action: str
    ) -> tuple[trace.Span, str, str, trace.Tracer] | None:
        """For ``@traced_action``: the interaction span to nest under, opened if needed."""
        cid = conversation_id if conversation_id is not None else self._registry.current_id()
        if cid is None:
            return None
        recorder, _ = self._setup()
        # The current id was checked when it became current: skip _resolve's validation (hot path).
        if conversation_id is None:
            state, implicit = self._state(cid, None), True
        else:
            state, implicit = self._resolve(cid)
        with state.lock:
            interaction = state.interaction or recorder.open(state, make_current=implicit)
            state.items.append(Item("action", time_ns(), action[:PREVIEW]))
        return (
            interaction.span,
            state.conversation_id,
            interaction.span_hex,
            recorder.pipeline.tracer,
        )

    def _event(
        self,
        conversation_id: str | None,
        name: str,
        attributes: dict[str, Any],
        kind: str,
        preview: str,
        after: Callable[[ConversationState, int], None] | None = None,
    ) -> tuple[ConversationState, int]:
        """Add an event to the interaction of the resolved conversation (then ``after``)."""
        recorder = self._recorder or self._setup()[0]
        state, implicit = self._resolve(conversation_id)
        stamp = time_ns()
        with state.lock:
            recorder.event(state, name, attributes, stamp, make_current=implicit)
            state.items.append(Item(kind, stamp, preview))
            if after is not None:
                after(state, stamp)
        return state, stamp

    def _redactor(self) -> Redactor | None:
        """The PII redactor in force; settings are resolved, the pipeline need not be."""
        settings = self._settings or resolve_settings(**self._explicit)
        return settings.redact

    def _redacted_message(self, message: Any, metadata: Any) -> tuple[Any, Any]:
        """A message's text and metadata through the PII redactor, when one is configured."""
        redactor = self._redactor()
        if redactor is None:
            return message, metadata
        return redactor.text(message), redactor.value(metadata)

    def _redacted_metadata(self, metadata: Any) -> Any:
        """Metadata through the PII redactor, when one is configured and metadata was given."""
        if metadata is None:
            return None
        redactor = self._redactor()
        return metadata if redactor is None else redactor.value(metadata)

    def _chosen_id(self, conversation_id: str | None) -> str | None:
        """The explicit id (checked and normalised), else the current one."""
        if conversation_id is not None:
            return fields.conversation_id(conversation_id)
        return self._registry.current_id()

    def _resolve(self, conversation_id: str | None) -> tuple[ConversationState, bool]:
        """The explicit conversation, else this context's current one, else a new one.

        The flag says whether it is the current conversation, whose interaction span may
        become the current OTel span.
        """
        current = self._registry.current_id()
        if conversation_id is not None:
            cid = fields.conversation_id(conversation_id)
            if cid is None:
                raise ValidationError("conversation_id must not be empty")
            return self._state(cid, None), cid == current
        if current is not None:
            # Still current here even if the registry forgot it while idle: same conversation.
            return self._state(current, None), True
        cid = generate_conversation_id()
        self._make_current(cid)
        return self._state(cid, None), True

    def _make_current(self, cid: str) -> None:
        """Make a conversation, and this tracker, current in this thread or task."""
        self._registry.make_current(cid)
        ACTIVE_TRACKER.set(self)
        # Spans any instrumentation starts from now on carry the conversation (_current.py).
        from agentsight_otel._current import ensure_stamping

        ensure_stamping(self._provider)

    def current_conversation_attributes(self) -> dict[str, Any] | None:
        """The attributes of this thread's or task's current conversation, if any."""
        state = self._registry.get(self._registry.current_id())
        return state.attributes if state is not None else None

    def _state(self, cid: str, values: dict[str, Any] | None) -> ConversationState:
        """The conversation's state, created or updated with the given field attributes."""
        return self._registry.obtain(cid, values, self._default_environment)

    def _default_environment(self) -> str:
        """The default environment: explicit, then AGENTSIGHT_ENVIRONMENT, then production."""
        settings = self._settings or resolve_settings(**self._explicit)
        return settings.environment

    def _await(self, receipts: list[tuple[int, Receipt]], timeout: float) -> Settlement:
        """Wait for the receipts, bounded by ``timeout`` in total."""
        if not receipts:
            return Settlement("delivered")
        known = [receipt.settlement for _, receipt in receipts]
        if all(known):
            return combine([s for s in known if s is not None])
        recorder = self._recorder
        observed = recorder.pipeline.observes_delivery() if recorder is not None else None
        if observed is False or (observed is None and not self._ledger.observed):
            return Settlement(
                "handed_off",
                "spans went to the OpenTelemetry pipeline; no AgentSight exporter in this "
                "process confirms their delivery",
            )
        end = monotonic() + timeout
        return combine([receipt.wait(max(0.0, end - monotonic())) for _, receipt in receipts])
