"""``agentsight-otel serve`` logs one line per request (never headers), none with --quiet."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from agentsight_otel.testing import TEST_API_KEY


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve_and_call(tmp_path: Path, *flags: str) -> list[str]:
    """Start serve, make two requests, stop it; the lines it printed after its banner."""
    port = _free_port()
    command = [sys.executable, "-m", "agentsight_otel._cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--db", str(tmp_path / "x.db"), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert "listening on" in banner, process.stderr.read() if process.stderr else ""
        url = f"http://127.0.0.1:{port}"
        key = {"Authorization": f"Api-Key {TEST_API_KEY}"}
        assert requests.get(f"{url}/api/me/?key=secret-q", headers=key, timeout=10).ok
        missing = requests.get(f"{url}/api/conversations/nope/", headers=key, timeout=10)
        assert missing.status_code == 404
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=30)
    return out.splitlines()


@pytest.mark.slow
def test_each_request_is_one_line_with_method_path_status_and_duration(tmp_path: Path) -> None:
    lines = _serve_and_call(tmp_path)
    requests_seen = [line for line in lines if line.startswith(("GET ", "POST "))]
    assert len(requests_seen) == 2, lines
    first, second = (line.split() for line in requests_seen)
    assert first[:3] == ["GET", "/api/me/", "200"] and first[-1] == "ms"
    assert second[:3] == ["GET", "/api/conversations/nope/", "404"]
    text = "\n".join(lines)
    assert TEST_API_KEY not in text and "secret-q" not in text and "Api-Key" not in text


@pytest.mark.slow
def test_quiet_logs_no_request(tmp_path: Path) -> None:
    lines = _serve_and_call(tmp_path, "--quiet")
    assert not [line for line in lines if line.startswith(("GET ", "POST "))], lines
