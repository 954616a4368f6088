"""What the tracker holds per conversation between sends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace

from agentsight_otel._delivery.ledger import Receipt
from agentsight_otel._tracker.current_turn import CurrentTurn


class Item(NamedTuple):
    """One tracked item, kept for summaries: its type, time and a short preview."""

    type: str
    timestamp_ns: int
    preview: str


EventAdder = Callable[[str, Mapping[str, Any], int], None]


@dataclass(slots=True)
class Turn:
    """The open turn span and what was recorded on it."""

    span: trace.Span
    span_hex: str
    max_events: int | None
    add_event: EventAdder
    events: int = 0
    receipts: list[tuple[int, Receipt]] = field(default_factory=list)
    restore: otel_context.Context | None = None
    current: CurrentTurn | None = None


@dataclass(slots=True)
class Usage:
    """Token counts since the last send."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        """The seed's ``get_token_usage`` shape."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(slots=True)
class ConversationState:
    """One conversation: identity, fields for its spans, and the pending turn."""

    conversation_id: str
    trace_id: int
    attributes: dict[str, Any]
    turn: Turn | None = None
    items: list[Item] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = 0.0  # monotonic seconds of the last tracking call or send
    pins: int = 0  # callers handed the state that do not hold its lock yet (registry's lock)
    # Attachment uploads since the last send: (event time, receipt the uploader settles).
    uploads: list[tuple[int, Receipt]] = field(default_factory=list)

    def __enter__(self) -> ConversationState:
        """The state itself, locked by ``ConversationRegistry.hold`` for the block."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Unlock what ``hold`` locked."""
        self.lock.release()


# Runs under the conversation's lock once an event is recorded: (state, event time).
AfterEvent = Callable[[ConversationState, int], None]
