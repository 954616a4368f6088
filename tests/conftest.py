"""Fixtures every test folder can use; folders opt into the isolating ones in their conftest."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context

from agentsight_otel._log import RAISE_INTERNAL_ERRORS_ENV
from agentsight_otel._tracker.core import ACTIVE_TRACKER
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY, FakeBackend, fake_backend

# The library's own failures re-raise under its own tests (users only get the log record);
# tests that check what users see turn this off with the `internal_errors_hidden` fixture.
os.environ[RAISE_INTERNAL_ERRORS_ENV] = "1"
# `pytester` runs a user's test file against the installed `agentsight_capture` plugin.
pytest_plugins = ["pytester"]


@pytest.fixture
def internal_errors_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Internal failures are logged and swallowed, as in a user's process."""
    monkeypatch.delenv(RAISE_INTERNAL_ERRORS_ENV)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No AGENTSIGHT_* variables leak in; the library logger's level is restored."""
    for name in list(os.environ):
        if name.startswith("AGENTSIGHT_"):
            monkeypatch.delenv(name)
    library_logger = logging.getLogger("agentsight_otel")
    level = library_logger.level
    yield
    library_logger.setLevel(level)


@pytest.fixture
def clean_otel_context() -> Iterator[None]:
    """Each test starts with no current span and no active tracker, and leaves none behind."""
    token = otel_context.attach(otel_context.Context())
    active = ACTIVE_TRACKER.set(None)
    yield
    ACTIVE_TRACKER.reset(active)
    otel_context.detach(token)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No connection can be opened: every backend in the test is scripted."""

    def refuse(self: socket.socket, address: object) -> None:
        raise AssertionError(f"a test without network tried to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture
def make_backend() -> Iterator[Callable[..., FakeBackend]]:
    """Build fake backends (a tracker on a scripted transport); each is shut down afterwards."""
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
def server() -> Iterator[LocalServer]:
    """The project's local AgentSight-compatible server on 127.0.0.1, in memory."""
    with LocalServer(api_keys=[TEST_API_KEY]) as running:
        yield running
