"""``agentsight-otel serve`` on a busy port or with a malformed key: one clear line, exit 2,
no database file created (issue 11 item 8)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agentsight_otel.testing import TEST_API_KEY


def _serve(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "agentsight_otel._cli", "serve", "--db", "x.db", *flags]
    return subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.slow
def test_a_busy_port_is_one_line_exit_2_and_nothing_created(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = _serve(tmp_path, "--port", str(port), "--api-key", TEST_API_KEY)
    assert done.returncode == 2
    assert done.stderr.startswith(f"agentsight-otel serve: cannot listen on 127.0.0.1:{port}:")
    assert "--port" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.slow
def test_a_malformed_key_is_one_line_exit_2_and_nothing_created(tmp_path: Path) -> None:
    done = _serve(tmp_path, "--port", "0", "--api-key", "not-a-key")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert "not-a-key" not in done.stderr
    assert not (tmp_path / "x.db").exists()
