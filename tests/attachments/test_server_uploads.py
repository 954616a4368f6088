"""The local server's POST /api/attachments/: stored on disk by content, limits, links, reads."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from agentsight_otel._attachments import MAX_FILE_BYTES, prepare
from agentsight_otel._attachments.body import Fields, UploadBody, json_body, multipart_body
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY
from tests.support.local import rendered_transcript

from .helpers import pdf_bytes, png_bytes

PDF, PNG = pdf_bytes(), png_bytes()
STAMP = "2026-11-21T05:00:01.000000+00:00"


class Client:
    """requests against one LocalServer."""

    def __init__(self, server: LocalServer) -> None:
        self.url = server.url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Api-Key {TEST_API_KEY}"

    def conversation(self, cid: str) -> str:
        """Upsert a conversation; its pk."""
        answer = self.session.post(f"{self.url}/api/conversations/", json={"conversation_id": cid})
        return str(answer.json()["id"])

    def upload(
        self, body: UploadBody | bytes, content_type: str | None = None
    ) -> requests.Response:
        """POST an upload body (streamed when it is an UploadBody)."""
        kind = content_type or (body.content_type if isinstance(body, UploadBody) else "")
        return self.session.post(
            f"{self.url}/api/attachments/", data=body, headers={"Content-Type": kind}, timeout=30
        )

    def read(self, cid: str, part: str) -> Any:
        """A read endpoint as JSON."""
        answer = self.session.get(f"{self.url}/api/conversations/{cid}/{part}", timeout=10)
        answer.raise_for_status()
        return answer.json()

    def content(self, record: dict[str, Any]) -> bytes:
        """A stored file's bytes."""
        answer = self.session.get(self.url + record["content_url"], timeout=10)
        answer.raise_for_status()
        return answer.content

    def ingest_turn(self, cid: str, *events: dict[str, Any]) -> None:
        """One complete turn carrying message events."""
        span = {
            "span_id": "00000000000000a1",
            "trace_id": "0" * 31 + "1",
            "parent_span_id": None,
            "kind": "turn",
            "name": "turn",
            "started_at": STAMP,
            "ended_at": STAMP,
            "duration_ms": 0.0,
            "status": "ok",
            "attributes": {"agentsight.conversation.id": cid, "agentsight.turn.complete": True},
            "events": list(events),
            "otel": {},
        }
        body = {
            "sdk": {"name": "t", "version": "0"},
            "conversations": [{"conversation_id": cid, "spans": [span]}],
        }
        self.session.post(f"{self.url}/api/ingest/", json=body, timeout=10).raise_for_status()


def message(content: str, reference: str | None = None) -> dict[str, Any]:
    """A message event, carrying a file reference when given."""
    attributes = {"agentsight.message.sender": "end_user", "agentsight.message.content": content}
    if reference:
        attributes["agentsight.message.id"] = reference
    return {"name": "agentsight.message", "timestamp": STAMP, "attributes": attributes}


def fields(
    pk: str, *, metadata: dict[str, Any] | None = None, message: str | None = None
) -> Fields:
    """Upload fields for a conversation pk."""
    return Fields(pk, STAMP, "end_user", json.dumps(metadata or {}), message)


def body_of(mode: str, pk: str, files: list[Any], **kw: Any) -> UploadBody:
    """A request body built by the client's own builders."""
    batch = prepare(files, mode)
    build = json_body if mode == "base64" else multipart_body
    return build(fields(pk, **kw), batch.files)


@pytest.fixture
def api(server: LocalServer) -> Iterator[Client]:
    """A client for it."""
    client = Client(server)
    yield client
    client.session.close()


