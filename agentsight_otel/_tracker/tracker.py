"""``ConversationTracker``: the seed tracker API, recorded as OpenTelemetry spans and events."""

from __future__ import annotations

import os
from time import time_ns
from typing import Any

from opentelemetry import trace

from agentsight_otel import _semconv as sc
from agentsight_otel._attachments.tracking import FileTracking
from agentsight_otel._config import CONFIGURE, Settings, given_arguments
from agentsight_otel._delivery.client import RetryPolicy
from agentsight_otel._delivery.clock import Clock, SystemClock
from agentsight_otel._delivery.ledger import DEFAULT_LEDGER, DeliveryLedger, wait_settled
from agentsight_otel._delivery.transport import Transport
from agentsight_otel._mapping.timefmt import iso_utc
from agentsight_otel._redaction import Redactor, TextHook
from agentsight_otel._tracker import fields, inputs
from agentsight_otel._tracker.core import Recording
from agentsight_otel._tracker.inputs import PREVIEW
from agentsight_otel._tracker.lifecycle import ExitHook, Lifetime, install_sigterm_handler
from agentsight_otel._tracker.registry import ConversationRegistry, shared_registry
from agentsight_otel._tracker.sending import Sending, in_event_loop
from agentsight_otel._tracker.setup import Wiring
from agentsight_otel._tracker.state import ConversationState
from agentsight_otel._tracker.summary import pending_summary
from agentsight_otel.exceptions import ValidationError


