"""``agentsight-otel bridge`` on a busy port or with a malformed key: one clear line, exit 2,
nothing created (issue 11 item 8)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agentsight_otel.testing import TEST_API_KEY


def _bridge(
    tmp_path: Path, *flags: str, key: str = TEST_API_KEY
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSIGHT_")}
    env["AGENTSIGHT_SPOOL_DIR"] = str(tmp_path / "spool")
    command = [
        sys.executable,
        "-m",
        "agentsight_otel._cli",
        "bridge",
        "--api-key",
        key,
        "--endpoint",
        "http://127.0.0.1:9",
        *flags,
    ]
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("agentsight-otel bridge: ")


@pytest.mark.slow
@pytest.mark.parametrize("listener", ["--http", "--grpc"])
def test_a_busy_port_is_one_line_exit_2_and_nothing_created(tmp_path: Path, listener: str) -> None:
    other = "--grpc" if listener == "--http" else "--http"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = _bridge(tmp_path, listener, f"127.0.0.1:{port}", other, "off")
    _one_line(done)
    assert "listen" in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_malformed_key_is_one_line_exit_2_and_nothing_created(tmp_path: Path) -> None:
    done = _bridge(tmp_path, "--http", "127.0.0.1:0", "--grpc", "off", key="not-a-key")
    _one_line(done)
    assert "not-a-key" not in done.stderr
    assert list(tmp_path.iterdir()) == []