@pytest.mark.parametrize("mode", ["base64", "form_data"])
def test_uploads_are_stored_by_content_and_listed(
    server: LocalServer, api: Client, mode: str
) -> None:
    pk = api.conversation("files-1")
    data: Any = base64.b64encode(PDF).decode() if mode == "base64" else PDF
    files = [{"data": data, "filename": "a.pdf"}] + ([{"data": PNG}] if mode == "form_data" else [])
    answer = api.upload(body_of(mode, pk, files))
    assert answer.status_code == 201, answer.text
    stored = answer.json()
    assert (stored["conversation_id"], stored["mode"], stored["message"]) == ("files-1", mode, None)
    listed = api.read("files-1", "files/")["files"]
    assert [(f["filename"], f["mime_type"], f["size"]) for f in listed][:1] == [
        ("a.pdf", "application/pdf", len(PDF))
    ]
    assert api.content(listed[0]) == PDF
    digest = hashlib.sha256(PDF).hexdigest()
    assert listed[0]["sha256"] == digest
    assert (server.store.blobs.root / digest[:2] / digest).read_bytes() == PDF


def test_files_beside_the_database_and_deduplicated(tmp_path: Path) -> None:
    database = tmp_path / "local.sqlite3"
    with LocalServer(database, api_keys=[TEST_API_KEY]) as running:
        api = Client(running)
        pk = api.conversation("disk")
        for _ in range(2):
            assert api.upload(body_of("form_data", pk, [{"data": PDF}])).status_code == 201
        api.session.close()
    blobs = [p for p in (tmp_path / "local.sqlite3.files").rglob("*") if p.is_file()]
    digest = hashlib.sha256(PDF).hexdigest()
    assert [(p.name, p.read_bytes() == PDF) for p in blobs] == [(digest, True)]
    with LocalServer(database, api_keys=[TEST_API_KEY]) as again:  # survives a restart
        api = Client(again)
        assert len(api.read("disk", "files/")["files"]) == 2
        api.session.close()


def test_a_memory_store_removes_its_files_on_close() -> None:
    with LocalServer(api_keys=[TEST_API_KEY]) as running:
        api = Client(running)
        api.upload(body_of("form_data", api.conversation("tmp"), [{"data": PNG}]))
        root = running.store.blobs.root
        assert any(root.rglob("*"))
        api.session.close()
    assert not root.exists()


def test_files_appear_under_their_message(api: Client) -> None:
    pk = api.conversation("linked")
    # The upload may arrive before the spans of its message: the link resolves when read.
    metadata = {"agentsight.message.id": "ref-1"}
    api.upload(body_of("form_data", pk, [{"data": PDF, "filename": "inv.pdf"}], metadata=metadata))
    api.ingest_turn("linked", message("invoice attached", "ref-1"), message("no files"))
    first, second = api.read("linked", "transcript/")["messages"]
    assert [f["filename"] for f in first["files"]] == ["inv.pdf"]
    assert second["files"] == []
    (listed,) = api.read("linked", "files/")["files"]
    assert listed["message"] == {
        "id": first["id"],
        "sender": "end_user",
        "content": "invoice attached",
        "timestamp": STAMP,
    }
    # A message pk (the contract's "message" field) links too.
    answer = api.upload(
        body_of("base64", pk, [{"data": base64.b64encode(PNG).decode()}], message=str(second["id"]))
    )
    assert answer.json()["message"] == second["id"]
    text = rendered_transcript(lambda part: api.read("linked", part))
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "invoice attached" in line)
    assert lines[at + 1].strip() == f"+ attached inv.pdf ({len(PDF)} B, application/pdf)"
    at = next(i for i, line in enumerate(lines) if "no files" in line)
    assert lines[at + 1].strip().startswith("+ attached attachment-1.png")


def test_bad_references_and_fields(api: Client) -> None:
    pk = api.conversation("refs")
    other = api.conversation("other")
    api.ingest_turn("other", message("elsewhere"))
    foreign = api.read("other", "transcript/")["messages"][0]["id"]
    answer = api.upload(body_of("form_data", pk, [{"data": PDF}], message=str(foreign)))
    assert (answer.status_code, answer.json()) == (404, {"detail": "Message not found."})
    answer = api.upload(body_of("form_data", "9999", [{"data": PDF}]))
    assert answer.status_code == 400 and "conversation" in answer.json()["errors"]
    bad = Fields(other, "yesterday", "bot", "[1]")
    answer = api.upload(json_body(bad, prepare([{"data": PDF}], "form_data").files))
    assert answer.status_code == 400
    assert set(answer.json()["errors"]) == {"sender", "timestamp", "metadata"}
    assert api.read("refs", "files/")["files"] == []


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (
            b'{"conversation": "1", "sender": "end_user", "attachments": [{"filename": "a",'
            b' "data": "!!!!"}]}',
            "application/json",
            400,
        ),
        (
            b'{"conversation": "1", "sender": "end_user", "attachments": []}',
            "application/json",
            400,
        ),
        (b"not json", "application/json", 400),
        (
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nv',
            "multipart/form-data; boundary=x",
            400,
        ),
        (b"data", "text/plain", 415),
    ],
)
def test_malformed_uploads(api: Client, raw: bytes, content_type: str, status: int) -> None:
    api.conversation("bad")
    assert api.upload(raw, content_type).status_code == status


