"""``ConversationTracker``: the seed tracker API, recorded as OpenTelemetry spans and events."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import json
import threading
from collections import OrderedDict
from time import monotonic, time_ns
from typing import Any

from opentelemetry import trace

from agentsight_otel import semconv as sc
from agentsight_otel.attachments import describe_attachments
from agentsight_otel.config import Settings, apply_log_level, resolve_settings
from agentsight_otel.exceptions import NothingToSendError, ValidationError
from agentsight_otel.export.ledger import DEFAULT_LEDGER, DeliveryLedger, Receipt, Settlement
from agentsight_otel.helpers import generate_conversation_id
from agentsight_otel.ids import conversation_trace_id
from agentsight_otel.mapping.timefmt import iso_utc
from agentsight_otel.sanitize import (
    encode_metadata,
    encode_value,
    optional_field,
    require_text,
    to_text,
    truncate,
)
from agentsight_otel.tracker import fields
from agentsight_otel.tracker.pipeline import Pipeline
from agentsight_otel.tracker.recorder import Recorder
from agentsight_otel.tracker.state import ConversationState, Item
from agentsight_otel.tracker.summary import combine, pending_summary, send_response
from agentsight_otel.tracker.timing import action_window

_instances = itertools.count()
# The tracker whose conversation was made current last in this thread or task, so that
# ``@traced_action`` finds it without being told which tracker the application uses.
ACTIVE_TRACKER: contextvars.ContextVar[ConversationTracker | None] = contextvars.ContextVar(
    "agentsight_otel.active_tracker", default=None
)
_PREVIEW = 80


class ConversationTracker:
    """Tracks conversations as traces: interactions are spans, messages and clicks are events.

    Nothing here raises for the library's own failures; bad input raises ``ValidationError``
    (or ``ConfigurationError``) at the call and leaves everything tracked before intact.
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
        ledger: DeliveryLedger | None = None,
        max_conversations: int = 10_000,
    ) -> None:
        self._explicit: dict[str, Any] = {}
        self._provider = tracer_provider
        self._ledger = ledger or DEFAULT_LEDGER
        self._max_conversations = max_conversations
        self._lock = threading.Lock()
        self._conversations: OrderedDict[str, ConversationState] = OrderedDict()
        self._recorder: Recorder | None = None
        self._settings: Settings | None = None
        self._current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
            f"agentsight_otel.current_conversation.{next(_instances)}", default=None
        )
        self.configure(
            api_key=api_key,
            endpoint=endpoint,
            environment=environment,
            log_level=log_level,
            send_timeout=send_timeout,
            compression=compression,
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
    ) -> None:
        """Override settings (explicit values win over the environment); checked at once."""
        candidates = {
            "api_key": api_key,
            "endpoint": endpoint,
            "environment": environment,
            "log_level": log_level,
            "send_timeout": send_timeout,
            "compression": compression,
        }
        given = {k: v for k, v in candidates.items() if v is not None}
        resolve_settings(base=Settings(), **given)
        with self._lock:
            self._explicit.update(given)
            if tracer_provider is not None:
                self._provider = tracer_provider
            old, self._recorder, self._settings = self._recorder, None, None
        if old is not None and (given or tracer_provider is not None):
            old.pipeline.shutdown()

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
            return self._recorder, self._settings

    # -- conversations -------------------------------------------------------------------

    def get_or_create_conversation(
        self,
        conversation_id: str | None = None,
        customer_id: str | None = None,
        customer_ip_address: str | None = None,
        device: str | None = None,
        source: str | None = None,
        language: str | None = None,
        name: str | None = None,
        environment: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Make a conversation current in this thread or task, creating it if new; its id."""
        cid = fields.conversation_id(conversation_id) or generate_conversation_id()
        values = fields.conversation_fields(
            customer_id, customer_ip_address, device, source, language, name, environment, metadata
        )
        self._state(cid, values)
        self._current.set(cid)
        ACTIVE_TRACKER.set(self)
        return cid

    def initialize_conversation(
        self,
        conversation_id: str,
        customer_id: str | None = None,
        customer_ip_address: str | None = None,
        device: str | None = None,
        source: str | None = None,
        language: str | None = None,
        name: str | None = None,
        environment: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record the visit (not engaged yet) and deliver it at once."""
        cid = fields.conversation_id(conversation_id)
        if cid is None:
            raise ValidationError("conversation_id is required")
        values = fields.conversation_fields(
            customer_id, customer_ip_address, device, source, language, name, environment, metadata
        )
        state = self._state(cid, values)
        recorder, settings = self._setup()
        stamp = time_ns()
        with state.lock:
            receipts = [recorder.visit(state)]
        recorder.pipeline.request_flush()
        item = Item("conversation", stamp, cid)
        return send_response(cid, [item], self._await(receipts, settings.send_timeout))

    # -- messages, actions, buttons, attachments, usage --------------------------------

    def track_human_message(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
    ) -> None:
        """Record a message from the end user."""
        self._message(sc.SENDER_USER, "question", message, metadata, conversation_id)

    def track_agent_message(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        *,
        conversation_id: str | None = None,
    ) -> None:
        """Record a message from the agent."""
        self._message(sc.SENDER_AGENT, "answer", message, metadata, conversation_id)

    track_question = track_human_message
    track_answer = track_agent_message

    def _message(
        self, sender: str, kind: str, message: object, metadata: object, conversation_id: str | None
    ) -> None:
        """Validate, then add a message event to the interaction."""
        text = require_text(message, "message")
        attributes = {sc.MESSAGE_SENDER: sender, sc.MESSAGE_CONTENT: text}
        if metadata is not None:
            attributes[sc.MESSAGE_METADATA] = encode_metadata(metadata)  # type: ignore[assignment]
        self._event(conversation_id, sc.MESSAGE_EVENT, attributes, kind, text[:_PREVIEW])

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
        name = require_text(action_name, "action_name")[:255]
        if kind not in (sc.KIND_TOOL, sc.KIND_TASK):
            raise ValidationError("kind must be 'tool' or 'task'")
        start_ns, end_ns = action_window(started_at, ended_at, duration_ms, time_ns())
        error = truncate(error_msg) if error_msg is not None else None
        if error is not None and not isinstance(error_msg, str):
            raise ValidationError("error_msg must be a string")
        attributes: dict[str, Any] = {sc.SPAN_KIND: kind, sc.ENTITY_NAME: name, sc.TOOL_NAME: name}
        if tools_used is not None:
            attributes[sc.TOOL_ARGUMENTS] = encode_value(tools_used)
        if response is not None:
            attributes[sc.TOOL_RESPONSE] = to_text(response)
        if error is not None:
            attributes[sc.TOOL_ERROR] = error
        meta = encode_metadata(metadata)
        if meta is not None:
            attributes[sc.METADATA] = meta
        recorder, _ = self._setup()
        state, implicit = self._resolve(conversation_id)
        attributes[sc.CONVERSATION_ID] = state.conversation_id
        with state.lock:
            recorder.action(state, name, attributes, start_ns, end_ns, error, make_current=implicit)
            state.items.append(Item("action", start_ns, name))
        return {
            "type": "action",
            "conversation_id": state.conversation_id,
            "action_name": name,
            "started_at": iso_utc(start_ns),
            "ended_at": iso_utc(end_ns),
            "duration_ms": round((end_ns - start_ns) / 1e6, 3),
            "status": "error" if error is not None else "ok",
        }

    def track_button(
        self,
        button_event: str,
        label: str,
        value: str,
        conversation_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record a button click; the tracked item as a dict."""
        attributes = {
            sc.BUTTON_EVENT_NAME: fields.required_field(button_event, "button_event"),
            sc.BUTTON_LABEL: fields.required_field(label, "label"),
            sc.BUTTON_VALUE: fields.required_field(value, "value"),
        }
        meta = encode_metadata(metadata)
        if meta is not None:
            attributes[sc.METADATA] = meta
        state, stamp = self._event(
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
        """Record that files were shared (names, sizes, types); the item as a dict."""
        files = describe_attachments(attachments, mode)
        if sender not in (sc.SENDER_USER, sc.SENDER_AGENT):
            raise ValidationError("sender must be 'end_user' or 'agent'")
        attributes: dict[str, Any] = {
            sc.ATTACHMENT_SENDER: sender,
            sc.ATTACHMENT_MODE: mode,
            sc.ATTACHMENT_COUNT: len(files),
            sc.ATTACHMENT_FILES: json.dumps(files),
        }
        meta = encode_metadata(metadata)
        if meta is not None:
            attributes[sc.METADATA] = meta
        preview = ", ".join(f["filename"] for f in files)[:_PREVIEW]
        state, stamp = self._event(
            conversation_id, sc.ATTACHMENT_EVENT, attributes, "attachment", preview
        )
        return {
            "type": "attachment",
            "conversation_id": state.conversation_id,
            "sender": sender,
            "mode": mode,
            "files": files,
            "timestamp": iso_utc(stamp),
        }

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
        prompt = fields.token_count(prompt_tokens, "prompt_tokens")
        completion = fields.token_count(completion_tokens, "completion_tokens")
        total = (
            fields.token_count(total_tokens, "total_tokens")
            if total_tokens is not None
            else prompt + completion
        )
        attributes: dict[str, Any] = {
            sc.INPUT_TOKENS: prompt,
            sc.OUTPUT_TOKENS: completion,
            sc.GEN_AI_OPERATION: "chat",
        }
        for key, value in ((sc.GEN_AI_REQUEST_MODEL, model), (sc.GEN_AI_SYSTEM, provider)):
            clean = optional_field(value, key.rsplit(".", 1)[-1])
            if clean:
                attributes[key] = clean
        state, _ = self._event(
            conversation_id,
            sc.USAGE_EVENT,
            attributes,
            "token_usage",
            f"{prompt}+{completion} tokens",
        )
        with state.lock:
            state.usage.prompt_tokens += prompt
            state.usage.completion_tokens += completion
            state.usage.total_tokens += total
            return state.usage.as_dict()

    def get_token_usage(self, conversation_id: str | None = None) -> dict[str, int]:
        """Token totals of a conversation since its last send (zeros when unknown)."""
        cid = conversation_id if conversation_id is not None else self._current.get()
        state = self._conversations.get(cid) if cid is not None else None
        if state is None:
            return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        return state.usage.as_dict()

    # -- sending and viewing -------------------------------------------------------------

    def send_tracked_data(
        self, conversation_id: str | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """End the interaction and report what the backend accepted, within ``timeout``."""
        cid, items, receipts, wait = self._close_for_send(conversation_id, timeout)
        return send_response(cid, items, self._await(receipts, wait))

    async def asend_tracked_data(
        self, conversation_id: str | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """``send_tracked_data`` for asyncio: awaits the verdict without blocking the loop."""
        cid, items, receipts, wait = self._close_for_send(conversation_id, timeout)
        settlement = await asyncio.to_thread(self._await, receipts, wait)
        return send_response(cid, items, settlement)

    def _close_for_send(
        self, conversation_id: str | None, timeout: float | None
    ) -> tuple[str, list[Item], list[tuple[int, Receipt]], float]:
        """End the interaction and take its items; what a send then waits on."""
        cid = conversation_id if conversation_id is not None else self._current.get()
        state = self._conversations.get(cid) if cid is not None else None
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
            receipts = recorder.close(state, complete=True)
            state.usage.prompt_tokens = state.usage.completion_tokens = 0
            state.usage.total_tokens = 0
        if receipts:
            recorder.pipeline.request_flush()
        wait = settings.send_timeout if timeout is None else max(0.0, float(timeout))
        return state.conversation_id, items, receipts, wait

    def get_tracked_data_summary(self, conversation_id: str | None = None) -> dict[str, Any]:
        """Items held in memory (of one conversation, or all), in time order, with previews."""
        with self._lock:
            states = list(self._conversations.values())
        chosen = [
            (s.conversation_id, list(s.items))
            for s in states
            if conversation_id is None or s.conversation_id == conversation_id
        ]
        return pending_summary(chosen)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Deliver what the tracker's private pipeline holds, within ``timeout`` seconds."""
        recorder = self._recorder
        if recorder is not None:
            recorder.pipeline.shutdown(int(timeout * 1000))

    # -- internals -----------------------------------------------------------------------

    def _action_parent(
        self, conversation_id: str | None, action: str
    ) -> tuple[trace.Span, str, str, trace.Tracer] | None:
        """For ``@traced_action``: the interaction span to nest under, opened if needed."""
        cid = conversation_id if conversation_id is not None else self._current.get()
        if cid is None:
            return None
        recorder, _ = self._setup()
        state, implicit = self._resolve(cid)
        with state.lock:
            interaction = state.interaction or recorder.open(state, make_current=implicit)
            state.items.append(Item("action", time_ns(), action[:_PREVIEW]))
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
    ) -> tuple[ConversationState, int]:
        """Add an event to the interaction of the resolved conversation."""
        recorder = self._recorder or self._setup()[0]
        state, implicit = self._resolve(conversation_id)
        stamp = time_ns()
        with state.lock:
            recorder.event(state, name, attributes, stamp, make_current=implicit)
            state.items.append(Item(kind, stamp, preview))
        return state, stamp

    def _resolve(self, conversation_id: str | None) -> tuple[ConversationState, bool]:
        """The explicit conversation, else this context's current one, else a new one."""
        if conversation_id is not None:
            cid = fields.conversation_id(conversation_id)
            if cid is None:
                raise ValidationError("conversation_id must not be empty")
            return self._state(cid, None), cid == self._current.get()
        current = self._current.get()
        if current is not None:
            state = self._conversations.get(current)
            if state is not None:
                return state, True
        return self._state(self.get_or_create_conversation(), None), True

    def _state(self, cid: str, values: dict[str, Any] | None) -> ConversationState:
        """The conversation's state, created or updated with the given field attributes."""
        with self._lock:
            state = self._conversations.get(cid)
            if state is None:
                environment = self._settings_environment()
                state = ConversationState(
                    cid, conversation_trace_id(cid), fields.base_attributes(cid, environment)
                )
                self._conversations[cid] = state
                self._evict_idle()
            else:
                self._conversations.move_to_end(cid)
        if values:
            with state.lock:
                state.attributes = {**state.attributes, **values}
        return state

    def _settings_environment(self) -> str:
        """The default environment: explicit, then AGENTSIGHT_ENVIRONMENT, then production."""
        settings = self._settings
        if settings is None:
            settings = resolve_settings(**self._explicit)
        return settings.environment

    def _evict_idle(self) -> None:
        """Forget the oldest conversations with nothing pending beyond the bound."""
        excess = len(self._conversations) - self._max_conversations
        for cid in list(self._conversations)[: max(0, excess) * 2]:
            if excess <= 0:
                break
            state = self._conversations[cid]
            if state.interaction is None and not state.items:
                del self._conversations[cid]
                excess -= 1

    def _await(self, receipts: list[tuple[int, Receipt]], timeout: float) -> Settlement:
        """Wait for the receipts, bounded by ``timeout`` in total."""
        if not receipts:
            return Settlement("delivered")
        if not self._ledger.observed:
            return Settlement(
                "handed_off",
                "spans went to the OpenTelemetry pipeline; no "
                "AgentSight exporter runs in this process to confirm delivery",
            )
        end = monotonic() + timeout
        return combine([receipt.wait(max(0.0, end - monotonic())) for _, receipt in receipts])
