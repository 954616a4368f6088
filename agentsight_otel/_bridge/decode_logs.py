"""OTLP log requests (protobuf or OTLP/JSON) → GenAI message events, as the SDK path makes them.

Pure, like ``decode``: only records that carry GenAI messages and name their span are kept (an
application's own logs are accepted and ignored); a record whose ids have the wrong length is
rejected on its own (partial success).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from agentsight_otel._bridge.decode import (
    _attributes,
    _items,
    _rewrite_ids,
    _value,
    parse_json,
    parse_protobuf,
    rejection_message,
)
from agentsight_otel._mapping.logevents import LogEvent, is_message_event, log_event

_MAX_REASONS = 3


@dataclass(frozen=True, slots=True)
class DecodedLogs:
    """Message events, and how many log records were rejected and why."""

    events: list[LogEvent]
    rejected: int = 0
    reasons: tuple[str, ...] = field(default=())

    @property
    def error_message(self) -> str:
        """The partial-success message: the first few reasons, counted."""
        return rejection_message(self.rejected, "log record(s)", self.reasons)


def decode_logs_protobuf(data: bytes) -> DecodedLogs:
    """Events from a binary-encoded ``ExportLogsServiceRequest``."""
    return decode_logs_request(parse_protobuf(data, ExportLogsServiceRequest))


def decode_logs_json(data: bytes) -> DecodedLogs:
    """Events from an OTLP/JSON logs request (hex ids)."""
    return decode_logs_request(parse_json(data, ExportLogsServiceRequest(), _ids_to_base64))


def decode_logs_request(request: ExportLogsServiceRequest) -> DecodedLogs:
    """The message events of every usable record."""
    events: list[LogEvent] = []
    rejected = 0
    reasons: list[str] = []
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name
            for record in scope_logs.log_records:
                problem = _problem(record)
                if problem is not None:
                    rejected += 1
                    if problem not in reasons and len(reasons) < _MAX_REASONS:
                        reasons.append(problem)
                    continue
                event = _event(record, scope)
                if event is not None:
                    events.append(event)
    return DecodedLogs(events, rejected, tuple(reasons))


def _problem(record: LogRecord) -> str | None:
    """Why a record's ids cannot be read (absent ids are fine: it names no span), or None."""
    if record.trace_id and len(record.trace_id) != 16:
        return "trace_id must be empty or 16 bytes"
    if record.span_id and len(record.span_id) != 8:
        return "span_id must be empty or 8 bytes"
    return None


def _event(record: LogRecord, scope: str) -> LogEvent | None:
    """The record's message event, when it has one and names its span."""
    trace_id = int.from_bytes(record.trace_id, "big")
    span_id = int.from_bytes(record.span_id, "big")
    if (
        not trace_id
        or not span_id
        or (record.event_name and not is_message_event(record.event_name))
    ):
        return None  # checked first: most records of most requests are plain logs
    attributes = _attributes(record.attributes)
    body = record.body
    value: Any = _value(body, body.WhichOneof("value")) if record.HasField("body") else None
    return log_event(
        trace_id,
        span_id,
        record.event_name,
        record.time_unix_nano or record.observed_time_unix_nano,
        attributes,
        value,
        scope,
    )


def _ids_to_base64(document: dict[str, Any]) -> None:
    """OTLP/JSON ids are hex; protobuf's JSON mapping expects base64. Rewrite in place."""
    for resource_logs in _items(document, "resourceLogs", "resource_logs"):
        for scope_logs in _items(resource_logs, "scopeLogs", "scope_logs"):
            for record in _items(scope_logs, "logRecords", "log_records"):
                _rewrite_ids(record)
