"""``agentsight-otel demo`` says what failed and exits non-zero when AgentSight is not reached,
and its closing hint is a command the user can run (issue 11 item 8)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY

SCRIPT = Path(sys.executable).with_name("agentsight-otel")
OTHER_KEY = "ags_" + "f" * 32 + "_ffffff"


def _demo(tmp_path: Path, path: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSIGHT_")}
    environment.update(env, PATH=path)
    return subprocess.run(
        [str(SCRIPT), "demo", "--db", "demo.db"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_an_unreachable_endpoint_is_said_and_the_demo_fails(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    done = _demo(
        tmp_path,
        os.environ["PATH"],
        AGENTSIGHT_API_KEY=TEST_API_KEY,
        AGENTSIGHT_API_ENDPOINT=endpoint,
    )
    assert done.returncode != 0
    assert f"cannot reach AgentSight at {endpoint}" in done.stderr
    assert "open it in AgentSight" not in done.stdout
    assert TEST_API_KEY not in done.stdout + done.stderr


@pytest.mark.slow
def test_an_endpoint_refusing_the_delivery_is_said_and_the_demo_fails(tmp_path: Path) -> None:
    with LocalServer(api_keys=[OTHER_KEY]) as server:
        done = _demo(
            tmp_path,
            os.environ["PATH"],
            AGENTSIGHT_API_KEY=TEST_API_KEY,
            AGENTSIGHT_API_ENDPOINT=server.url,
        )
    assert done.returncode != 0
    assert "did not all reach" in done.stderr
    assert "open it in AgentSight" not in done.stdout


@pytest.mark.slow
def test_the_closing_hint_names_the_script_when_it_is_not_on_path(tmp_path: Path) -> None:
    done = _demo(tmp_path, "/usr/bin:/bin")
    assert done.returncode == 0, done.stderr
    assert f"  {SCRIPT} serve --db demo.db" in done.stdout.splitlines()
    # Every URL it prints answers after it ended: the temporary server's port is never shown.
    first = done.stdout.splitlines()[0]
    assert first.startswith("Tracking a support conversation into demo.db"), first
    assert "http://" not in first
