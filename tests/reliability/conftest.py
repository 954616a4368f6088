"""Reliability suite: the local server behind a fault proxy, real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentsight_otel.server import LocalServer
from tests.reliability.helpers import FIGURES, ServerView, WireLog
from tests.support.faults import FaultProxy


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