class ConversationTracker:
    """Tracks conversations as traces: turns are spans, messages and clicks are events.

    Nothing here raises for the library's own failures; bad input raises ``ValidationError``
    (or ``ConfigurationError``) at the call and leaves everything tracked before intact.

    It delegates to parts with one job each: the registry (which conversations, bounded), the
    wiring (settings and the span pipeline), recording (calls into spans on the right
    conversation), sending (ending turns, the backend's answer), file tracking and the
    lifetime (shutdown, the exit path: ``_tracker/lifecycle.py``).
    """

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
        # conversations with agentsight_otel.conversation_tracker (docs/web-frameworks.md).
        shared = not given and all(seam is None for seam in seams) and _max_conversations == 10_000
        if shared:
            self._registry = shared_registry()
            if self._registry.owner is None:
                self._registry.owner = self  # agentsight_otel.conversation_tracker
        else:
            clock = (_clock or SystemClock()).now
            self._registry = ConversationRegistry(_max_conversations, clock)
        self._exit_hook = ExitHook(self)
        self._wiring = Wiring(
            tracer_provider,
            _ledger or DEFAULT_LEDGER,
            self._registry,
            self._exit_hook,
        )
        self._recording = Recording(self._wiring, self._registry)
        self._wiring.retire = self._recording.retire
        self._sending = Sending(self._wiring, self._registry, self._recording)
        # Attachment bytes: uploaded by the tracker's own uploader.
        self._files = FileTracking(
            self._recording.event,
            lambda: self.settings,
            transport=_transport,
            clock=_clock,
            policy=_retry_policy,
        )
        self._lifetime = Lifetime(self._wiring, self._recording, self._files, self._exit_hook)
        self.configure(**given)

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

        The settings are the table of docs/configuration.md (``agentsight_otel._config.Settings``).
        ``handle_sigterm=True`` installs ``install_sigterm_handler`` for this tracker.
        """
        self._wiring.configure(given_arguments(CONFIGURE, locals()), tracer_provider)
        if handle_sigterm:
            install_sigterm_handler(self)

    @property
    def settings(self) -> Settings:
        """The settings in force (resolved on first use)."""
        return self._wiring.settings

    # -- conversations -------------------------------------------------------------------

    def get_or_create_conversation(
        self,
        conversation_id: str | None = None,
        customer_id: str | None = None,
        customer_ip_address: str | None = None,
        device: str | None = None,
        source: str | None = None,
        language: str | None = None,
        environment: str | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        name: str | None = None,
    ) -> str:
        """Make a conversation current in this thread or task, creating it if new; its id."""
        cid = self._recording.opened_id(conversation_id)
        values = fields.conversation_fields(locals(), self._recording.redactor())
        self._recording.state(cid, values)
        self._recording.make_current(cid)
        return cid

    def initialize_conversation(
        self,
        conversation_id: str,
        customer_id: str | None = None,
        customer_ip_address: str | None = None,
        device: str | None = None,
        source: str | None = None,
        language: str | None = None,
        environment: str | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Record the visit (not engaged yet) and deliver it at once."""
        cid = fields.conversation_id(conversation_id)
        if cid is None:
            raise ValidationError("conversation_id is required")
        values = fields.conversation_fields(locals(), self._recording.redactor())
        receipts, stamp = self._recording.visit(cid, values)
        return self._sending.visited(cid, stamp, receipts)

    # -- messages, actions, buttons, attachments, usage --------------------------------

    def track_human_message(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        *,
        attachments: list[Any] | None = None,
        attachment_mode: str = "base64",
        conversation_id: str | None = None,
    ) -> None:
        """Record a message from the end user, with the files shared with it, if any."""
        self._message(
            sc.SENDER_USER,
            "question",
            message,
            metadata,
            conversation_id,
            attachments,
            attachment_mode,
        )

    def track_agent_message(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        *,
        attachments: list[Any] | None = None,
        attachment_mode: str = "base64",
        conversation_id: str | None = None,
    ) -> None:
        """Record a message from the agent, with the files shared with it, if any."""
        self._message(
            sc.SENDER_AGENT,
            "answer",
            message,
            metadata,
            conversation_id,
            attachments,
            attachment_mode,
        )

    def _message(
        self,
        sender: str,
        kind: str,
        message: object,
        metadata: object,
        conversation_id: str | None,
        attachments: list[Any] | None,
        attachment_mode: str,
    ) -> None:
        """Check (and redact) a message, then record it, with its files if any."""
        if self._wiring.redaction is not None:  # the only cost on this path while it is off
            message, metadata = self._recording.redacted_message(message, metadata)
        attributes = inputs.message(sender, message, metadata)
        preview = attributes[sc.MESSAGE_CONTENT][:PREVIEW]
        if attachments is None:
            self._recording.event(conversation_id, sc.MESSAGE_EVENT, attributes, kind, preview)
        else:
            self._files.track_message(
                conversation_id, attributes, kind, preview, attachments, attachment_mode
            )

    track_question = track_human_message
    track_answer = track_agent_message

    def track_action(
        self,
        action_name: str,
        started_at: Any = None,
        ended_at: Any = None,
        duration_ms: float | None = None,
        tools_used: Any = None,
        response: Any = None,
        error_msg: str | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
        kind: str = "tool",
    ) -> dict[str, Any]:
        """Record an action as a child span with its real start and end; the item as a dict."""
        redactor = self._wiring.redactor()
        if redactor is not None:
            tools_used, response = redactor.value(tools_used), redactor.value(response)
            error_msg, metadata = redactor.text(error_msg), redactor.value(metadata)
        action = inputs.action(
            action_name,
            started_at,
            ended_at,
            duration_ms,
            tools_used,
            response,
            error_msg,
            metadata,
            kind,
            time_ns(),
        )
        only_duration = started_at is None and ended_at is None
        cid = self._recording.action(action, conversation_id, only_duration)
        return action.item(cid)

    def track_button(
        self,
        button_event: str,
        label: str,
        value: str,
        conversation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record a button click; the tracked item as a dict."""
        redactor = self._recording.redactor()
        if redactor is not None:
            label, value = redactor.text(label), redactor.text(value)
        metadata = self._recording.redacted_metadata(metadata)
        attributes = inputs.button(button_event, label, value, metadata)
        state, stamp = self._recording.event(
            conversation_id, sc.BUTTON_EVENT, attributes, "button", attributes[sc.BUTTON_LABEL]
        )
        return {
            "type": "button",
            "conversation_id": state.conversation_id,
            "button_event": attributes[sc.BUTTON_EVENT_NAME],
            "label": attributes[sc.BUTTON_LABEL],
            "value": attributes[sc.BUTTON_VALUE],
            "metadata": metadata,
            "timestamp": iso_utc(stamp),
        }

    def track_attachments(
        self,
        attachments: list[dict[str, Any]],
        mode: str = "base64",
        sender: str = sc.SENDER_USER,
        metadata: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
    ) -> dict[str, Any]:
        """Record that files were shared and upload their bytes in the background; the item."""
        metadata = self._recording.redacted_metadata(metadata)
        return self._files.track(conversation_id, attachments, mode, sender, metadata)

    def track_token_usage(
        self,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        total_tokens: int | None = None,
        *,
        model: str | None = None,
        provider: str | None = None,
        conversation_id: str | None = None,
    ) -> dict[str, int]:
        """Record one model call's usage; the conversation's totals since the last send."""
        total, attributes = inputs.token_usage(
            prompt_tokens, completion_tokens, total_tokens, model, provider
        )
        prompt, completion = attributes[sc.INPUT_TOKENS], attributes[sc.OUTPUT_TOKENS]
        totals: dict[str, int] = {}

        def count(state: ConversationState, stamp: int) -> None:  # under the state's lock
            state.usage.prompt_tokens += prompt
            state.usage.completion_tokens += completion
            state.usage.total_tokens += total
            totals.update(state.usage.as_dict())

        preview = f"{prompt}+{completion} tokens"
        self._recording.event(
            conversation_id, sc.USAGE_EVENT, attributes, "token_usage", preview, count
        )
        return totals

    def get_token_usage(self, conversation_id: str | None = None) -> dict[str, int]:
        """Token totals of a conversation since its last send (zeros when unknown)."""
        state = self._registry.get(self._sending.chosen_id(conversation_id))
        if state is None:
            return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        return state.usage.as_dict()

    # -- sending and viewing -------------------------------------------------------------

    def send_tracked_data(
        self, conversation_id: str | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """End the turn and report what the backend accepted, within ``timeout``.

        With no conversation current and none named, every conversation holding data is sent.
        On a running event loop it never blocks: items come back ``pending`` at once.
        """
        closings, wait = self._sending.close_for_send(conversation_id, timeout)
        return self._sending.answer(closings, 0.0 if wait <= 0 or in_event_loop() else wait)

    async def asend_tracked_data(
        self, conversation_id: str | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """``send_tracked_data`` for asyncio: awaits the receipts on the loop, holding no thread."""
        closings, wait = self._sending.close_for_send(conversation_id, timeout)
        receipts = [r for closing in closings for r in closing.receipts]
        uploads = [u for closing in closings for u in closing.uploads]
        # A thread per waiting send would queue sends behind each other (and the
        # application's own to_thread work) past their timeout while the backend is slow.
        heard = self._sending.settle(receipts, 0.0).status != "handed_off"
        waiting = [receipt for _, receipt in (*uploads, *(receipts if heard else ()))]
        await wait_settled(waiting, wait)
        return self._sending.answer(closings, 0.0)

    def get_tracked_data_summary(self, conversation_id: str | None = None) -> dict[str, Any]:
        """Items held in memory (of one conversation, or all), in time order, with previews."""
        wanted = fields.conversation_id(conversation_id)
        chosen = [
            (s.conversation_id, list(s.items))
            for s in self._registry.states()
            if wanted is None or s.conversation_id == wanted
        ]
        return pending_summary(chosen)

    # -- lifetime ------------------------------------------------------------------------

    def shutdown(self, timeout: float = 10.0) -> None:
        """Deliver what the private pipeline and the uploader hold, within ``timeout`` seconds."""
        self._lifetime.close(timeout)
