"""Reliability suite: the local server behind a fault proxy, real HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import context as otel_context

from agentsight_otel._tracker.core import ACTIVE_TRACKER
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY
from tests.reliability.helpers import FIGURES, ServerView, WireLog
from tests.support.faults import FaultProxy


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No AGENTSIGHT_* variables leak in; the library logger's level is restored."""
    for name in ("API_KEY", "API_ENDPOINT", "LOG_LEVEL", "ENVIRONMENT", "SPOOL_DIR"):
        monkeypatch.delenv(f"AGENTSIGHT_{name}", raising=False)
    library_logger = logging.getLogger("agentsight_otel")
    level = library_logger.level
    token = otel_context.attach(otel_context.Context())
    active = ACTIVE_TRACKER.set(None)
    yield
    ACTIVE_TRACKER.reset(active)
    otel_context.detach(token)
    library_logger.setLevel(level)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    """A local server on a database file the test can read on its own connection."""
    with LocalServer(tmp_path / "server.db", api_keys=[TEST_API_KEY]) as running:
        yield running


@pytest.fixture
def view(server: LocalServer, tmp_path: Path) -> Iterator[ServerView]:
    """What the server stored, read with SQL."""
    reader = ServerView(tmp_path / "server.db")
    yield reader
    reader.close()


@pytest.fixture
def wire() -> WireLog:
    """Every span id that reached the server, duplicates included."""
    return WireLog()


@pytest.fixture
def proxy(server: LocalServer, wire: WireLog) -> Iterator[FaultProxy]:
    """The fault proxy in front of the server, observed by ``wire``."""
    with FaultProxy(server.url) as running:
        running.observer = wire.observe
        yield running


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures the reliability tests measured."""
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, values in FIGURES:
        shown = ", ".join(f"{key}={value}" for key, value in values.items())
        terminalreporter.write_line(f"{name}: {shown}")
