"""Fixtures: local servers on 127.0.0.1 and authenticated clients for them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from agentsight_otel.server import LocalServer
from tests.server.server_helpers import Api, StartServer


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Start servers with any LocalServer options; each comes with a client, closed first."""
    with ExitStack() as stack:

        def start(**options: Any) -> tuple[LocalServer, Api]:
            running = stack.enter_context(LocalServer(**options))
            client = Api(running.url)
            # Closing the keep-alive connection first lets the server stop without waiting on it.
            stack.callback(client.session.close)
            return running, client

        yield start


@pytest.fixture
def server_and_api(start_server: StartServer) -> tuple[LocalServer, Api]:
    """A fresh in-memory server for one test, with a client."""
    return start_server()


@pytest.fixture
def api(server_and_api: tuple[LocalServer, Api]) -> Api:
    """A client for the per-test server."""
    return server_and_api[1]


@pytest.fixture(scope="module")
def empty_api() -> Iterator[Api]:
    """A server shared by one module's tests that must all be refused, so it stays empty."""
    with LocalServer() as running:
        client = Api(running.url)
        yield client
        client.session.close()