def test_413_past_ten_files(api: Client) -> None:
    pk = api.conversation("many")
    small = Fields(pk, STAMP, "end_user", "{}")
    files = prepare([{"data": PDF}] * 10, "form_data").files
    for build in (json_body, multipart_body):
        answer = api.upload(build(small, [*files, files[0]]))
        assert answer.status_code == 413, answer.text
    assert api.upload(multipart_body(small, files)).status_code == 201


def test_413_past_25_mb_a_file_and_40_mb_a_request(
    server: LocalServer, api: Client, tmp_path: Path
) -> None:
    pk = api.conversation("big")
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:  # sparse: no memory, little disk
        handle.truncate(MAX_FILE_BYTES)
    limit = prepare([big], "form_data").files[0]
    # One byte over the per-file limit (built by hand: the client refuses to).
    boundary = "fixed-boundary"
    parts = multipart_body(fields(pk), [limit], boundary=boundary).parts
    parts.insert(-2, b"+")  # the file part grows by one byte
    answer = api.upload(UploadBody(parts, f"multipart/form-data; boundary={boundary}"))
    assert answer.status_code == 413, answer.text
    text = base64.b64encode(bytes(MAX_FILE_BYTES + 1)).decode()
    document = {
        "conversation": pk,
        "sender": "end_user",
        "attachments": [{"filename": "z", "data": text}],
    }
    assert api.upload(json.dumps(document).encode(), "application/json").status_code == 413
    # Two files of 21 MB each: each within its limit, together over 40 MB.
    half = tmp_path / "half.bin"
    with open(half, "wb") as handle:
        handle.truncate(21 * 1024 * 1024)
    halves = prepare([half], "form_data").files * 2
    assert api.upload(multipart_body(fields(pk), halves)).status_code == 413
    assert api.read("big", "files/")["files"] == []
    assert not [p for p in server.store.blobs.root.rglob("*") if p.is_file()]
    # Exactly at the per-file limit is accepted.
    assert api.upload(multipart_body(fields(pk), [limit])).status_code == 201


def test_uploads_need_an_api_key(server: LocalServer) -> None:
    answer = requests.post(f"{server.url}/api/attachments/", json={}, timeout=10)
    assert answer.status_code == 401
    answer = requests.get(f"{server.url}/api/attachments/1/content/", timeout=10)
    assert answer.status_code == 401


def test_unknown_file_is_a_404(api: Client) -> None:
    answer = api.session.get(f"{api.url}/api/attachments/999/content/", timeout=10)
    assert answer.status_code == 404


@pytest.mark.parametrize(
    ("conversation", "message_pk"),
    [
        ("99999999999999999999", None),
        (99999999999999999999, None),
        ("9" * 5000, None),
        ("1", "99999999999999999999"),
        ("1", 2**63),
    ],
)
def test_pks_sqlite_cannot_hold_are_field_errors(
    api: Client, conversation: object, message_pk: object
) -> None:
    api.conversation("huge")
    fields: dict[str, object] = {"conversation": conversation, "sender": "end_user"}
    if message_pk is not None:
        fields["message"] = message_pk
    item = {"filename": "a.pdf", "data": base64.b64encode(PDF).decode()}
    answer = api.session.post(
        f"{api.url}/api/attachments/", json={**fields, "attachments": [item]}, timeout=10
    )
    assert answer.status_code == 400
    assert set(answer.json()["errors"]) == {"message" if message_pk else "conversation"}
