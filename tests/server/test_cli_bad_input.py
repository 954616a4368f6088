"""Every subcommand answers bad input with one line on stderr naming the flag, and a non-zero
exit: the real console script, run as a user runs it (issue 20)."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agentsight_otel._version import __version__
from agentsight_otel.server import Store
from agentsight_otel.testing import TEST_API_KEY

SCRIPT = Path(sys.executable).with_name("agentsight-otel")
HUGE = "99999999999999999999999"


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The console script in cwd, with no AGENTSIGHT_/OTEL_ settings but env, HOME in cwd."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTSIGHT_", "OTEL_"))}
    home = {"HOME": str(cwd / "home"), "XDG_STATE_HOME": str(cwd / "state")}
    return subprocess.run(
        [str(SCRIPT), *args],
        cwd=cwd,
        env={**clean, **home, "COLUMNS": "60", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one of each thing --db might wrongly be given, and one real database."""
    root = tmp_path_factory.mktemp("cli")
    (root / "notes.txt").write_text("shopping list\n")
    (root / "empty.db").write_bytes(b"")
    (root / "adir").mkdir()
    with sqlite3.connect(root / "foreign.sqlite") as other:
        other.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    Store(root / "ours.db").close()
    return root


KEY = TEST_API_KEY
BAD_INPUT = [
    # serve
    (["serve", "--port", "99999"], "--port"),
    (["serve", "--port", "65536"], "--port"),
    (["serve", "--port", "-1"], "--port"),
    (["serve", "--port", "http"], "--port"),
    (["serve", "--api-key", "not-a-key"], "--api-key"),
    (["serve", "--port", "0", "--db", "notes.txt"], "--db"),
    (["serve", "--port", "0", "--db", "adir"], "--db"),
    (["serve", "--port", "0", "--db", "notes.txt/inside.db"], "--db"),
    (["serve", "--port", "0", "--db", "foreign.sqlite"], "--db"),
    (["serve", "--port", "0", "--db", ""], "--db"),
    (["serve", "--port", "0", "--host", " "], "--host"),
    (["serve", "--colour"], "--colour"),
    # bridge
    (["bridge"], "--api-key"),
    (["bridge", "--api-key", "not-a-key"], "--api-key"),
    (["bridge", "--api-key", KEY, "--endpoint", "foo"], "--endpoint"),
    (["bridge", "--api-key", KEY, "--http", "foo"], "--http"),
    (["bridge", "--api-key", KEY, "--grpc", "127.0.0.1:99999"], "--grpc"),
    (["bridge", "--api-key", KEY, "--max-body-bytes", "0"], "--max-body-bytes"),
    (["bridge", "--api-key", KEY, "--max-queue-spans", "x"], "--max-queue-spans"),
    (["bridge", "--api-key", KEY, "--drain-timeout", "-1"], "--drain-timeout"),
    (["bridge", "--api-key", KEY, "--drain-timeout", "nan"], "--drain-timeout"),
    (["bridge", "--api-key", KEY, "--log-level", "LOUD"], "--log-level"),
    # demo
    (["demo", "--db", "adir"], "--db"),
    (["demo", "--db", "notes.txt"], "--db"),
    (["demo", "--db", "foreign.sqlite"], "--db"),
    (["demo", "--db", ""], "--db"),
    # conversations
    (["conversations", "--limit", "0"], "--limit"),
    (["conversations", "--limit", "ten"], "--limit"),
    (["conversations", "--limit", HUGE], "--limit"),
    (["conversations", "--db", "missing.db"], "--db"),
    (["conversations", "--db", ""], "--db"),
    (["conversations", "--db", "notes.txt"], "--db"),
    (["conversations", "--db", "empty.db"], "--db"),
    (["conversations", "--db", "adir"], "--db"),
    (["conversations", "--db", "foreign.sqlite"], "--db"),
    (["conversations", "--db", "ours.db", "--endpoint", "http://127.0.0.1:9"], "--endpoint"),
    (["conversations", "--endpoint", "foo"], "--endpoint"),
    (["conversations", "--endpoint", "http://127.0.0.1:{closed}", "--key"], "--endpoint"),
    # transcript
    (["transcript"], "ID"),
    (["transcript", ""], "ID"),
    (["transcript", "  "], "ID"),
    (["transcript", "nobody", "--db", "ours.db"], "ID"),
    (["transcript", HUGE, "--db", "ours.db"], "ID"),
    (["transcript", "1", "--db", "foreign.sqlite"], "--db"),
    (["transcript", "1", "--endpoint", "127.0.0.1:8600"], "--endpoint"),
    # no subcommand, or an unknown one
    ([], "COMMAND"),
    (["lists"], "COMMAND"),
]


@pytest.mark.parametrize(("args", "flag"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_naming_the_flag(workdir: Path, args: list[str], flag: str) -> None:
    # "--key" (not a flag of the CLI): run with AGENTSIGHT_API_KEY set.
    env = {"AGENTSIGHT_API_KEY": KEY} if "--key" in args else {}
    argv = [arg.format(closed=closed_port()) for arg in args if arg != "--key"]
    before = _contents(workdir)
    done = run(workdir, *argv, **env)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("agentsight-otel"), done.stderr
    assert flag in done.stderr, done.stderr
    assert KEY not in done.stderr + done.stdout
    assert _contents(workdir) == before  # nothing created, nothing changed


def _contents(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root with its size and modification time."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
    }


def test_endpoint_reads_name_the_variable_of_a_missing_or_malformed_key(workdir: Path) -> None:
    for key in ("", "ags_short"):
        done = run(
            workdir,
            "conversations",
            "--endpoint",
            "http://127.0.0.1:9",
            AGENTSIGHT_API_KEY=key,
        )
        assert done.returncode != 0 and len(done.stderr.splitlines()) == 1, done.stderr
        assert "AGENTSIGHT_API_KEY" in done.stderr and "--endpoint" in done.stderr
        assert "HTTP 403" not in done.stderr


def test_an_unreachable_endpoint_is_named_with_the_network_error(workdir: Path) -> None:
    port = closed_port()
    done = run(
        workdir, "conversations", "--endpoint", f"http://127.0.0.1:{port}", AGENTSIGHT_API_KEY=KEY
    )
    assert f"could not reach http://127.0.0.1:{port}: connection refused" in done.stderr


def test_version() -> None:
    done = subprocess.run(
        [str(SCRIPT), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"agentsight-otel {__version__}"


def test_port_help_says_0_picks_any_free_port(workdir: Path) -> None:
    done = run(workdir, "serve", "--help")
    assert "0 picks any free port" in " ".join(done.stdout.split())
