"""A GenAI turn's messages kept within a per-turn bound, in segments that each fit a body.

A turn's new end-user messages are all new, however many there are; past
``MAX_NEW_USER_MESSAGES`` the oldest are cut (a history resent without the agent's answers
would otherwise be resent whole every turn). What is kept goes out in ``turn`` spans of at most
``SEGMENT_BYTES`` of events each, as the tracker rolls a full turn over: the first keeps
the turn's id, each continuation takes a derived id and links the one before it.
"""

from __future__ import annotations

from typing import Any

import orjson

from agentsight_otel import _semconv as sc
from agentsight_otel._ids import derived_span_id, hex_span_id
from agentsight_otel._mapping.records import SpanRecord
from agentsight_otel._mapping.wire import WireSpan
from agentsight_otel._sanitize import MAX_TEXT

MAX_NEW_USER_MESSAGES = 1_000
# Far below any ingest body limit (the exporter's 4 MiB default, the backend's own), so a turn's
# segments can always be packed; a message is at most 16 KiB of text (96 KiB as JSON escapes).
SEGMENT_BYTES = 1024 * 1024
_NO_DROPS = {"attributes": 0, "events": 0, "links": 0}
# The most one message event can take as JSON: its text is clipped to MAX_TEXT characters, each
# at most 6 bytes escaped, beside its name, sender and timestamp. Turns with few events fit a
# segment without measuring them.
_EVENT_BOUND = 6 * MAX_TEXT + 512


def kept_texts(texts: list[str]) -> tuple[list[str], int]:
    """The newest ``MAX_NEW_USER_MESSAGES`` texts, and how many older ones were cut."""
    cut = len(texts) - MAX_NEW_USER_MESSAGES
    return (texts[cut:], cut) if cut > 0 else (texts, 0)


def segments(span: WireSpan, root: SpanRecord) -> list[WireSpan]:
    """The turn span as is, or its events cut in order into spans of ``SEGMENT_BYTES`` each."""
    events: list[dict[str, Any]] = span["events"]
    if len(events) * _EVENT_BOUND <= SEGMENT_BYTES:
        return [span]
    sizes = [len(orjson.dumps(event)) + 1 for event in events]
    if sum(sizes) <= SEGMENT_BYTES:
        return [span]
    chunks: list[list[dict[str, Any]]] = [[]]
    used = 0
    for event, size in zip(events, sizes, strict=True):
        if chunks[-1] and used + size > SEGMENT_BYTES:
            chunks.append([])
            used = 0
        chunks[-1].append(event)
        used += size
    pieces = [{**span, "events": chunks[0]}]
    for index, chunk in enumerate(chunks[1:], start=1):
        pieces.append(_continuation(span, root, index, pieces[-1]["span_id"], chunk))
    return pieces


def _continuation(
    span: WireSpan, root: SpanRecord, index: int, previous: str, events: list[dict[str, Any]]
) -> WireSpan:
    """Segment ``index`` (1, 2, ...): its own derived id and turn id, linked to ``previous``."""
    span_hex = hex_span_id(derived_span_id(root.trace_id, root.span_id, index))
    link = {
        "trace_id": span["trace_id"],
        "span_id": previous,
        "attributes": {sc.TURN_SEGMENT: "continued"},
    }
    return {
        **span,
        "span_id": span_hex,
        "parent_span_id": None,
        "attributes": {**span["attributes"], sc.TURN_ID: span_hex},
        "events": events,
        "otel": {**span["otel"], "links": [link], "dropped": _NO_DROPS},
    }
