"""Fixtures every test folder can use; every test starts with a clean environment and context."""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from agentsight_otel import _log
from agentsight_otel._log import RAISE_INTERNAL_ERRORS_ENV, RateLimitedLog
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY, AgentSightCapture, FakeBackend, isolated_tracking

# The library's own failures re-raise under its own tests (users only get the log record);
# tests that check what users see turn this off with the `internal_errors_hidden` fixture.
os.environ[RAISE_INTERNAL_ERRORS_ENV] = "1"
# Only one provider can ever be global in a process: a tracker's private one must not become
# the pytest process's for every later test, module-scoped fixtures' trackers included
# (tests/genai/test_global_provider.py checks the default in fresh processes).
GLOBAL_PROVIDER_OFF = {"AGENTSIGHT_SET_GLOBAL_PROVIDER": "0"}
os.environ.update(GLOBAL_PROVIDER_OFF)
# `pytester` runs a user's test file against the installed `agentsight_capture` plugin.
pytest_plugins = ["pytester"]


def real_state_dir(environ: Mapping[str, str]) -> Path:
    """The library's state directory outside the tests: where a bridge spools by default."""
    base = environ.get("XDG_STATE_HOME", "").strip()
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "agentsight-otel"


def snapshot(path: Path) -> frozenset[tuple[str, int, int]] | None:
    """Every entry under ``path`` with its mtime and size (None: it does not exist)."""
    if not path.exists():
        return None
    entries = [path, *path.rglob("*")]
    return frozenset(
        (str(entry.relative_to(path)), entry.lstat().st_mtime_ns, entry.lstat().st_size)
        for entry in entries
    )


# Taken before any test or fixture runs: the suite must leave the real state directory as found.
REAL_STATE = real_state_dir(os.environ)
REAL_STATE_BEFORE = snapshot(REAL_STATE)


@pytest.fixture(scope="session", autouse=True)
def private_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """HOME and XDG_STATE_HOME are a temporary directory for the whole run, before any other
    fixture (processes the tests start inherit them).

    The cache stays the real one: the Collector build is found there, and Go's module path with
    it, so a build never downloads again into the temporary home.
    """
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "XDG_CACHE_HOME", os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        )
        patch.setenv("GOPATH", os.environ.get("GOPATH") or str(Path.home() / "go"))
        patch.setenv("HOME", str(home))
        patch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
        yield home


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the run when it created or changed the real state directory."""
    if snapshot(REAL_STATE) == REAL_STATE_BEFORE:
        return
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"the test run created or modified {REAL_STATE}: tests must write in tmp dirs only"
    if reporter is not None:
        reporter.write_line(message, red=True, bold=True)
    else:
        print(message, file=sys.stderr)


@pytest.fixture
def internal_errors_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """Internal failures are logged and swallowed, as in a user's process (rate limit reset)."""
    monkeypatch.delenv(RAISE_INTERNAL_ERRORS_ENV)
    monkeypatch.setattr(_log, "_INTERNAL", RateLimitedLog())


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No AGENTSIGHT_* variables leak in (the global-provider switch is off); log level restored.

    The state directory (where the bridge spools by default) is the test's own.
    """
    for name in list(os.environ):
        if name.startswith("AGENTSIGHT_"):
            monkeypatch.delenv(name)
    for name, value in GLOBAL_PROVIDER_OFF.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    library_logger = logging.getLogger("agentsight_otel")
    level = library_logger.level
    yield
    library_logger.setLevel(level)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common default umask, which leaves new files readable by everyone (restored after)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture(autouse=True)
def clean_otel_context() -> Iterator[None]:
    """Each test starts with no current span and no active tracker, and leaves none behind."""
    with isolated_tracking():
        yield


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
    made: list[AgentSightCapture] = []

    def make(**kwargs: Any) -> FakeBackend:
        made.append(AgentSightCapture(**kwargs))
        return made[-1].backend

    yield make
    for capture in made:
        capture.close()


@pytest.fixture
def backend(make_backend: Callable[..., FakeBackend]) -> FakeBackend:
    """One fake backend with default settings."""
    return make_backend()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    """The local AgentSight-compatible server on 127.0.0.1, on a database file a test can read."""
    with LocalServer(tmp_path / "server.db", api_keys=[TEST_API_KEY]) as running:
        yield running
