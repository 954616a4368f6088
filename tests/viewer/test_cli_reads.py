"""agentsight-otel conversations / transcript, over the database file and over the read API."""

from __future__ import annotations

from pathlib import Path

from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY

from .conftest import run_cli


def test_conversations_table_from_the_database(viewer_db: Path) -> None:
    done = run_cli("conversations", "--db", str(viewer_db))
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split()[:4] == ["PK", "CONVERSATION", "STARTED", "(UTC)"]
    assert [row.split()[1] for row in rows] == ["visit-only", "hostile", rows[2].split()[1]]
    assert "Parcel marked delivered" in rows[2] and "1,234" in rows[2]


def test_transcript_from_the_database_and_from_an_endpoint(viewer_db: Path) -> None:
    local = run_cli("transcript", "1", "--db", str(viewer_db))
    assert local.returncode == 0, local.stderr
    for expected in ("Action:  lookup_order", "Button:", "+ attached front-door.png", "1067 in"):
        assert expected in local.stdout
    with LocalServer(viewer_db, api_keys=[TEST_API_KEY]) as server:
        remote = run_cli(
            "transcript", "1", "--endpoint", server.url, AGENTSIGHT_API_KEY=TEST_API_KEY
        )
        listing = run_cli(
            "conversations", "--endpoint", server.url, AGENTSIGHT_API_KEY=TEST_API_KEY
        )
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout
    assert listing.stdout == run_cli("conversations", "--db", str(viewer_db)).stdout


def test_reading_failures_are_one_clear_line(viewer_db: Path, tmp_path: Path) -> None:
    missing = run_cli("conversations", "--db", str(tmp_path / "none.db"))
    assert missing.returncode == 1 and "no database at" in missing.stderr
    assert not (tmp_path / "none.db").exists()
    unknown = run_cli("transcript", "nobody", "--db", str(viewer_db))
    assert unknown.returncode == 1 and "no conversation 'nobody'" in unknown.stderr
    keyless = run_cli("conversations", "--endpoint", "http://127.0.0.1:9")
    assert keyless.returncode == 1 and "AGENTSIGHT_API_KEY" in keyless.stderr
    with LocalServer(viewer_db, api_keys=[TEST_API_KEY]) as server:
        wrong = "ags_ffffffffffffffffffffffffffffffff_000000"
        refused = run_cli("conversations", "--endpoint", server.url, AGENTSIGHT_API_KEY=wrong)
    assert refused.returncode == 1 and "HTTP 403" in refused.stderr
    assert wrong not in refused.stderr + refused.stdout
