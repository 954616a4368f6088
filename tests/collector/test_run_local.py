"""examples/collector/run-local.sh: the route without a container engine, as a user runs it."""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.collector.stack import ROOT, RUN_LOCAL_PORTS, clean_env, free_port

SCRIPT = ROOT / "examples" / "collector" / "run-local.sh"


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    ports = {name: str(free_port()) for name in RUN_LOCAL_PORTS}
    return subprocess.run(
        [str(SCRIPT), *args],
        env=clean_env(PYTHON=sys.executable, TMPDIR=str(tmp_path), **{**ports, **env}),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize("app", ["python", "node"])
def test_run_local_delivers_the_example_conversation(
    app: str, collector_binary: Path, tmp_path: Path
) -> None:
    result = _run(tmp_path, app)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "end_user: " in result.stdout and "     agent: " in result.stdout
    assert re.search(r"conversation \S+ arrived\n", result.stdout)


def test_the_last_url_it_prints_opens_the_conversation_in_the_viewer(
    collector_binary: Path, tmp_path: Path
) -> None:
    result = _run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    *_, hint, command, url_line = result.stdout.splitlines()
    assert hint.startswith("to see it in the viewer, run")
    url = url_line.removeprefix("then open ")
    assert url.startswith("http://127.0.0.1:"), url_line
    server = subprocess.Popen(
        shlex.split(command.strip()),
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):  # until the server listens
            try:
                answer = requests.get(url, timeout=5)  # no key: the viewer on loopback
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert answer.status_code == 200 and "where is my order A-1001?" in answer.text, (
            answer.text[:500]
        )
    finally:
        server.terminate()
        server.wait(10)


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:  # say, an `agentsight-otel serve` left on the server port
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        started = time.monotonic()
        result = _run(tmp_path, SERVER_PORT=port)
    assert result.returncode != 0
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert time.monotonic() - started < 10
    assert list(tmp_path.iterdir()) == []  # no work directory: nothing was started


def test_a_failed_collector_build_fails_at_once(tmp_path: Path) -> None:
    # No Go on PATH and an empty build cache: the build cannot succeed.
    started = time.monotonic()
    result = _run(tmp_path, PATH="/usr/bin:/bin", XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert result.returncode != 0
    assert "needs the Go toolchain" in result.stderr
    assert "building the Collector failed" in result.stderr
    assert time.monotonic() - started < 10


def test_compose_runs_the_collector_release_the_project_tests() -> None:
    release = re.search(r'const release = "(.*)"', (ROOT / "collector" / "main.go").read_text())
    compose = (ROOT / "examples" / "collector" / "compose.yaml").read_text()
    assert release is not None
    assert f"otel/opentelemetry-collector-contrib:{release.group(1)} " in compose
