"""Recording: each tracking call on the right conversation, under its lock, as spans and events."""

from __future__ import annotations

from time import time_ns
from typing import Any

from opentelemetry import trace

from agentsight_otel import _semconv as sc
from agentsight_otel._current import Current, ensure_stamping, make_tracked, tracked
from agentsight_otel._delivery.ledger import Receipt
from agentsight_otel._redaction import Redactor
from agentsight_otel._tracker import fields
from agentsight_otel._tracker.inputs import PREVIEW, Action
from agentsight_otel._tracker.misfiling import note_opened, warn_generated
from agentsight_otel._tracker.pipeline import COALESCE_SECONDS
from agentsight_otel._tracker.registry import ConversationRegistry
from agentsight_otel._tracker.setup import Wiring
from agentsight_otel._tracker.state import AfterEvent, ConversationState, Item
from agentsight_otel.exceptions import ValidationError
from agentsight_otel.helpers import generate_conversation_id


class Recording:
    """Finds the conversation a call is for (explicit, current, or new) and records on it.

    It is also what ``_current`` asks about a tracked conversation: its attributes and turn.
    """

    def __init__(self, wiring: Wiring, registry: ConversationRegistry) -> None:
        self._wiring = wiring
        self._registry = registry

    def event(
        self,
        conversation_id: str | None,
        name: str,
        attributes: dict[str, Any],
        kind: str,
        preview: str,
        after: AfterEvent | None = None,
    ) -> tuple[ConversationState, int]:
        """Add an event to the turn of the resolved conversation (then ``after``)."""
        recorder = self._wiring.recorder or self._wiring.setup()[0]
        cid, implicit = self.resolve(conversation_id)
        stamp = time_ns()
        with self.hold(cid, None) as state:
            recorder.event(state, name, attributes, stamp, make_current=implicit)
            state.items.append(Item(kind, stamp, preview))
            if after is not None:
                after(state, stamp)
        return state, stamp

    def action(self, action: Action, conversation_id: str | None, only_duration: bool) -> str:
        """An action span in the resolved conversation; its conversation id."""
        recorder = self._wiring.recorder or self._wiring.setup()[0]
        cid, implicit = self.resolve(conversation_id)
        action.attributes.update(fields.identity_attributes(cid))
        with self.hold(cid, None) as state:
            if only_duration and state.items:
                # Only a duration: it ended now, but never before what was tracked before it.
                action = action.after(state.items[-1].timestamp_ns)
            recorder.action(
                state,
                action.name,
                action.attributes,
                action.start_ns,
                action.end_ns,
                action.error,
                make_current=implicit,
            )
            state.items.append(Item("action", action.start_ns, action.name[:PREVIEW]))
        return cid

    def visit(self, cid: str, values: dict[str, Any]) -> tuple[list[tuple[int, Receipt]], int]:
        """``initialize_conversation``'s visit span, handed for delivery now; its receipts."""
        recorder, _ = self._wiring.setup()
        stamp = time_ns()
        with self.hold(cid, values) as state:
            receipts = [recorder.visit(state)]
        recorder.pipeline.request_flush(0.0)
        return receipts, stamp

    def action_parent(
        self, conversation_id: str | None, action: str
    ) -> tuple[trace.Span, str, str, trace.Tracer] | None:
        """For ``@traced_action``: the turn span to nest under, opened if needed."""
        cid = conversation_id if conversation_id is not None else self.current_id()
        if cid is None:
            return None
        recorder, _ = self._wiring.setup()
        # The current id was checked when it became current: skip resolve's validation (hot path).
        cid, implicit = (cid, True) if conversation_id is None else self.resolve(cid)
        with self.hold(cid, None) as state:
            turn = state.turn or recorder.open(state, make_current=implicit)
            state.items.append(Item("action", time_ns(), action[:PREVIEW]))
        return (
            turn.span,
            state.conversation_id,
            turn.span_hex,
            recorder.pipeline.tracer,
        )

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
        recorder = self._wiring.recorder
        if not model_call or recorder is None or not state.lock.acquire(blocking=False):
            return state.attributes  # a lock held means the tracker itself is starting a span
        try:
            if not self._registry.holds(state):  # retired meanwhile: no turn to open on it
                return state.attributes
            turn = state.turn or recorder.open(state, make_current=False)
            return {**state.attributes, sc.TURN_ID: turn.span_hex}
        finally:
            state.lock.release()

    def resolve(self, conversation_id: str | None) -> tuple[str, bool]:
        """The explicit conversation, else this context's current one, else a new one.

        The flag says whether it is the current conversation, whose turn span may
        become the current OTel span.
        """
        current = self.current_id()
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
        self.make_current(cid)
        return cid, True

    def opened_id(self, conversation_id: str | None) -> str:
        """``get_or_create_conversation``'s id: the one given (remembered) or a generated one."""
        cid = fields.conversation_id(conversation_id)
        if cid is None:
            return generate_conversation_id()
        self._registry.opened = cid
        note_opened(self._registry, cid)
        return cid

    def current_id(self) -> str | None:
        """The conversation current in this thread or task, when it is one of this tracker's."""
        value = tracked()
        mine = value is not None and value.scope is self._registry
        return value.conversation_id if mine and value is not None else None

    def make_current(self, cid: str) -> None:
        """Make a conversation of this tracker's current in this thread or task."""
        make_tracked(Current(cid, tracker=self, scope=self._registry))
        # Spans any instrumentation starts from now on carry the conversation (_current.py):
        # the pipeline is set up now, so that a private provider is the global one already.
        recorder, _ = self._wiring.setup()
        ensure_stamping(recorder.pipeline.provider)

    def state(self, cid: str, values: dict[str, Any] | None) -> ConversationState:
        """The conversation's state, created or updated with the given field attributes."""
        return self._registry.obtain(cid, values, self._wiring.default_environment)

    def hold(self, cid: str, values: dict[str, Any] | None) -> ConversationState:
        """The conversation's state, locked for the block (created, updated with ``values``)."""
        return self._registry.hold(cid, values, self._wiring.default_environment)

    def redactor(self) -> Redactor | None:
        """The PII redactor in force (None: redaction is off)."""
        return self._wiring.redactor()

    def redacted_message(self, message: Any, metadata: Any) -> tuple[Any, Any]:
        """A message's text and metadata through the PII redactor, when one is configured."""
        redactor = self._wiring.redactor()
        if redactor is None:
            return message, metadata
        return redactor.text(message), redactor.value(metadata)

    def redacted_metadata(self, metadata: Any) -> Any:
        """Metadata through the PII redactor, when one is configured and metadata was given."""
        if metadata is None:
            return None
        redactor = self._wiring.redactor()
        return metadata if redactor is None else redactor.value(metadata)

    def retire(self, state: ConversationState, reason: str) -> None:
        """End a conversation the registry retires (idle or past capacity), for delivery."""
        recorder = self._wiring.recorder
        if recorder is not None:
            receipts = recorder.close(state, complete=False, reason=reason)
            self._registry.retired.record(state, reason, receipts)
            recorder.pipeline.request_flush(COALESCE_SECONDS)

    def end_open(self, reason: str) -> None:
        """End every open turn, marked incomplete with ``reason``."""
        recorder = self._wiring.recorder
        if recorder is None:
            return
        for state in self._registry.states():
            # A lock held by a thread that is stuck (or gone) must not hang the exit.
            if not state.lock.acquire(timeout=1.0):
                continue
            try:
                if state.turn is not None:
                    recorder.close(state, complete=False, reason=reason)
            finally:
                state.lock.release()

    def _warn_generated(self, cid: str) -> None:
        """Say so when a generated conversation is evidently not the one the caller meant."""
        value = tracked()
        other = None
        if value is not None and value.scope is not self._registry:
            other = value.conversation_id
        warn_generated(cid, other, self._registry.opened)
