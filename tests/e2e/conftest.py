"""A local AgentSight-compatible server per test module, on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A fresh server with an in-memory store."""
    with LocalServer(api_keys=[TEST_API_KEY]) as running:
        yield running


def read(server: LocalServer, cid: str, part: str = "") -> Any:
    """A read endpoint of the local server, as JSON."""
    response = requests.get(
        f"{server.url}/api/conversations/{cid}/{part}",
        headers={"Authorization": f"Api-Key {TEST_API_KEY}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a snippet in a fresh interpreter (global OTel state stays out of this process)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTSIGHT_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
