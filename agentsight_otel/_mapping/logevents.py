"""GenAI events written as log records, as the span events the mapping already reads.

The official GenAI instrumentations' event modes write message content through the Logs API:
``gen_ai.client.inference.operation.details`` (latest conventions: ``gen_ai.input.messages`` /
``gen_ai.output.messages`` attributes) or one record per message (``gen_ai.user.message``, ...,
``gen_ai.choice``: the content in the body). Each becomes an ``EventRecord`` joined to the span
named by the record's trace and span id, so the mapping sees what span-event modes write.
Records that carry no messages (an application's own logs) are dropped here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentsight_otel import _semconv as sc
from agentsight_otel._mapping.messages import _is_message_event as is_message_event
from agentsight_otel._mapping.messages import carries_messages
from agentsight_otel._mapping.records import EMPTY, Attributes, EventRecord, SpanRecord

_EVENT_NAME = "event.name"  # where records written before the Logs API had event_name put it
# Operations whose spans the instrumentations above describe with message events.
_CALLS = frozenset(("chat", "text_completion", "generate_content"))
# Scopes of instrumentations known to write message events as log records (OpenTelemetry's own
# GenAI instrumentations and util-genai; OpenLLMetry's scopes start the same way).
_EVENT_SCOPES = ("opentelemetry.instrumentation.", "opentelemetry.util.genai")
_ANSWERS = frozenset(("gen_ai.choice", "gen_ai.content.completion"))


__all__ = ["LogEvent", "awaits_events", "is_answer", "is_message_event", "joined", "log_event"]


@dataclass(frozen=True, slots=True)
class LogEvent:
    """A message event from a log record, and the span (trace id, span id) it belongs to."""

    trace_id: int
    span_id: int
    event: EventRecord
    scope: str


def log_event(
    trace_id: int | None,
    span_id: int | None,
    event_name: str | None,
    timestamp_ns: int,
    attributes: Attributes | None,
    body: Any,
    scope: str,
) -> LogEvent | None:
    """The event a log record carries, or None (no span to join, or no messages in it)."""
    if not trace_id or not span_id:
        return None
    attributes = attributes or EMPTY
    name = event_name or attributes.get(_EVENT_NAME)
    if not isinstance(name, str) or not is_message_event(name):
        return None
    # The body holds what span events carried as attributes (``content``, ``message``, ...).
    if isinstance(body, Mapping):
        merged = {**attributes, **body}
    elif body is not None:
        merged = {**attributes, "content": body}
    else:
        merged = dict(attributes)
    return LogEvent(trace_id, span_id, EventRecord(name, timestamp_ns, merged), scope)


def log_events_from_sdk(batch: Iterable[Any]) -> list[LogEvent]:
    """Events of the SDK's exported log records (``ReadableLogRecord`` or the older ``LogData``)."""
    events = []
    for item in batch:
        record = item.log_record
        scope = item.instrumentation_scope
        event = log_event(
            record.trace_id,
            record.span_id,
            getattr(record, "event_name", None),
            record.timestamp or record.observed_timestamp or 0,
            _plain(record.attributes),
            record.body,
            scope.name if scope is not None else "",
        )
        if event is not None:
            events.append(event)
    return events


def _plain(attributes: Any) -> Attributes:
    """Attributes as a plain mapping (the SDK's bounded mapping read once)."""
    return dict(attributes) if attributes else EMPTY


def is_answer(event: EventRecord) -> bool:
    """Whether an event holds a model's answer (the last record a model call writes)."""
    if event.name == sc.OPERATION_DETAILS_EVENT:
        return sc.GEN_AI_OUTPUT_MESSAGES in event.attributes
    return event.name in _ANSWERS


def awaits_events(record: SpanRecord, event_scopes: Iterable[str] = ()) -> bool:
    """Whether a span is a model call whose messages may come as log records.

    A chat call without message content on the span, by an instrumentation that writes events
    to the Logs API (or one whose records were seen before); the first look is one dict lookup,
    so spans of other kinds pay nothing more.
    """
    if record.attributes.get(sc.GEN_AI_OPERATION) not in _CALLS:
        return False
    scope = record.scope.name
    if not scope.startswith(_EVENT_SCOPES) and scope not in event_scopes:
        return False
    return not carries_messages(record)


def joined(
    records: Sequence[SpanRecord], logs: Mapping[int, list[EventRecord]]
) -> list[SpanRecord]:
    """The records with their spans' log events added after their own events, in time order."""
    if not logs:
        return list(records)
    out = []
    for record in records:
        extra = logs.get(record.span_id)
        if extra:
            ordered = sorted(extra, key=_time)  # stable: arrival order breaks ties
            out.append(dataclasses.replace(record, events=[*record.events, *ordered]))
        else:
            out.append(record)
    return out


def _time(event: EventRecord) -> int:
    """Sort key: the event's time."""
    return event.timestamp_ns
