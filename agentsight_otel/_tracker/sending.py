"""``send_tracked_data``'s side of the tracker: ending turns and reporting receipts."""

from __future__ import annotations

import asyncio
import logging
from time import monotonic
from typing import Any, NamedTuple

from agentsight_otel._attachments.tracking import report_uploads
from agentsight_otel._delivery.ledger import Receipt, Settlement
from agentsight_otel._log import RateLimitedLog
from agentsight_otel._tracker import fields
from agentsight_otel._tracker.core import Recording
from agentsight_otel._tracker.pipeline import COALESCE_SECONDS
from agentsight_otel._tracker.registry import ConversationRegistry
from agentsight_otel._tracker.setup import Wiring
from agentsight_otel._tracker.state import ConversationState, Item
from agentsight_otel._tracker.summary import combine, merge_responses, send_response
from agentsight_otel.exceptions import NothingToSendError

_WARN = RateLimitedLog(interval=3600.0)
NOTHING = "nothing to send: no conversation is current here and none holds tracked data"


class Closing(NamedTuple):
    """One conversation a send ended: its items and the receipts to wait on."""

    conversation_id: str
    items: list[Item]
    receipts: list[tuple[int, Receipt]]
    uploads: list[tuple[int, Receipt]]
    incomplete_reason: str | None = None


def in_event_loop() -> bool:
    """Whether this thread runs an asyncio event loop, which a blocking wait would stall."""
    # asyncio's own non-raising form of get_running_loop(): this runs at every waiting send.
    if asyncio.events._get_running_loop() is None:
        return False
    _WARN.log(
        logging.WARNING,
        "send-in-loop",
        "send_tracked_data() was called on a running event loop: it returned at once with "
        "the items 'pending' instead of blocking the loop; `await asend_tracked_data()` "
        "gives the backend's receipts",
    )
    return True


class Sending:
    """Ends turns for a send and answers with what the backend did with them."""

    def __init__(
        self, wiring: Wiring, registry: ConversationRegistry, recording: Recording
    ) -> None:
        self._wiring = wiring
        self._registry = registry
        self._recording = recording

    def close_for_send(
        self, conversation_id: str | None, timeout: float | None
    ) -> tuple[list[Closing], float]:
        """End the chosen conversation's turn (or every one's); what the send waits on."""
        fields.check_timeout(timeout)  # before anything is closed
        settings = self._wiring.setup()[1]
        wait = settings.send_timeout if timeout is None else max(0.0, float(timeout))
        chosen = self.chosen_id(conversation_id)
        if chosen is None and conversation_id is None:
            closings = self._close_all(wait > 0)
        else:
            closings = [self._close_one(chosen, wait > 0)]
        return closings, wait

    def visited(self, cid: str, stamp: int, receipts: list[tuple[int, Receipt]]) -> dict[str, Any]:
        """``initialize_conversation``'s answer: the visit's receipt (never waited on a loop)."""
        wait = 0.0 if in_event_loop() else self._wiring.settings.send_timeout
        return send_response(cid, [Item("conversation", stamp, cid)], self.settle(receipts, wait))

    def _close_all(self, waited_on: bool) -> list[Closing]:
        """With no conversation current and none named: every conversation holding data."""
        pending = [s for s in self._registry.states() if s.items or s.turn is not None]
        closings = [c for c in (self._close_state(s, waited_on) for s in pending) if c is not None]
        if not closings:
            raise NothingToSendError(NOTHING)
        return closings

    def _close_one(self, cid: str | None, waited_on: bool) -> Closing:
        """The named (or current) conversation's closing, or what retired it."""
        state = self._registry.get(cid)
        closing = self._close_state(state, waited_on) if state is not None else None
        if closing is not None:
            return closing
        retired = self._registry.retired.take(cid)
        if cid is not None and retired is not None:
            return Closing(cid, retired.items, retired.receipts, [], retired.reason)
        if state is None:
            raise NothingToSendError(
                "no conversation to send: call get_or_create_conversation or pass conversation_id"
            )
        raise NothingToSendError(f"nothing tracked for conversation {cid!r} since the last send")

    def _close_state(self, state: ConversationState, waited_on: bool) -> Closing | None:
        """End a conversation's turn and take its items (None when it has none); its export is
        asked for at once when the send waits for the answer."""
        recorder = self._wiring.setup()[0]
        with state.lock:
            if not state.items and state.turn is None:
                return None
            items, state.items = state.items, []
            uploads, state.uploads = state.uploads, []
            receipts = recorder.close(state, complete=True)
            state.usage.prompt_tokens = state.usage.completion_tokens = 0
            state.usage.total_tokens = 0
        if receipts:
            recorder.pipeline.request_flush(0.0 if waited_on else COALESCE_SECONDS)
        return Closing(state.conversation_id, items, receipts, uploads)

    def answer(self, closings: list[Closing], wait: float) -> dict[str, Any]:
        """The send's answer: one conversation's, or every one's merged, within ``wait``."""
        if len(closings) == 1:
            return self._answer(closings[0], wait)
        deadline = monotonic() + wait
        return merge_responses(
            [self._answer(c, max(0.0, deadline - monotonic())) for c in closings]
        )

    def _answer(self, closing: Closing, wait: float) -> dict[str, Any]:
        """One conversation's answer: spans' receipts, then uploads', within ``wait`` seconds."""
        deadline = monotonic() + wait
        cid, items, receipts, uploads, reason = closing
        response = send_response(cid, items, self.settle(receipts, wait))
        if reason is not None:
            response["incomplete_reason"] = reason
        return report_uploads(response, items, uploads, deadline)

    def settle(self, receipts: list[tuple[int, Receipt]], timeout: float) -> Settlement:
        """Wait for the receipts, bounded by ``timeout`` in total."""
        if not receipts:
            return Settlement("delivered")
        known = [receipt.settlement for _, receipt in receipts]
        if all(known):
            return combine([s for s in known if s is not None])
        recorder = self._wiring.recorder
        observed = recorder.pipeline.observes_delivery() if recorder is not None else None
        if observed is False or (observed is None and not self._wiring.ledger.observed):
            return Settlement(
                "handed_off",
                "spans went to the OpenTelemetry pipeline; no AgentSight exporter in this "
                "process confirms their delivery",
            )
        end = monotonic() + timeout
        return combine([receipt.wait(max(0.0, end - monotonic())) for _, receipt in receipts])

    def chosen_id(self, conversation_id: str | None) -> str | None:
        """The explicit id (checked and normalised), else the current one."""
        if conversation_id is not None:
            return fields.conversation_id(conversation_id)
        return self._recording.current_id()
