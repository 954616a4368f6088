"""End to end over real HTTP on 127.0.0.1: tracked files arrive intact, under their message."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from agentsight_otel import ConversationTracker
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY
from tests.support.local import read_local, rendered_transcript

from .helpers import pdf_bytes, png_bytes

PDF, PNG = pdf_bytes(150_000), png_bytes(2_500_000)
HEADERS = {"Authorization": f"Api-Key {TEST_API_KEY}"}


@pytest.fixture
def tracker(server: LocalServer) -> Iterator[ConversationTracker]:
    """A tracker with its private pipeline, sending to the server."""
    tracked = ConversationTracker(
        api_key=TEST_API_KEY, endpoint=server.url, _ledger=DeliveryLedger()
    )
    yield tracked
    tracked.shutdown(5)


def download(server: LocalServer, record: dict[str, Any]) -> bytes:
    """A stored file's bytes, over HTTP."""
    answer = requests.get(server.url + record["content_url"], headers=HEADERS, timeout=10)
    answer.raise_for_status()
    return answer.content


@pytest.mark.parametrize("mode", ["base64", "form_data"])
def test_pdf_and_png_arrive_byte_identical_under_their_message(
    server: LocalServer, tracker: ConversationTracker, mode: str
) -> None:
    cid = f"e2e-files-{mode}"
    tracker.get_or_create_conversation(cid, name="Invoice question")
    files: list[dict[str, Any]]
    if mode == "base64":
        files = [
            {
                "filename": "invoice.pdf",
                "data": base64.b64encode(PDF).decode(),
                "mime_type": "application/pdf",
            },
            {"filename": "screenshot.png", "data": base64.b64encode(PNG).decode()},
        ]
    else:
        files = [{"data": PDF, "filename": "invoice.pdf"}, {"data": PNG}]
    tracker.track_human_message(
        "Here is my invoice and a screenshot", attachments=files, attachment_mode=mode
    )
    tracker.track_agent_message("Thanks, looking now.")
    result = tracker.send_tracked_data(timeout=15)
    assert result["status"] == "delivered", result
    assert result["summary"] == {
        "questions": 1,
        "answers": 1,
        "actions": 0,
        "buttons": 0,
        "attachments": 1,
        "errors": 0,
        "pending": 0,
    }

    question, answer = read_local(server.url, cid, "transcript/")["messages"]
    assert question["content"] == "Here is my invoice and a screenshot"
    expected_png = "screenshot.png" if mode == "base64" else "attachment-2.png"
    assert [(f["filename"], f["mime_type"], f["size"], f["mode"]) for f in question["files"]] == [
        ("invoice.pdf", "application/pdf", len(PDF), mode),
        (expected_png, "image/png", len(PNG), mode),
    ]
    assert [download(server, f) for f in question["files"]] == [PDF, PNG]
    assert answer["files"] == []
    listed = read_local(server.url, cid, "files/")["files"]
    assert {f["message"]["id"] for f in listed} == {question["id"]}
    (record,) = read_local(server.url, cid, "attachments/")["attachments"]
    assert [f["filename"] for f in record["files"]] == ["invoice.pdf", expected_png]

    text = rendered_transcript(lambda part: read_local(server.url, cid, part))
    lines = [line.strip() for line in text.splitlines()]
    at = next(i for i, line in enumerate(lines) if "Here is my invoice" in line)
    assert lines[at + 1 : at + 3] == [
        f"+ attached invoice.pdf ({len(PDF)} B, application/pdf)",
        f"+ attached {expected_png} ({len(PNG)} B, image/png)",
    ]


def test_paths_and_open_files_stream_to_the_server(
    server: LocalServer, tracker: ConversationTracker, tmp_path: Path
) -> None:
    pdf_path = tmp_path / "contract.pdf"
    pdf_path.write_bytes(PDF)
    png_path = tmp_path / "photo.png"
    png_path.write_bytes(PNG)
    tracker.get_or_create_conversation("e2e-paths")
    with open(png_path, "rb") as handle:
        item = tracker.track_attachments(
            [pdf_path, {"data": handle}], mode="form_data", sender="agent"
        )
    pdf_path.unlink()  # already opened: the upload still has it
    assert [f["filename"] for f in item["files"]] == ["contract.pdf", "photo.png"]
    result = tracker.send_tracked_data(timeout=15)
    assert result["status"] == "delivered", result
    listed = read_local(server.url, "e2e-paths", "files/")["files"]
    assert [(f["filename"], f["sender"], f["message"]) for f in listed] == [
        ("contract.pdf", "agent", None),
        ("photo.png", "agent", None),
    ]
    assert [download(server, f) for f in listed] == [PDF, PNG]
