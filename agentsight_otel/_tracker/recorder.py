"""Recording on spans: the turn span, its events, action spans and the visit span."""

from __future__ import annotations

from collections.abc import Mapping
from time import time_ns
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import Event
from opentelemetry.trace import Link, Status, StatusCode

from agentsight_otel import _semconv as sc
from agentsight_otel._delivery.ledger import DeliveryLedger, Receipt, Settlement
from agentsight_otel._ids import hex_span_id
from agentsight_otel._tracker.current_turn import CurrentTurn
from agentsight_otel._tracker.pipeline import Pipeline
from agentsight_otel._tracker.registry import ConversationRegistry
from agentsight_otel._tracker.state import ConversationState, EventAdder, Turn

_TURN_ATTRIBUTES = {sc.SPAN_KIND: sc.KIND_TURN, sc.ENTITY_NAME: "turn"}


class Recorder:
    """Turns tracking calls into spans and events; callers hold the conversation's lock."""

    def __init__(
        self, pipeline: Pipeline, ledger: DeliveryLedger, registry: ConversationRegistry
    ) -> None:
        self.pipeline = pipeline
        self.ledger = ledger
        self.registry = registry

    def event(
        self,
        state: ConversationState,
        name: str,
        attributes: dict[str, Any],
        timestamp: int,
        *,
        make_current: bool,
    ) -> Turn:
        """Add an event to the conversation's turn, opening or rolling it as needed."""
        turn = state.turn
        if turn is None:
            turn = self.open(state, make_current=make_current, start_time=timestamp)
        elif turn.max_events is not None and turn.events >= turn.max_events:
            turn = self._roll_over(state, turn)
        turn.add_event(name, attributes, timestamp)
        turn.events += 1
        return turn

    def open(
        self,
        state: ConversationState,
        *,
        make_current: bool,
        links: list[Link] | None = None,
        start_time: int | None = None,
    ) -> Turn:
        """Start the turn span, linked to the application's trace the caller is in."""
        ambient = trace.get_current_span().get_span_context()
        links = list(links or ())
        # Another conversation's span being current is the tracker's doing, not a request's.
        if ambient.is_valid and self.ledger.conversation_of(ambient.trace_id) is None:
            links.append(Link(ambient))
        span = self.pipeline.start_root(
            "turn", state.trace_id, {**state.attributes, **_TURN_ATTRIBUTES}, links, start_time
        )
        span_hex = hex_span_id(span.get_span_context().span_id)
        span.set_attribute(sc.TURN_ID, span_hex)
        turn = Turn(span, span_hex, _max_events(span), _event_adder(span))
        if make_current:
            turn.restore = otel_context.get_current()
            turn.current = CurrentTurn(span)
            otel_context.attach(trace.set_span_in_context(turn.current))
        state.turn = turn
        self.registry.turn_opened(state)
        self.ledger.announce(state.trace_id, state.conversation_id)
        return turn

    def _roll_over(self, state: ConversationState, full: Turn) -> Turn:
        """End a span that reached the event limit and continue in a linked one."""
        was_current = full.current is not None and trace.get_current_span() is full.current
        previous = Link(full.span.get_span_context(), {sc.TURN_SEGMENT: "continued"})
        receipts = self.close(state, complete=True)
        turn = self.open(state, make_current=was_current, links=[previous])
        if was_current:
            turn.restore = full.restore
        turn.receipts = receipts
        return turn

    def close(
        self, state: ConversationState, *, complete: bool, reason: str | None = None
    ) -> list[tuple[int, Receipt]]:
        """End the turn span; receipts for it and any earlier segments."""
        turn = state.turn
        if turn is None:
            return []
        state.turn = None
        self.registry.turn_closed(state)
        span = turn.span
        span.set_attribute(sc.TURN_COMPLETE, complete)
        if reason:
            span.set_attribute(sc.TURN_INCOMPLETE_REASON, reason)
        span_id = span.get_span_context().span_id
        receipt = self.ledger.expect(span_id)
        if not span.is_recording():
            receipt.settle(Settlement("handed_off", "the sampler did not record this turn"))
        receipts = [*turn.receipts, (span_id, receipt)]
        span.end()
        current = turn.current
        if current is not None:
            current.closed = True
            if turn.restore is not None and trace.get_current_span() is current:
                otel_context.attach(turn.restore)
        return receipts

    def action(
        self,
        state: ConversationState,
        name: str,
        attributes: dict[str, Any],
        start_ns: int,
        end_ns: int,
        error: str | None,
        *,
        make_current: bool,
    ) -> None:
        """An action span with the given times, a child of the turn."""
        turn = state.turn or self.open(state, make_current=make_current)
        attributes[sc.TURN_ID] = turn.span_hex
        span = self.pipeline.start_child(name, turn.span, attributes, start_ns)
        span.set_status(
            Status(StatusCode.ERROR, error) if error is not None else Status(StatusCode.OK)
        )
        span.end(end_ns)

    def visit(self, state: ConversationState) -> tuple[int, Receipt]:
        """The ``conversation`` span of ``initialize_conversation``: a visit, not engagement."""
        attributes = {
            **state.attributes,
            sc.SPAN_KIND: sc.KIND_CONVERSATION,
            sc.ENTITY_NAME: "conversation_opened",
        }
        span = self.pipeline.start_root(
            "conversation_opened", state.trace_id, attributes, start_time=time_ns()
        )
        span_id = span.get_span_context().span_id
        receipt = self.ledger.expect(span_id)
        self.ledger.announce(state.trace_id, state.conversation_id)
        span.end()
        return span_id, receipt


def _event_adder(span: trace.Span) -> EventAdder:
    """``span.add_event``, or a faster equivalent for SDK spans when no limit needs applying.

    The SDK copies and re-validates every event attribute; the tracker's attributes are
    already clean strings and ints in a dict nobody else holds, so when no value-length limit
    is configured the event is appended directly.
    """
    append = getattr(span, "_add_event", None)
    limits = getattr(span, "_limits", None)
    if (
        callable(append)
        and limits is not None
        and getattr(limits, "max_attribute_length", 0) is None
        and (getattr(limits, "max_event_attributes", 0) or 0) >= 8
    ):

        def add(name: str, attributes: Mapping[str, Any], timestamp: int) -> None:
            append(Event(name, attributes, timestamp))

        return add
    return span.add_event


def _max_events(span: trace.Span) -> int | None:
    """The span's event limit (SDK spans keep the newest N and drop older ones silently)."""
    if not span.is_recording():
        return None
    limits = getattr(span, "_limits", None)
    value = getattr(limits, "max_events", None)
    return value if isinstance(value, int) and value > 0 else None
