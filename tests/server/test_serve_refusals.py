"""``agentsight-otel serve`` on a busy port, with a malformed key, or beyond loopback without a
key: one clear line, exit 2, no database file created (issue 11 item 8, issue 17)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from agentsight_otel._cli import main
from agentsight_otel.server import LocalServer, Store, create_app, serve
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


# A blank --host is refused by the parser before this rule (tests/server/test_cli_bad_input.py).
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.internal"])
def test_beyond_loopback_serve_without_a_key_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    """Refused before binding (no traffic leaves loopback) and before the database exists."""
    database = tmp_path / "x.db"
    assert main(["serve", "--host", host, "--port", "0", "--db", str(database)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentsight-otel serve: listening on ") and "--api-key" in err
    assert "make a key with: python -c" in err and len(err.strip().splitlines()) == 1
    assert not database.exists()


@pytest.mark.parametrize("keys", [None, []])
def test_beyond_loopback_the_python_api_needs_keys(tmp_path: Path, keys: list[str] | None) -> None:
    database = tmp_path / "x.db"
    with pytest.raises(ValueError, match="beyond this machine, so it needs --api-key"):
        LocalServer(database, host="0.0.0.0", api_keys=keys)
    with pytest.raises(ValueError, match="beyond this machine, so it needs --api-key"):
        serve("0.0.0.0", 0, str(database), keys)
    assert not database.exists()
    store = Store(":memory:")
    with pytest.raises(ValueError, match="api_keys are required"):
        create_app(store, api_keys=keys)
    store.close()


def test_loopback_needs_no_key_and_beyond_it_a_key_suffices(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        LocalServer(host=host).stop()
    LocalServer(host="0.0.0.0", api_keys=[TEST_API_KEY]).stop()  # built, never started
