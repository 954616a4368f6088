"""Conversation text at rest is the owner's alone: under umask 022 every spool and database file
the library writes is 0600, in directories it makes 0700 (issue 17 item 6)."""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path

import pytest

from agentsight_otel._config import resolve_settings
from agentsight_otel._delivery.client import IngestClient, RetryPolicy
from agentsight_otel._delivery.transport import HttpResponse
from agentsight_otel._export.redelivery import Redelivery
from agentsight_otel._export.stats import DeliveryStats
from agentsight_otel._private import create_private
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY, FakeClock, ScriptedTransport
from tests.attachments.test_server_uploads import PDF, Client, body_of, message
from tests.support.private import assert_private, modes

INGEST = "/api/ingest/"


def redelivery(directory: Path, transport: ScriptedTransport) -> Redelivery:
    """The exporter's spool and its sender, on a scripted backend."""
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint="https://agentsight.test")
    client = IngestClient(settings, transport, clock=FakeClock(), policy=RetryPolicy(1))
    return Redelivery(str(directory), 1_000_000, client, DeliveryStats(), max_strikes=1)


def body(cid: str) -> bytes:
    """An ingest body of one conversation."""
    return b'{"sdk": {}, "conversations": [{"conversation_id": "%s", "spans": []}]}' % cid.encode()


@pytest.mark.usefixtures("umask_022")
def test_the_exporter_spool_and_what_it_sets_aside_are_private(tmp_path: Path) -> None:
    spool = tmp_path / "made" / "by" / "the library"
    held = redelivery(spool, ScriptedTransport().script(INGEST, HttpResponse(503)))
    for cid in ("a", "b"):
        held.hold(body(cid), 1, "test")
    poisoned = held.spool.claim_oldest()
    assert poisoned is not None
    assert held.spool.set_aside(poisoned) is not None
    assert (spool / "dead").is_dir() and len(held.spool.pending()) == 1
    assert_private(tmp_path / "made")


@pytest.mark.usefixtures("umask_022")
def test_an_existing_spool_open_to_others_is_narrowed_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    parent = tmp_path / "shared"
    spool = parent / "spool"
    spool.mkdir(parents=True, mode=0o755)
    held = redelivery(spool, ScriptedTransport())
    with caplog.at_level(logging.WARNING, "agentsight_otel"):
        held.hold(body("a"), 1, "test")
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert stat.S_IMODE(parent.stat().st_mode) == 0o755  # not the library's: left alone
    assert any("narrowed to 0700" in record.getMessage() for record in caplog.records)
    assert_private(spool)


@pytest.mark.usefixtures("umask_022")
def test_new_private_files_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    os.umask(0o000)
    os.close(create_private(tmp_path / "anyone"))
    assert stat.S_IMODE((tmp_path / "anyone").stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):  # never opens a file someone else put there
        create_private(tmp_path / "anyone")


@pytest.mark.usefixtures("umask_022")
def test_the_local_server_database_its_journal_and_uploads_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LocalServer(data / "server.db", api_keys=[TEST_API_KEY]) as running:
        api = Client(running)
        pk = api.conversation("private-files")
        api.ingest_turn("private-files", message("a receipt, please"))
        answer = api.upload(
            body_of("base64", pk, [{"data": base64.b64encode(PDF).decode(), "filename": "r.pdf"}])
        )
        assert answer.status_code == 201, answer.text
        names = set(modes(data))
        assert {"server.db", "server.db-wal", "server.db-shm", "server.db.files"} <= names
        assert any(name.startswith("server.db.files/") and "/" in name[16:] for name in names)
        assert_private(data)
        api.session.close()
    assert_private(data)


@pytest.mark.usefixtures("umask_022")
def test_an_existing_database_open_to_others_is_narrowed(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.mkdir(mode=0o755)
    database = users / "server.db"
    LocalServer(database).store.close()
    database.chmod(0o644)
    with LocalServer(database, api_keys=[TEST_API_KEY]) as running:
        Client(running).conversation("again")
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
        assert stat.S_IMODE(users.stat().st_mode) == 0o755  # the user's: left alone
