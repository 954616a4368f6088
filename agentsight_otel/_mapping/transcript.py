"""A GenAI turn's wire span: its state, its conversation fields and what was new in it.

What is new is read from the turn's own spans: the end user's messages at the end of the first
input (after the last message of anyone else: the history a framework resends ends there) and
the agent's final answer (the last output with text). Nothing is remembered between turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from agentsight_otel import _semconv as sc
from agentsight_otel._fields import ATTRIBUTES as FIELD_ATTRIBUTES
from agentsight_otel._fields import FIELDS
from agentsight_otel._mapping.messages import answer, user_texts
from agentsight_otel._mapping.records import SpanRecord
from agentsight_otel._mapping.segments import kept_texts, segments
from agentsight_otel._mapping.timefmt import iso_utc
from agentsight_otel._mapping.wire import WireEvent, WireSpan, wire_span
from agentsight_otel._redaction import Redactor
from agentsight_otel._sanitize import truncate

_GENAI_COPIED = (sc.GEN_AI_OPERATION, "gen_ai.agent.name")
_COPIED = (*(field.attribute for field in FIELDS), *_GENAI_COPIED)


def turn_span(
    root: SpanRecord,
    turn_hex: str,
    spans: Sequence[SpanRecord],
    conversation_id: str,
    otel: dict[str, Any],
    redactor: Redactor | None,
) -> tuple[list[WireSpan], int]:
    """The ``turn`` wire span(s) of a GenAI invocation rooted at ``root``, and messages cut.

    ``turn_hex`` is the root's span id as the wire writes it. More than one span when the turn's
    messages fill several segments (continuations after the first).
    """
    attributes: dict[str, Any] = {
        sc.CONVERSATION_ID: conversation_id,
        sc.SPAN_KIND: sc.KIND_TURN,
        sc.ENTITY_NAME: root.name,
        sc.TURN_ID: turn_hex,
        sc.TURN_COMPLETE: root.status != "error",
    }
    if root.status == "error":
        attributes[sc.TURN_INCOMPLETE_REASON] = "error"
    get = root.attributes.get
    # GenAI roots rarely carry conversation fields: one look in C skips their keys.
    for key in _GENAI_COPIED if FIELD_ATTRIBUTES.isdisjoint(root.attributes) else _COPIED:
        value = get(key)
        if value and isinstance(value, str):
            attributes[key] = value
    span = wire_span(root, sc.KIND_TURN, root.name, attributes, (), otel, None)
    # Built in their wire form: a turn's events are this module's own, not a span's.
    span["events"], cut = _messages(root, spans, redactor, span["started_at"])
    return segments(span, root), cut


def _messages(
    root: SpanRecord, spans: Sequence[SpanRecord], redactor: Redactor | None, started_at: str
) -> tuple[list[WireEvent], int]:
    """The turn's new end-user messages (up to its start), final answer and how many were cut.

    ``started_at``: the turn's start as the wire writes it, the newest user message's time.
    """
    others = [span for span in spans if span is not root]
    has_root = len(others) < len(spans)
    if len(others) > 1:
        others.sort(key=_START)
    events: list[WireEvent] = []
    cut = 0
    for span in [root, *others] if has_root else others:
        new = user_texts(span)
        if new is not None:
            texts, cut = kept_texts(new)
            # Each its own time, so any backend keeps their order (across the turn's segments
            # too): the newest at the turn's start, the earlier ones (sent before it) a
            # microsecond, the wire's precision, apart.
            for index, text in enumerate(texts, start=1 - len(texts)):
                stamp = iso_utc(root.start_ns + index * 1_000) if index else started_at
                events.append(_event(sc.SENDER_USER, text, stamp, redactor))
            break
    if len(others) > 1:
        others.sort(key=_END, reverse=True)
    for span in [root, *others] if has_root else others:
        text = answer(span)
        if text:
            events.append(_event(sc.SENDER_AGENT, text, iso_utc(span.end_ns), redactor))
            break
    return events, cut


# Sort keys (start or end time, then span id), read in C.
_START = attrgetter("start_ns", "span_id")
_END = attrgetter("end_ns", "span_id")


def _event(sender: str, text: str, timestamp: str, redactor: Redactor | None) -> WireEvent:
    """One message event, redacted and clipped as the tracker's are, in its wire form."""
    content = truncate(redactor.text(text) if redactor else text)
    attributes = {sc.MESSAGE_SENDER: sender, sc.MESSAGE_CONTENT: content}
    return {"name": sc.MESSAGE_EVENT, "timestamp": timestamp, "attributes": attributes}
