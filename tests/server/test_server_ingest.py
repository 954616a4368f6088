"""POST /api/ingest/ over real HTTP: the vendor's sample, duplicates, gzip and size limits."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest

from agentsight_otel.server import LocalServer
from tests.server.server_helpers import (
    KEY,
    Api,
    StartServer,
    block,
    body,
    load_sample,
    message,
    turn,
)

SAMPLE_CID = "web-1"


@pytest.fixture(scope="module")
def loaded() -> Iterator[Api]:
    """One server holding the sample, shared by the read-only tests below."""
    with LocalServer() as running:
        client = Api(running.url)
        response = client.ingest(load_sample())
        assert response.status_code == 200, response.text
        yield client
        client.session.close()


def snapshot(client: Api, conversation_id: str) -> dict[str, Any]:
    """Everything the read API says about one conversation."""
    resources = ("", "transcript", "actions", "buttons", "attachments", "usage", "spans")
    return {name: client.read(conversation_id, name) for name in resources}


def test_sample_is_accepted_with_its_conversation_fields(api: Api) -> None:
    response = api.ingest(load_sample())
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": {"conversations": 1, "spans": 7, "duplicates": 0}}
    conversation = api.read(SAMPLE_CID)
    assert conversation["is_used"] is True
    assert conversation["customer_id"] == "u-1"
    assert conversation["customer_ip_address"] == "203.0.113.7"
    assert conversation["name"] == "Password Reset"
    assert conversation["environment"] == "production"
    assert conversation["metadata"] == {"session_id": "abc123"}
    assert isinstance(conversation["id"], int)


def test_sample_transcript_has_both_messages_in_order(loaded: Api) -> None:
    messages = loaded.read(SAMPLE_CID, "transcript")["messages"]
    assert [(m["sender"], m["content"]) for m in messages] == [
        ("end_user", "How do I reset my password?"),
        ("agent", "Click 'Forgot Password' on the login page."),
    ]
    assert messages[0]["metadata"] == {"message_id": "msg_001"}
    assert messages[1]["metadata"] == {"model": "gpt-4"}
    assert {m["turn_id"] for m in messages} == {"ddae4d33bb5f6b17"}
    assert messages[0]["timestamp"] == "2026-11-21T05:32:58.599903+00:00"


def test_sample_actions_keep_their_own_timing_and_errors(loaded: Api) -> None:
    actions = loaded.read(SAMPLE_CID, "actions")["actions"]
    assert [a["name"] for a in actions] == ["database_lookup", "send_email"]
    lookup, email = actions
    assert lookup["kind"] == "tool"
    assert lookup["status"] == "ok"
    assert lookup["duration_ms"] == pytest.approx(50.386)
    assert lookup["arguments"] == {"db": "PostgreSQL"}
    assert lookup["response"] == "User found"
    assert lookup["error"] is None
    assert email["status"] == "error"
    assert email["error"] == "smtp down"
    assert email["started_at"] == "2026-11-21T05:32:58.650757+00:00"
    assert email["ended_at"] == "2026-11-21T05:32:58.653577+00:00"
    assert not lookup["escalation"]
    assert not email["escalation"]


def test_sample_button_attachment_and_usage(loaded: Api) -> None:
    (button,) = loaded.read(SAMPLE_CID, "buttons")["buttons"]
    assert button["event"] == "user_confirmation"
    assert button["label"] == "Confirm Order"
    assert button["value"] == "order_123"
    assert button["metadata"] == {"price": 99.99}
    (record,) = loaded.read(SAMPLE_CID, "attachments")["attachments"]
    assert record["sender"] == "end_user"
    assert record["count"] == 1
    assert record["files"] == [
        {"filename": "report.pdf", "size": 1234, "mime_type": "application/pdf"}
    ]
    usage = loaded.read(SAMPLE_CID, "usage")
    assert usage["totals"]["input_tokens"] == 100
    assert usage["totals"]["output_tokens"] == 25
    assert usage["totals"]["total_tokens"] == 125
    assert usage["totals"]["calls"] == 1
    assert usage["by_model"]["gpt-4o-mini-2024-07-18"]["input_tokens"] == 100


def test_sample_spans_are_archived_raw(loaded: Api) -> None:
    spans = loaded.read(SAMPLE_CID, "spans")["spans"]
    assert spans == load_sample()["conversations"][0]["spans"]


def test_list_counts_what_each_conversation_holds(loaded: Api) -> None:
    (item,) = loaded.get("/api/conversations/").json()["results"]
    assert item["conversation_id"] == SAMPLE_CID
    assert item["is_used"] is True
    assert item["counts"] == {
        "spans": 7,
        "messages": 2,
        "actions": 2,
        "buttons": 1,
        "attachments": 1,
        "llm_calls": 1,
    }


def test_reposting_reports_duplicates_and_changes_nothing(api: Api) -> None:
    assert api.ingest(load_sample()).status_code == 200
    before = snapshot(api, SAMPLE_CID)
    response = api.ingest(load_sample())
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": {"conversations": 1, "spans": 0, "duplicates": 7}}
    assert snapshot(api, SAMPLE_CID) == before


def test_gzip_body_is_accepted(api: Api) -> None:
    raw = json.dumps(load_sample()).encode()
    response = api.post_bytes("/api/ingest/", gzip.compress(raw), **{"Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"]["spans"] == 7
    assert len(api.read(SAMPLE_CID, "transcript")["messages"]) == 2


def test_gzip_is_refused_when_the_capability_is_off(start_server: StartServer) -> None:
    _, client = start_server(capabilities=())
    assert client.get("/api/me/").json()["capabilities"] == []
    data = gzip.compress(json.dumps(load_sample()).encode())
    response = client.post_bytes("/api/ingest/", data, **{"Content-Encoding": "gzip"})
    assert response.status_code == 415
    assert "gzip" in response.json()["detail"]
    assert client.conversation_ids() == []


def test_unknown_content_encoding_is_refused(api: Api) -> None:
    response = api.post_bytes("/api/ingest/", b"{}", **{"Content-Encoding": "br"})
    assert response.status_code == 415
    assert "Content-Encoding" in response.json()["detail"]


def test_oversized_raw_body_is_413_and_stores_nothing(start_server: StartServer) -> None:
    _, client = start_server(max_body_bytes=8 * 1024)
    data = json.dumps(load_sample()).encode()
    assert len(data) > 8 * 1024
    response = client.post_bytes("/api/ingest/", data)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert client.conversation_ids() == []


def test_gzip_bomb_is_413_on_the_decompressed_size(start_server: StartServer) -> None:
    limit = 64 * 1024
    _, client = start_server(max_body_bytes=limit)
    padding = b" " * (16 * 1024 * 1024)
    bomb = gzip.compress(
        b'{"sdk": {"name": "x", "version": "1"},' + padding + b'"conversations": []}'
    )
    assert len(bomb) < limit
    response = client.post_bytes("/api/ingest/", bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "Decompressed" in response.json()["detail"]


@pytest.mark.parametrize(
    ("data", "headers", "status", "detail"),
    [
        (b"{not json", {}, 400, "not valid JSON"),
        (b'{"sdk": NaN}', {}, 400, "not valid JSON"),
        (b"\xff\xfe{}", {}, 400, "not valid JSON"),
        (gzip.compress(b"{}")[:-6], {"Content-Encoding": "gzip"}, 400, "truncated"),
        (b"not gzip at all", {"Content-Encoding": "gzip"}, 400, "not valid gzip"),
        (b"{}", {"Content-Type": "text/plain"}, 415, "application/json"),
    ],
    ids=["syntax", "nan", "not-utf8", "truncated-gzip", "bad-gzip", "content-type"],
)
def test_unreadable_bodies_are_refused(
    api: Api, data: bytes, headers: dict[str, str], status: int, detail: str
) -> None:
    response = api.post_bytes("/api/ingest/", data, **headers)
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]


def test_multi_member_gzip_is_accepted(api: Api) -> None:
    raw = json.dumps(body(block(turn(message("end_user", "hi", 1))))).encode()
    middle = len(raw) // 2
    data = gzip.compress(raw[:middle]) + gzip.compress(raw[middle:])
    response = api.post_bytes("/api/ingest/", data, **{"Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text


def test_empty_batch_is_accepted(api: Api) -> None:
    response = api.ingest(body())
    assert response.status_code == 200
    assert response.json() == {"accepted": {"conversations": 0, "spans": 0, "duplicates": 0}}


def test_ingest_needs_its_trailing_slash(api: Api) -> None:
    response = api.session.post(f"{api.url}/api/ingest", json=load_sample(), timeout=10)
    assert response.status_code == 404
    assert api.conversation_ids() == []


def test_me_describes_the_local_agent(api: Api) -> None:
    response = api.get("/api/me/")
    assert response.status_code == 200
    assert response.json() == {
        "agent_id": 1,
        "agent_name": "local",
        "role": "write",
        "agent": {"name": "local"},
        "capabilities": ["gzip-ingest"],
        "environments": ["production", "development"],
    }
    assert KEY not in response.text
