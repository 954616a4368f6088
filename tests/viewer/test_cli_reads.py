"""agentsight-otel conversations / transcript, over the database file and over the read API."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import requests

from agentsight_otel._server.schema import SCHEMA
from agentsight_otel.server import LocalServer, Store
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


BIG = "99999999999999999999"


@pytest.mark.parametrize("reference", [BIG, "9" * 5000, "-1", "0"])
def test_an_id_no_database_can_hold_is_an_unknown_conversation(
    viewer_db: Path, reference: str
) -> None:
    done = run_cli("transcript", reference, "--db", str(viewer_db))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"agentsight-otel transcript: ID: no conversation {reference!r}")
    assert done.stderr.count("\n") == 1


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
    # One line naming the flag and its range (the parser's own message since the CLI pass).
    high = "65535" if flag == "--port" else "10,000"
    assert done.stderr.startswith(f"agentsight-otel {args[0]}: argument {flag}: ")
    assert high in done.stderr and done.stderr.count("\n") == 1
    assert not database.exists()


def _listed(table: str) -> list[tuple[str, str]]:
    """(pk, conversation_id) of every row, cut at the header's column starts (ids may hold
    spaces)."""
    header, *rows = table.splitlines()
    starts = [header.index("CONVERSATION"), header.index("STARTED (UTC)")]
    return [(row[: starts[0]].strip(), row[starts[0] : starts[1]].strip()) for row in rows]


def test_every_listed_id_and_pk_opens_its_transcript(viewer_db: Path, tmp_path: Path) -> None:
    """Ids are listed whole, however long, and transcript takes back each id and each pk."""
    db = tmp_path / "copy.db"
    shutil.copyfile(viewer_db, db)
    long_id = "order-A-1009/" + "x" * 80
    with LocalServer(db, api_keys=[TEST_API_KEY]) as server:
        for conversation_id in (long_id, "with a space", "7"):
            answer = requests.post(
                f"{server.url}/api/conversations/",
                json={"conversation_id": conversation_id},
                headers={"Authorization": f"Api-Key {TEST_API_KEY}"},
                timeout=10,
            )
            assert answer.status_code == 201, answer.text
    listing = run_cli("conversations", "--db", str(db), COLUMNS="40")
    assert listing.returncode == 0, listing.stderr
    listed = _listed(listing.stdout)
    ids = {cid for _, cid in listed}
    assert ids >= {long_id, "with a space", "7", "hostile", "visit-only"}
    assert f" {long_id} " in listing.stdout  # whole, however narrow the terminal
    with LocalServer(db, api_keys=[TEST_API_KEY]) as server:
        for pk, conversation_id in listed:
            by_id = run_cli("transcript", conversation_id, "--db", str(db))
            by_pk = run_cli("transcript", pk, "--db", str(db))
            remote = run_cli(
                "transcript", pk, "--endpoint", server.url, AGENTSIGHT_API_KEY=TEST_API_KEY
            )
            assert by_id.returncode == 0, by_id.stderr
            assert by_id.stdout.startswith(f"Conversation: {conversation_id}\n")
            if pk not in ids:  # a conversation_id "7" wins over pk 7
                assert by_pk.stdout == by_id.stdout, by_pk.stderr
                assert remote.stdout == by_id.stdout, remote.stderr
        remote_long = run_cli(
            "transcript", long_id, "--endpoint", server.url, AGENTSIGHT_API_KEY=TEST_API_KEY
        )
    assert remote_long.stdout.startswith(f"Conversation: {long_id}\n"), remote_long.stderr


def test_reading_never_creates_or_changes_a_file(viewer_db: Path, tmp_path: Path) -> None:
    """conversations and transcript open read-only: a foreign SQLite file is refused untouched,
    and our own database (and its folder) is left exactly as it was."""
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as other:
        other.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        other.execute("INSERT INTO notes (text) VALUES ('keep me')")
    other.close()
    ours = tmp_path / "ours.db"
    shutil.copyfile(viewer_db, ours)
    before = _contents(tmp_path)
    for command in (["conversations"], ["transcript", "1"]):
        refused = run_cli(*command, "--db", str(foreign))
        assert refused.returncode != 0 and len(refused.stderr.splitlines()) == 1
        assert "another program's SQLite database" in refused.stderr
        read = run_cli(*command, "--db", str(ours))
        assert read.returncode == 0, read.stderr
    assert _contents(tmp_path) == before


def _contents(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root with its bytes and modification time."""
    return {
        str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_a_missing_database_points_at_the_demo_database(viewer_db: Path, tmp_path: Path) -> None:
    """Run where `make demo` wrote .agentsight/demo.db, `conversations` without --db says so."""
    missing = run_cli("conversations", cwd=tmp_path)
    assert "make demo" in missing.stderr and "--db" in missing.stderr
    (tmp_path / ".agentsight").mkdir()
    shutil.copyfile(viewer_db, tmp_path / ".agentsight" / "demo.db")
    pointed = run_cli("conversations", cwd=tmp_path)
    assert pointed.returncode != 0 and len(pointed.stderr.splitlines()) == 1
    assert "there is no database at agentsight-local.db" in pointed.stderr
    assert "add --db .agentsight/demo.db" in pointed.stderr
    assert not (tmp_path / "agentsight-local.db").exists()
    listed = run_cli("conversations", "--db", ".agentsight/demo.db", cwd=tmp_path)
    assert "Parcel marked delivered" in listed.stdout


def test_a_database_from_an_older_version_is_read_once_served(tmp_path: Path) -> None:
    """Reading never migrates: an older database is named as such, untouched, until served."""
    path = tmp_path / "old.db"
    older = SCHEMA.replace(",\n    turn_complete INTEGER NOT NULL DEFAULT 1", "").replace(
        ",\n    incomplete_reason TEXT", ""
    )
    with sqlite3.connect(path) as old:
        old.executescript(older)
    old.close()
    before = path.read_bytes()
    refused = run_cli("conversations", "--db", str(path))
    assert refused.returncode != 0 and len(refused.stderr.splitlines()) == 1
    assert "older agentsight-otel: serve it once" in refused.stderr
    assert path.read_bytes() == before
    Store(path).close()  # what serve does first
    assert run_cli("conversations", "--db", str(path)).returncode == 0
