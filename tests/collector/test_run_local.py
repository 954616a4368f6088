"""examples/collector/run-local.sh: the route without a container engine, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.collector.stack import ROOT, clean_env, free_port

SCRIPT = ROOT / "examples" / "collector" / "run-local.sh"


@pytest.mark.parametrize("app", ["python", "node"])
def test_run_local_delivers_the_example_conversation(
    app: str, collector_binary: Path, tmp_path: Path
) -> None:
    ports = {
        name: str(free_port())
        for name in (
            "COLLECTOR_GRPC_PORT",
            "COLLECTOR_HTTP_PORT",
            "BRIDGE_HTTP_PORT",
            "BRIDGE_GRPC_PORT",
            "SERVER_PORT",
        )
    }
    result = subprocess.run(
        [str(SCRIPT), app],
        env=clean_env(PYTHON=sys.executable, TMPDIR=str(tmp_path), **ports),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "end_user: " in result.stdout and "     agent: " in result.stdout
    assert "arrived at http://127.0.0.1:" in result.stdout
