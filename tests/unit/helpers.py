"""Shared helpers for the unit tests: wire inspection, span capture, record building."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentsight_otel import ConversationTracker
from agentsight_otel import _semconv as sc
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._delivery.transport import HttpResponse, TransportError
from agentsight_otel._export.worker import DeliveryWorker
from agentsight_otel._mapping.records import EventRecord, Scope, SpanRecord
from agentsight_otel.testing import TEST_API_KEY, FakeClock, ScriptedTransport

ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
INGEST = "/api/ingest/"


def blocks(transport: ScriptedTransport) -> list[dict[str, Any]]:
    """Every conversation block posted to the ingest endpoint, in order."""
    return [block for body in transport.bodies(INGEST) for block in body["conversations"]]


def wire_spans(
    transport: ScriptedTransport, kind: str | None = None, conversation_id: str | None = None
) -> list[dict[str, Any]]:
    """Wire spans posted, optionally of one kind or one conversation."""
    return [
        span
        for block in blocks(transport)
        if conversation_id is None or block["conversation_id"] == conversation_id
        for span in block["spans"]
        if kind is None or span["kind"] == kind
    ]


def messages(transport: ScriptedTransport, conversation_id: str | None = None) -> list[str]:
    """Message contents on the wire, in posting and event order."""
    events = [
        event
        for span in wire_spans(transport, "turn", conversation_id)
        for event in span["events"]
        if event["name"] == sc.MESSAGE_EVENT
    ]
    return [e["attributes"][sc.MESSAGE_CONTENT] for e in events]


def ingest_posts(transport: ScriptedTransport) -> int:
    """How many POSTs reached the ingest endpoint."""
    return sum(1 for r in transport.requests if r.path == INGEST and r.method == "POST")


def memory_tracker(
    **kwargs: Any,
) -> tuple[ConversationTracker, InMemorySpanExporter, TracerProvider]:
    """A tracker whose spans land in an in-memory exporter (no AgentSight exporter)."""
    memory = InMemorySpanExporter()
    provider = kwargs.pop("provider", None) or TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    # attachment bytes go to a scripted backend, never to the network
    kwargs.setdefault("_transport", ScriptedTransport())
    kwargs.setdefault("_clock", FakeClock())
    kwargs.setdefault("endpoint", "http://agentsight.test")
    tracker = ConversationTracker(
        tracer_provider=provider, _ledger=DeliveryLedger(), api_key=TEST_API_KEY, **kwargs
    )
    return tracker, memory, provider


def capture(script: Callable[[ConversationTracker], None]) -> list[ReadableSpan]:
    """Run ``script`` on a fresh tracker and return the finished raw spans."""
    tracker, memory, _ = memory_tracker()
    script(tracker)
    return list(memory.get_finished_spans())


def record(
    trace_id: int,
    span_id: int,
    *,
    parent: int | None = None,
    attributes: Mapping[str, Any] | None = None,
    start: int = 1_700_000_000_000_000_000,
    end: int | None = None,
    events: Iterable[EventRecord] = (),
    name: str = "span",
) -> SpanRecord:
    """A finished span record for driving the assembler or exporter directly."""
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        span_kind="INTERNAL",
        start_ns=start,
        end_ns=end if end is not None else start + 1000,
        status="unset",
        status_description=None,
        attributes=dict(attributes or {}),
        events=list(events),
        links=[],
        resource={"service.name": "t"},
        scope=Scope("s", "1", ""),
        trace_state=None,
        parent_is_remote=False,
        dropped_attributes=0,
        dropped_events=0,
        dropped_links=0,
    )


def turn_record(trace_id: int, span_id: int, cid: str, **kw: Any) -> SpanRecord:
    """An interaction root record of a conversation."""
    attributes = {sc.CONVERSATION_ID: cid, sc.SPAN_KIND: sc.KIND_TURN, **kw.pop("attributes", {})}
    return record(trace_id, span_id, attributes=attributes, name="turn", **kw)


def tool_record(trace_id: int, span_id: int, cid: str, parent: int, **kw: Any) -> SpanRecord:
    """An action record (a child of an interaction) of a conversation."""
    attributes = {
        sc.CONVERSATION_ID: cid,
        sc.SPAN_KIND: sc.KIND_TOOL,
        sc.TOOL_NAME: "lookup",
        sc.TURN_ID: format(parent, "016x"),
        **kw.pop("attributes", {}),
    }
    return record(trace_id, span_id, parent=parent, attributes=attributes, name="lookup", **kw)


class BlockingTransport:
    """A backend that never answers: every request blocks until the transport is closed."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.entered = threading.Event()
        self.requests: list[tuple[str, str]] = []

    def request(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        """Block until closed, then fail like a reset connection."""
        self.requests.append((method, url))
        if url.endswith("/api/me/"):
            raise TransportError("ConnectionError: down")
        self.entered.set()
        self.closed.wait(30)
        raise TransportError("ConnectionError: closed")

    def close(self) -> None:
        """Unblock every waiting request."""
        self.closed.set()


def worker_stopped(worker: DeliveryWorker, timeout: float = 10.0) -> bool:
    """Whether the worker's last round on the io thread ended within ``timeout`` seconds."""
    with worker._cond:
        return worker._cond.wait_for(lambda: worker._stopped, timeout)
