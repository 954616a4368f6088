"""Fixtures: an isolated context per test, a fake backend with span capture, a global provider.

Any warning from the library's logger, or an error from OpenTelemetry's (a context detached in
the wrong place, a span ended twice), fails the test unless it asks for ``library_warnings``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentsight_otel._actions import spec
from agentsight_otel._log import RateLimitedLog
from agentsight_otel.testing import AgentSightCapture

from .helpers import Rig


class _Collect(logging.Handler):
    """Keeps the records it sees."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def fresh_hook_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """No warning is swallowed by an earlier test's rate limit (tests/conftest.py isolates)."""
    monkeypatch.setattr(spec, "_HOOK_LOG", RateLimitedLog())


@pytest.fixture(autouse=True)
def quiet_library(request: pytest.FixtureRequest) -> Iterator[_Collect]:
    """Fail on library warnings and OpenTelemetry errors, unless the test expects them."""
    handler = _Collect(logging.WARNING)
    otel_handler = _Collect(logging.ERROR)
    logging.getLogger("agentsight_otel").addHandler(handler)
    logging.getLogger("opentelemetry").addHandler(otel_handler)
    yield handler
    logging.getLogger("agentsight_otel").removeHandler(handler)
    logging.getLogger("opentelemetry").removeHandler(otel_handler)
    assert [r.getMessage() for r in otel_handler.records] == []
    if "library_warnings" not in request.fixturenames:
        assert [r.getMessage() for r in handler.records] == []


@pytest.fixture
def library_warnings(quiet_library: _Collect) -> list[logging.LogRecord]:
    """The library's warnings during the test (and permission to have them)."""
    return quiet_library.records


@pytest.fixture
def rig() -> Iterator[Rig]:
    """A tracker on a scripted backend, with every finished span also kept in memory."""
    memory = InMemorySpanExporter()
    with AgentSightCapture() as capture:
        capture.backend.provider.add_span_processor(SimpleSpanProcessor(memory))
        yield Rig(capture, memory)


@pytest.fixture
def ambient(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """A global SDK tracer provider for the test, its finished spans kept in memory."""
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    yield memory
    provider.shutdown()
