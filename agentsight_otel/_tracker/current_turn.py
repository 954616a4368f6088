"""The span the OTel context holds while a turn is open."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace


class CurrentTurn(trace.NonRecordingSpan):
    """What the OTel context holds for an open turn: the span until it ends, then nothing.

    Contexts saved while the turn was current (by a user span that exits after the send,
    say) can come back later; once closed this yields an invalid context, so spans started then
    are roots of their own trace instead of children of an ended turn.
    """

    def __init__(self, span: trace.Span) -> None:
        super().__init__(span.get_span_context())
        self.span = span
        self.closed = False

    def get_span_context(self) -> trace.SpanContext:
        """The turn's context while it is open."""
        return trace.INVALID_SPAN_CONTEXT if self.closed else self.span.get_span_context()

    def is_recording(self) -> bool:
        """Recording while the turn is open and its span records."""
        return not self.closed and self.span.is_recording()

    def set_attribute(self, key: str, value: Any) -> None:
        """Set an attribute on the open turn span."""
        if not self.closed:
            self.span.set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Set attributes on the open turn span."""
        if not self.closed:
            self.span.set_attributes(attributes)

    def add_event(self, name: str, attributes: Any = None, timestamp: int | None = None) -> None:
        """Add an event to the open turn span."""
        if not self.closed:
            self.span.add_event(name, attributes, timestamp)
