"""A tracker's wiring: its settings (resolved lazily from the table) and the span pipeline."""

from __future__ import annotations

import os
import threading
from typing import Any

from opentelemetry import trace

from agentsight_otel._config import SETTINGS, Settings, apply_log_level, resolve_settings
from agentsight_otel._delivery.daemon import daemon_thread
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._redaction import Redactor
from agentsight_otel._runtime import RUNTIME
from agentsight_otel._tracker.lifecycle import ExitHook
from agentsight_otel._tracker.pipeline import Pipeline
from agentsight_otel._tracker.recorder import Recorder
from agentsight_otel._tracker.registry import ConversationRegistry, Retire
from agentsight_otel._tracker.retired import watch_idle

UNRESOLVED = object()
_REDACT_ENV = next(row.env for row in SETTINGS if row.name == "redact") or ""


class Wiring:
    """The settings in force and the pipeline built from them, once, lazily, never at import."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None,
        ledger: DeliveryLedger,
        registry: ConversationRegistry,
        exit_hook: ExitHook,
    ) -> None:
        self.ledger = ledger
        self._provider = tracer_provider
        self._registry = registry
        self.retire: Retire | None = None  # how the registry's retirements end (recording's)
        self._exit_hook = exit_hook
        self._explicit: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.recorder: Recorder | None = None
        self._settings: Settings | None = None
        # The redactor in force once settings are resolved; UNRESOLVED (not None) until then.
        self.redaction: object = UNRESOLVED
        # Before then, the redactor and the variable's text it was resolved with (see redactor).
        self._early_redaction: tuple[str | None, Redactor | None] | None = None
        RUNTIME.adopt(self, Wiring._forked)

    def configure(
        self, given: dict[str, Any], tracer_provider: trace.TracerProvider | None
    ) -> None:
        """Override settings (checked at once); a changed pipeline is rebuilt on next use."""
        resolve_settings(base=Settings(), **given)
        changed = bool(given) or tracer_provider is not None
        with self._lock:
            self._explicit.update(given)
            if tracer_provider is not None:
                self._provider = tracer_provider
            # Nothing to change (say, only handle_sigterm): the pipeline in use stays.
            old = self.recorder if changed else None
            if changed:
                self.recorder, self._settings = None, None
                self.redaction, self._early_redaction = UNRESOLVED, None
        if old is not None:
            # The old pipeline drains on its own thread: reconfiguring never waits on a network
            # (nor on the io thread, which that drain waits for).
            daemon_thread(old.pipeline.shutdown, "agentsight-reconfigure").start()

    @property
    def settings(self) -> Settings:
        """The settings in force (resolved on first use)."""
        return self.setup()[1]

    def setup(self) -> tuple[Recorder, Settings]:
        """Resolve settings and the span pipeline once, lazily, never at import."""
        recorder, settings = self.recorder, self._settings
        if recorder is not None and settings is not None:
            return recorder, settings
        with self._lock:
            if self.recorder is None or self._settings is None:
                settings = resolve_settings(**self._explicit)
                apply_log_level(settings)
                pipeline = Pipeline(settings, self.ledger, self._provider)
                self._settings = settings
                self.recorder = Recorder(pipeline, self.ledger, self._registry)
                self.redaction = settings.redact
                self._registry.idle_timeout = settings.idle_timeout
                self._registry.retire = self.retire
                watch_idle(self._registry)
                # After the pipeline's (and the application's provider's) exit handlers.
                self._exit_hook.register()
            return self.recorder, self._settings

    def redactor(self) -> Redactor | None:
        """The PII redactor in force; settings are resolved, the pipeline need not be."""
        settings = self._settings
        if settings is not None:
            return settings.redact
        # Callers outside any conversation (@traced_action, conversation(...)) ask on every
        # call: resolved again only when the variable changed (configure() forgets it).
        raw = os.environ.get(_REDACT_ENV)
        early = self._early_redaction
        if early is None or early[0] != raw:
            early = self._early_redaction = (raw, resolve_settings(**self._explicit).redact)
        return early[1]

    def default_environment(self) -> str:
        """The default environment: explicit, then AGENTSIGHT_ENVIRONMENT, then production."""
        settings = self._settings or resolve_settings(**self._explicit)
        return settings.environment

    def _forked(self) -> None:
        """In a forked child: a fresh lock; idle conversations are swept here too."""
        self._lock = threading.Lock()
        if self._settings is not None:
            watch_idle(self._registry)
