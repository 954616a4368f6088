"""The tracker's internals: conversations, events and actions into spans, receipts of a send."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from time import time_ns
from typing import Any

from opentelemetry import trace

from agentsight_otel import _semconv as sc
from agentsight_otel._attachments.tracking import FileTracking
from agentsight_otel._config import CONFIGURE, given_arguments
from agentsight_otel._current import Current, ensure_stamping, make_tracked, tracked
from agentsight_otel._delivery.client import RetryPolicy
from agentsight_otel._delivery.clock import Clock
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._delivery.transport import Transport
from agentsight_otel._redaction import Redactor, TextHook
from agentsight_otel._tracker import fields
from agentsight_otel._tracker.inputs import PREVIEW
from agentsight_otel._tracker.misfiling import warn_generated
from agentsight_otel._tracker.sending import TrackerSending, in_event_loop
from agentsight_otel._tracker.state import ConversationState, Item
from agentsight_otel._tracker.summary import send_response
from agentsight_otel.exceptions import ValidationError
from agentsight_otel.helpers import generate_conversation_id


class TrackerCore(TrackerSending):
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
        redact: bool | Redactor | TextHook | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int | None = None,
        max_queue_bytes: int | None = None,
        idle_timeout: float | None = None,
        set_global_provider: bool | None = None,
        _ledger: DeliveryLedger | None = None,
        _max_conversations: int = 10_000,
        _transport: Transport | None = None,
        _clock: Clock | None = None,
        _retry_policy: RetryPolicy | None = None,
    ) -> None:
        # Settings are the table's (see _config); the underscored arguments are test seams.
        given = given_arguments(CONFIGURE, locals())
        seams = (tracer_provider, _ledger, _transport, _clock, _retry_policy)
        # Made without arguments it is the seed's one tracker: it shares the process's
        # conversations with agentsight_otel.conversation_tracker (README: Web frameworks).
        shared = not given and all(seam is None for seam in seams) and _max_conversations == 10_000
        super().__init__(tracer_provider, _ledger, _max_conversations, _clock, shared=shared)
        if shared and self._registry.owner is None:
            self._registry.owner = self  # agentsight_otel.conversation_tracker
        # Attachment bytes: uploaded by the tracker's own uploader.
        self._files = FileTracking(
            self._event,
            lambda: self.settings,
            transport=_transport,
            clock=_clock,
            policy=_retry_policy,
        )
        self.configure(**given)

    def _visit(self, cid: str, values: dict[str, Any]) -> dict[str, Any]:
        """``initialize_conversation``: the visit span, delivered at once (never on a loop)."""
        recorder, settings = self._setup()
        stamp = time_ns()
        with self._hold(cid, values) as state:
            receipts = [recorder.visit(state)]
        recorder.pipeline.request_flush()
        wait = 0.0 if in_event_loop() else settings.send_timeout
        return send_response(cid, [Item("conversation", stamp, cid)], self._await(receipts, wait))

    # -- internals -----------------------------------------------------------------------

    def action_parent(
        self, conversation_id: str | None, action: str
    ) -> tuple[trace.Span, str, str, trace.Tracer] | None:
        """For ``@traced_action``: the interaction span to nest under, opened if needed."""
        cid = conversation_id if conversation_id is not None else self._current_id()
        if cid is None:
            return None
        recorder, _ = self._setup()
        # The current id was checked when it became current: skip _resolve's validation (hot path).
        cid, implicit = (cid, True) if conversation_id is None else self._resolve(cid)
        with self._hold(cid, None) as state:
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
        cid, implicit = self._resolve(conversation_id)
        stamp = time_ns()
        with self._hold(cid, None) as state:
            recorder.event(state, name, attributes, stamp, make_current=implicit)
            state.items.append(Item(kind, stamp, preview))
            if after is not None:
                after(state, stamp)
        return state, stamp

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

    def _resolve(self, conversation_id: str | None) -> tuple[str, bool]:
        """The explicit conversation, else this context's current one, else a new one.

        The flag says whether it is the current conversation, whose interaction span may
        become the current OTel span.
        """
        current = self._current_id()
        if conversation_id is not None:
            cid = fields.conversation_id(conversation_id)
            if cid is None:
                raise ValidationError("conversation_id must not be empty")
            return cid, cid == current
        if current is not None:
            # Still current here even if the registry forgot it while idle: same conversation.
            return current, True
        cid = generate_conversation_id()
        self._warn_generated(cid)
        self._make_current(cid)
        return cid, True

    def _opened_id(self, conversation_id: str | None) -> str:
        """``get_or_create_conversation``'s id: the one given (remembered) or a generated one."""
        cid = fields.conversation_id(conversation_id)
        if cid is None:
            return generate_conversation_id()
        self._registry.opened = cid
        return cid

    def _warn_generated(self, cid: str) -> None:
        """Say so when a generated conversation is evidently not the one the caller meant."""
        value = tracked()
        other = None
        if value is not None and value.scope is not self._registry:
            other = value.conversation_id
        warn_generated(cid, other, self._registry.opened)

    def _make_current(self, cid: str) -> None:
        """Make a conversation of this tracker's current in this thread or task."""
        make_tracked(Current(cid, tracker=self, scope=self._registry))
        # Spans any instrumentation starts from now on carry the conversation (_current.py):
        # the pipeline is set up now, so that a private provider is the global one already.
        recorder, _ = self._setup()
        ensure_stamping(recorder.pipeline.provider)

    def current_conversation_attributes(
        self, cid: str, *, model_call: bool = False
    ) -> dict[str, Any] | None:
        """The attributes of conversation ``cid`` (the current one), if it is known.

        For a model call the turn is named too, opened now when the first ``track_*`` of the turn
        is still to come, so that the call's usage counts in the turn it is made for.
        """
        state = self._registry.get(cid)
        if state is None:
            return None
        recorder = self._recorder
        if not model_call or recorder is None or not state.lock.acquire(blocking=False):
            return state.attributes  # a lock held means the tracker itself is starting a span
        try:
            if not self._registry.holds(state):  # retired meanwhile: no turn to open on it
                return state.attributes
            interaction = state.interaction or recorder.open(state, make_current=False)
            return {**state.attributes, sc.TURN_ID: interaction.span_hex}
        finally:
            state.lock.release()

    def _state(self, cid: str, values: dict[str, Any] | None) -> ConversationState:
        """The conversation's state, created or updated with the given field attributes."""
        return self._registry.obtain(cid, values, self._default_environment)

    def _hold(
        self, cid: str, values: dict[str, Any] | None
    ) -> contextlib.AbstractContextManager[ConversationState]:
        """The conversation's state, locked for the block (created, updated with ``values``)."""
        return self._registry.hold(cid, values, self._default_environment)
