"""The tracker's setup: settings (resolved lazily from the table), the span pipeline, exit."""

from __future__ import annotations

import os
import threading
from time import monotonic
from typing import Any

from opentelemetry import trace

from agentsight_otel._attachments.tracking import FileTracking
from agentsight_otel._config import (
    CONFIGURE,
    Settings,
    apply_log_level,
    given_arguments,
    resolve_settings,
)
from agentsight_otel._current import tracked
from agentsight_otel._delivery.clock import Clock, SystemClock
from agentsight_otel._delivery.daemon import daemon_thread
from agentsight_otel._delivery.ledger import DEFAULT_LEDGER, DeliveryLedger
from agentsight_otel._log import log_internal_error
from agentsight_otel._redaction import Redactor, TextHook
from agentsight_otel._runtime import RUNTIME
from agentsight_otel._tracker.lifecycle import SHUTDOWN_REASON, ExitHook, install_sigterm_handler
from agentsight_otel._tracker.pipeline import Pipeline
from agentsight_otel._tracker.recorder import Recorder
from agentsight_otel._tracker.registry import ConversationRegistry, shared_registry
from agentsight_otel._tracker.retired import watch_idle
from agentsight_otel._tracker.state import ConversationState

UNRESOLVED = object()


class TrackerSetup:
    """Configuration, the lazily built pipeline, shutdown and the exit path of a tracker."""

    _files: FileTracking  # attachment uploads: built by the subclass, which owns the events

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None,
        ledger: DeliveryLedger | None,
        max_conversations: int,
        clock: Clock | None = None,
        *,
        shared: bool = False,
    ) -> None:
        self._explicit: dict[str, Any] = {}
        self._provider = tracer_provider
        self._ledger = ledger or DEFAULT_LEDGER
        self._lock = threading.Lock()
        self._registry = (
            shared_registry()
            if shared
            else ConversationRegistry(max_conversations, (clock or SystemClock()).now)
        )
        self._recorder: Recorder | None = None
        self._settings: Settings | None = None
        # The redactor in force once settings are resolved; UNRESOLVED (not None) until then.
        self._redaction: object = UNRESOLVED
        self._exit_hook = ExitHook(self)
        RUNTIME.adopt(self, TrackerSetup._forked)

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
        idle_timeout: float | None = None,
        set_global_provider: bool | None = None,
        handle_sigterm: bool = False,
    ) -> None:
        """Override settings (explicit values win over the environment); checked at once.

        The settings are README's configuration table (``agentsight_otel._config.Settings``).
        ``handle_sigterm=True`` installs ``install_sigterm_handler`` for this tracker.
        """
        given = given_arguments(CONFIGURE, locals())
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
                self._redaction = UNRESOLVED
        if old is not None:
            # The old pipeline drains on its own thread: reconfiguring never waits on a network.
            daemon_thread(old.pipeline.shutdown, "agentsight-reconfigure").start()
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
                self._settings, self._recorder = (
                    settings,
                    Recorder(pipeline, self._ledger, self._registry),
                )
                self._redaction = settings.redact
                self._registry.idle_timeout = settings.idle_timeout
                self._registry.retire = self._retire
                watch_idle(self._registry)
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
        self._lock = threading.Lock()  # the registry resets itself (adopted before)
        if self._settings is not None:
            watch_idle(self._registry)

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
            log_internal_error("delivering at exit")

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

    def _retire(self, state: ConversationState, reason: str) -> None:
        """End a conversation the registry retires (idle or past capacity), for delivery."""
        recorder = self._recorder
        if recorder is not None:
            receipts = recorder.close(state, complete=False, reason=reason)
            self._registry.retired.record(state, reason, receipts)
            recorder.pipeline.request_flush()

    def _current_id(self) -> str | None:
        """The conversation current in this thread or task, when it is one of this tracker's."""
        value = tracked()
        return (
            value.conversation_id if value is not None and value.scope is self._registry else None
        )

    def _redactor(self) -> Redactor | None:
        """The PII redactor in force; settings are resolved, the pipeline need not be."""
        settings = self._settings or resolve_settings(**self._explicit)
        return settings.redact

    def _default_environment(self) -> str:
        """The default environment: explicit, then AGENTSIGHT_ENVIRONMENT, then production."""
        settings = self._settings or resolve_settings(**self._explicit)
        return settings.environment
