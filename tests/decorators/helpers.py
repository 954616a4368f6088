"""Shared helpers: the test rig and ways to look at what was recorded and sent."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentsight_otel import _semconv as sc
from agentsight_otel.testing import AgentSightCapture, FakeBackend


@dataclass
class Rig:
    """A capture (tracker on a scripted backend) plus the finished spans of its provider."""

    capture: AgentSightCapture
    memory: InMemorySpanExporter

    @property
    def backend(self) -> FakeBackend:
        """The captured fake backend."""
        return self.capture.backend

    @property
    def tracker(self) -> Any:
        """The backend's tracker."""
        return self.capture.tracker

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans, optionally only those with a name."""
        return [s for s in self.memory.get_finished_spans() if name is None or s.name == name]

    def span(self, name: str) -> ReadableSpan:
        """The one finished span with this name."""
        [found] = self.spans(name)
        return found

    def send(self, conversation_id: str) -> dict[str, Any]:
        """Send the conversation and return its wire block (all its spans, merged)."""
        self.tracker.send_tracked_data(conversation_id)
        spans = self.capture.spans(conversation_id=conversation_id)
        return {"conversation_id": conversation_id, "spans": spans}


def of_kind(wire: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """Wire spans of a kind."""
    return [s for s in wire["spans"] if s["kind"] == kind]


def arguments(span: ReadableSpan | dict[str, Any]) -> Any:
    """The recorded arguments, decoded."""
    attributes = span["attributes"] if isinstance(span, dict) else span.attributes
    assert attributes is not None
    return json.loads(str(attributes[sc.TOOL_ARGUMENTS]))


def attrs(span: ReadableSpan) -> dict[str, Any]:
    """A span's attributes as a plain dict."""
    return dict(span.attributes or {})


def parent_id(span: ReadableSpan) -> int | None:
    """The parent's span id."""
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    """The span's own id."""
    context = span.get_span_context()
    assert context is not None
    return context.span_id


def current_name() -> str:
    """The current span's name; the interaction's for the tracker's stand-in; "-" for none."""
    span = trace.get_current_span()
    name = getattr(span, "name", None) or getattr(getattr(span, "span", None), "name", None)
    return str(name) if name else "-"


def logged(record: logging.LogRecord) -> str:
    """A log record's message with its traceback, if it carries one."""
    if not record.exc_info:
        return record.getMessage()
    return f"{record.getMessage()}\n{logging.Formatter().formatException(record.exc_info)}"
