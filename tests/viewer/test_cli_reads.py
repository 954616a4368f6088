"""agentsight-otel conversations / transcript, over the database file and over the read API."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY

from .conftest import run_cli


def test_conversations_table_from_the_database(viewer_db: Path) -> None:
    done = run_cli("conversations", "--db", str(viewer_db))
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split()[:3] == ["STARTED", "(UTC)", "CONVERSATION"]
    assert [row.split()[2] for row in rows] == ["visit-only", "hostile", rows[2].split()[2]]
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


BIG = "99999999999999999999"


@pytest.mark.parametrize("reference", [BIG, "9" * 5000, "-1", "0"])
def test_an_id_no_database_can_hold_is_an_unknown_conversation(
    viewer_db: Path, reference: str
) -> None:
    done = run_cli("transcript", reference, "--db", str(viewer_db))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"agentsight-otel transcript: no conversation {reference!r}\n"


def test_an_id_too_big_for_a_pk_is_read_as_a_conversation_id_from_an_endpoint(
    tmp_path: Path,
) -> None:
    with LocalServer(tmp_path / "big.db", api_keys=[TEST_API_KEY]) as server:
        headers = {"Authorization": f"Api-Key {TEST_API_KEY}"}
        body = {"conversation_id": BIG, "name": "Twenty digits"}
        created = requests.post(
            f"{server.url}/api/conversations/", json=body, headers=headers, timeout=10
        )
        assert created.status_code == 201
        remote = run_cli(
            "transcript", BIG, "--endpoint", server.url, AGENTSIGHT_API_KEY=TEST_API_KEY
        )
        missing = run_cli(
            "transcript", BIG + "1", "--endpoint", server.url, AGENTSIGHT_API_KEY=TEST_API_KEY
        )
    assert remote.returncode == 0, remote.stderr
    assert "Twenty digits" in remote.stdout
    local = run_cli("transcript", BIG, "--db", str(tmp_path / "big.db"))
    assert local.returncode == 0 and local.stdout == remote.stdout
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("conversations", "--limit", BIG), "--limit"),
        (("conversations", "--limit", "9" * 5000), "--limit"),
        (("conversations", "--limit", "0"), "--limit"),
        (("conversations", "--limit", "-1"), "--limit"),
        (("conversations", "--limit", "1e3"), "--limit"),
        (("serve", "--port", BIG), "--port"),
        (("serve", "--port", "65536"), "--port"),
        (("serve", "--port", "-1"), "--port"),
    ],
)
def test_out_of_range_numbers_are_one_line(
    tmp_path: Path, args: tuple[str, ...], flag: str
) -> None:
    database = tmp_path / "never.db"
    done = run_cli(*args, "--db", str(database))
    assert done.returncode == 2 and done.stdout == ""
    low, high = (0, 65535) if flag == "--port" else (1, 2**63 - 1)
    message = f"agentsight-otel {args[0]}: {flag} must be a whole number from {low} to {high}\n"
    assert done.stderr == message
    assert not database.exists()
