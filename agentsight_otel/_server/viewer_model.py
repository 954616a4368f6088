"""What the viewer's conversation page shows, built from the raw span archive: turns, in order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from agentsight_otel import _semconv as sc
from agentsight_otel._server.pricing import cost_usd
from agentsight_otel._server.projections import is_true, project_span, timestamp_micros
from agentsight_otel._server.reads import TOKEN_COLUMNS, Record
from agentsight_otel._server.validation import parse_timestamp

_ITEM_KINDS = {"tool": "action", "task": "action", "button": "button", "attachment": "files"}


@dataclass
class Bar:
    """One action or model call on a turn's timeline, in percent of the turn's duration.

    A point is a record with no duration (a model call's usage): a tick, not a bar.
    """

    label: str
    kind: str
    left: float
    width: float
    duration_ms: float
    failed: bool
    point: bool = False


@dataclass
class Turn:
    """One interaction: its entries in time order, its timeline and its model usage."""

    number: int
    complete: bool
    started_at: str
    duration_ms: float
    incomplete_reason: str | None = None
    items: list[Record] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    usage: dict[str, ModelUsage] = field(default_factory=dict)
    spans: list[Record] = field(default_factory=list)

    @property
    def cost_usd(self) -> Decimal | None:
        """What the turn's priced model calls cost, or None when none was priced."""
        priced = [entry.cost_usd for entry in self.usage.values() if entry.cost_usd is not None]
        return sum(priced, Decimal(0)) if priced else None

    @property
    def content_missing(self) -> bool:
        """Model calls but no message: the instrumentation captured no content."""
        return bool(self.usage) and not any(item["type"] == "message" for item in self.items)


@dataclass
class ModelUsage:
    """One model's calls in a turn: tokens, and their cost when every call was priced."""

    calls: int = 0
    input: int = 0
    output: int = 0
    cost_usd: Decimal | None = Decimal(0)


@dataclass
class Page:
    """The turns of a conversation, and what ran outside any turn."""

    turns: list[Turn]
    outside: list[Record]
    outside_spans: list[Record]


def build_turns(spans: list[Record], files: list[Record]) -> Page:
    """The turns of a conversation, plus entries outside any turn; files land on their message."""
    by_id = {span["span_id"]: span for span in spans}
    turn_spans = sorted(
        (s for s in spans if s["kind"] == "turn"), key=lambda s: timestamp_micros(s["started_at"])
    )
    turns = {s["span_id"]: _turn(n, s) for n, s in enumerate(turn_spans, start=1)}
    outside: list[Record] = []
    outside_spans: list[Record] = []
    for span in sorted(spans, key=lambda s: timestamp_micros(s["started_at"])):
        home = turns.get(_turn_of(span, by_id) or "")
        (home.spans if home is not None else outside_spans).append(span)
        if span["kind"] == "turn":
            turns[span["span_id"]].items.extend(_messages(span, files))
            continue
        if span["kind"] == "llm":
            if home is not None:
                _add_usage(home, span)
            _bar(home, span)
            continue
        item = _item(span)
        if item is not None:
            (home.items if home is not None else outside).append(item)
            if item["type"] == "action":
                _bar(home, span)
    ordered = list(turns.values())
    for turn in ordered:
        turn.items.sort(key=lambda item: item["sort"])
    outside.sort(key=lambda item: item["sort"])
    return Page(ordered, outside, outside_spans)


def unplaced_files(turns: list[Turn], files: list[Record]) -> list[Record]:
    """Uploaded files no message on the page carries."""
    shown = {
        f["id"]
        for turn in turns
        for item in turn.items
        if item["type"] == "message"
        for f in item["files"]
    }
    return [f for f in files if f["id"] not in shown]


def _turn(number: int, span: Record) -> Turn:
    """An empty Turn for a turn span."""
    attributes = span["attributes"]
    complete = is_true(attributes.get(sc.TURN_COMPLETE))
    reason = attributes.get(sc.TURN_INCOMPLETE_REASON)
    reason = None if complete or reason in (None, "") else str(reason)
    return Turn(number, complete, span["started_at"], float(span["duration_ms"]), reason)


def _messages(span: Record, files: list[Record]) -> list[Record]:
    """A turn's messages, complete or not, each with the files uploaded for it."""
    items = []
    for row in project_span(span):
        message = dict(row.values)
        message["files"] = [f for f in files if _belongs(f, message)]
        items.append({"type": "message", "sort": message["ts_us"], **message})
    return items


def _belongs(file: Record, message: Record) -> bool:
    """Whether an uploaded file was sent with this message."""
    reference = message.get("message_ref")
    if reference and file.get("message_ref") == reference:
        return True
    linked = file.get("message") or {}
    return bool(
        linked
        and linked.get("content") == message["content"]
        and linked.get("timestamp") == message["timestamp"]
    )


def _item(span: Record) -> Record | None:
    """An action, button or file record as a transcript entry; None for other kinds."""
    kind = _ITEM_KINDS.get(span["kind"])
    if kind is None:
        return None
    (row,) = project_span(span)
    values: dict[str, Any] = dict(row.values)
    if kind == "files":
        values["files"] = json.loads(str(values["files"]))
    return {"type": kind, "sort": values["ts_us"], **values}


def _turn_of(span: Record, by_id: dict[str, Record]) -> str | None:
    """The span id of the turn a span ran inside, walking up its parents."""
    seen: set[str] = set()
    current: Record | None = span
    while current is not None and current["span_id"] not in seen:
        if current["kind"] == "turn":
            return str(current["span_id"])
        seen.add(current["span_id"])
        current = by_id.get(current.get("parent_span_id") or "")
    return None


def _add_usage(turn: Turn, span: Record) -> None:
    """Add one model call's tokens and estimated cost to its turn, per model."""
    (row,) = project_span(span)
    values = row.values
    counts = [int(str(values[name])) for name in TOKEN_COLUMNS[:4]]
    model = str(values["model"])
    entry = turn.usage.setdefault(model, ModelUsage())
    entry.calls += 1
    entry.input += counts[0]
    entry.output += counts[1]
    system = values["system"]
    price = cost_usd(model, None if system is None else str(system), counts, span["started_at"])
    entry.cost_usd = None if price is None or entry.cost_usd is None else entry.cost_usd + price


def _bar(turn: Turn | None, span: Record) -> None:
    """Place an action or model call on its turn's timeline, to scale."""
    if turn is None:
        return
    start, end = _when(span), parse_timestamp(turn.started_at)
    if start is None or end is None:
        return
    total = max(turn.duration_ms, 0.001)
    offset = (start - end).total_seconds() * 1000
    left = min(max(offset / total * 100, 0.0), 100.0)
    duration = float(span["duration_ms"])
    width = 0.0 if duration <= 0 else min(max(duration / total * 100, 0.6), 100.0 - left)
    name = span["attributes"].get("agentsight.tool.name") or span["name"]
    kind = "llm" if span["kind"] == "llm" else "action"
    failed = span["status"] == "error"
    turn.bars.append(Bar(str(name), kind, left, width, duration, failed, point=duration <= 0))


def _when(span: Record) -> datetime | None:
    """When a span started."""
    return parse_timestamp(span.get("started_at"))
