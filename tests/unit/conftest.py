"""Fixtures: a clean environment and OTel context per test, and fake backends torn down."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context

from agentsight_otel import AgentSightSpanExporter
from agentsight_otel.export.ledger import DeliveryLedger
from agentsight_otel.testing import TEST_API_KEY, FakeBackend, FakeClock, fake_backend
from agentsight_otel.tracker.core import ACTIVE_TRACKER

ENV_VARS = (
    "AGENTSIGHT_API_KEY",
    "AGENTSIGHT_API_ENDPOINT",
    "AGENTSIGHT_LOG_LEVEL",
    "AGENTSIGHT_ENVIRONMENT",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No AGENTSIGHT_* variables leak in; the library logger's level is restored."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    library_logger = logging.getLogger("agentsight_otel")
    level = library_logger.level
    yield
    library_logger.setLevel(level)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests never open a connection: every backend here is scripted."""

    def refuse(self: socket.socket, address: object) -> None:
        raise AssertionError(f"a unit test tried to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture(autouse=True)
def clean_otel_context() -> Iterator[None]:
    """Each test starts with no current span and no active tracker, and leaves none behind."""
    token = otel_context.attach(otel_context.Context())
    active = ACTIVE_TRACKER.set(None)
    yield
    ACTIVE_TRACKER.reset(active)
    otel_context.detach(token)


@pytest.fixture
def make_backend() -> Iterator[Callable[..., FakeBackend]]:
    """Build fake backends; each is shut down (threads stopped) after the test."""
    made: list[FakeBackend] = []

    def make(**kwargs: Any) -> FakeBackend:
        backend = fake_backend(**kwargs)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.tracker.shutdown(timeout=1)
        backend.exporter.shutdown(timeout_millis=2000)
        backend.provider.shutdown()


@pytest.fixture
def backend(make_backend: Callable[..., FakeBackend]) -> FakeBackend:
    """One fake backend with default settings."""
    return make_backend()


@pytest.fixture
def exporters() -> Iterator[Callable[..., AgentSightSpanExporter]]:
    """Build exporters on a given transport with a fake clock; shut down after the test."""
    made: list[AgentSightSpanExporter] = []

    def make(
        transport: Any, *, clock: Any = None, policy: Any = None, **kwargs: Any
    ) -> AgentSightSpanExporter:
        exporter = AgentSightSpanExporter(
            api_key=TEST_API_KEY,
            endpoint="http://agentsight.test",
            transport=transport,
            clock=clock or FakeClock(),
            retry_policy=policy,
            ledger=DeliveryLedger(),
            **kwargs,
        )
        made.append(exporter)
        return exporter

    yield make
    for exporter in made:
        exporter.shutdown(timeout_millis=2000)
