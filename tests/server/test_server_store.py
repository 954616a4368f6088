"""Store semantics over HTTP: upserts, de-duplication, use flag and what each kind projects."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from agentsight_otel._server.app import split_conversation_path
from agentsight_otel._server.projections import timestamp_micros
from agentsight_otel._server.schema import SCHEMA
from agentsight_otel._server.store import _SPAN_COLUMNS
from agentsight_otel.server import LocalServer, Store
from tests.server.server_helpers import CID, Api, StartServer, at, block, body, message, span, turn


def test_conversation_only_block_is_not_used_until_a_turn(api: Api) -> None:
    visit = span("conversation", status="unset")
    assert api.ingest(body(block(visit, name="Visit"))).status_code == 200
    assert api.read(CID)["is_used"] is False
    assert api.read(CID)["name"] == "Visit"
    assert api.ingest(body(block(turn(message("end_user", "hello", 1))))).status_code == 200
    conversation = api.read(CID)
    assert conversation["is_used"] is True
    assert conversation["name"] == "Visit"


@pytest.mark.parametrize("kind", ["tool", "llm", "custom-kind"])
def test_any_other_kind_marks_the_conversation_used(api: Api, kind: str) -> None:
    assert api.ingest(body(block(span(kind)))).status_code == 200
    assert api.read(CID)["is_used"] is True


def test_incomplete_turn_is_projected_marked_and_continued_by_a_new_turn(api: Api) -> None:
    unfinished = turn(message("end_user", "are you there?", 1), complete=False)
    unfinished["attributes"]["agentsight.turn.incomplete_reason"] = "abandoned"
    response = api.ingest(body(block(unfinished)))
    assert response.json()["accepted"]["spans"] == 1
    (kept,) = api.read(CID, "transcript")["messages"]
    assert (kept["content"], kept["turn_complete"], kept["incomplete_reason"]) == (
        "are you there?",
        False,
        "abandoned",
    )
    # Delivered again (a retry), it is the same span: dropped, not shown twice.
    assert api.ingest(body(block(unfinished))).json()["accepted"]["duplicates"] == 1
    later = turn(message("end_user", "hello again", 3), message("agent", "yes", 4))
    api.ingest(body(block(later)))
    messages = api.read(CID, "transcript")["messages"]
    assert [(m["content"], m["turn_complete"], m["incomplete_reason"]) for m in messages] == [
        ("are you there?", False, "abandoned"),
        ("hello again", True, None),
        ("yes", True, None),
    ]
    assert messages[0]["turn_id"] != messages[1]["turn_id"]


def test_a_database_from_before_gets_its_incomplete_turns_messages_once(tmp_path: Path) -> None:
    """A database written when incomplete turns were archived only: opening it projects them."""
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        SCHEMA.replace(",\n    turn_complete INTEGER NOT NULL DEFAULT 1", "").replace(
            ",\n    incomplete_reason TEXT", ""
        )
    )
    old.execute(
        "INSERT INTO conversations (conversation_id, is_used, created_at, updated_at)"
        " VALUES (?, 1, ?, ?)",
        (CID, at(0), at(0)),
    )
    unfinished = turn(message("end_user", "left open", 1), complete=False)
    unfinished["attributes"]["agentsight.turn.incomplete_reason"] = "shutdown"
    finished = turn(message("end_user", "answered", 2), start=2)
    for stored in (unfinished, finished):
        old.execute(
            f"INSERT INTO spans (conversation, {', '.join(_SPAN_COLUMNS)}, raw, received_at)"
            f" VALUES (1, {', '.join('?' for _ in _SPAN_COLUMNS)}, ?, ?)",
            (*(stored[key] for key in _SPAN_COLUMNS), json.dumps(stored), at(3)),
        )
    old.execute(
        "INSERT INTO messages (conversation, span_id, turn_id, sender, content, metadata,"
        " timestamp, ts_us) VALUES (1, ?, ?, 'end_user', 'answered', '{}', ?, ?)",
        (finished["span_id"], finished["span_id"], at(2), timestamp_micros(at(2))),
    )
    old.commit()
    old.close()
    for _ in range(2):  # the second opening finds nothing left to do
        store = Store(path)
        marked = [
            (m["content"], m["turn_complete"], m["incomplete_reason"]) for m in store.messages(CID)
        ]
        store.close()
        assert marked == [("left open", False, "shutdown"), ("answered", True, None)]


def test_transcript_orders_by_event_time_across_turns_and_offsets(api: Api) -> None:
    later = turn(message("end_user", "second question", 30), message("agent", "second answer", 31))
    early = turn(message("end_user", "first question", 10))
    # 07:00:20+02:00 is 05:00:20 UTC: between the two turns despite sorting last as text.
    early["events"].append(message("agent", "first answer", 0))
    early["events"][-1]["timestamp"] = "2026-11-21T07:00:20.000000+02:00"
    api.ingest(body(block(later)))
    api.ingest(body(block(early)))
    contents = [m["content"] for m in api.read(CID, "transcript")["messages"]]
    assert contents == ["first question", "first answer", "second question", "second answer"]


def test_same_timestamp_keeps_arrival_order(api: Api) -> None:
    api.ingest(body(block(turn(message("end_user", "a", 5), message("agent", "b", 5)))))
    assert [m["content"] for m in api.read(CID, "transcript")["messages"]] == ["a", "b"]


def test_duplicate_span_id_is_ignored_even_with_new_content(api: Api) -> None:
    original = turn(message("end_user", "original", 1))
    api.ingest(body(block(original)))
    replay = turn(message("end_user", "rewritten", 1))
    replay["span_id"] = original["span_id"]
    response = api.ingest(body(block(replay, replay)))
    assert response.json()["accepted"] == {"conversations": 1, "spans": 0, "duplicates": 2}
    assert [m["content"] for m in api.read(CID, "transcript")["messages"]] == ["original"]


def test_span_ids_are_unique_per_conversation_only(api: Api) -> None:
    shared = "00000000000000aa"
    first = span("tool", span_id=shared, conversation_id="a")
    second = span("tool", span_id=shared, conversation_id="b")
    response = api.ingest(
        body(block(first, conversation_id="a"), block(second, conversation_id="b"))
    )
    assert response.json()["accepted"] == {"conversations": 2, "spans": 2, "duplicates": 0}


def test_later_fields_win_and_metadata_is_replaced(api: Api) -> None:
    api.ingest(body(block(name="First", device="web", metadata={"a": 1, "b": 2})))
    api.ingest(body(block(name="Second", metadata={"c": 3})))
    conversation = api.read(CID)
    assert conversation["name"] == "Second"
    assert conversation["device"] == "web"
    assert conversation["metadata"] == {"c": 3}


def test_actions_cover_tasks_escalations_and_bad_arguments(api: Api) -> None:
    escalate = span(
        "task", name="escalate", attributes={"agentsight.tool.name": "fallback_to_human"}
    )
    odd = span("tool", start=1, attributes={"agentsight.tool.arguments": "not json"})
    api.ingest(body(block(escalate, odd)))
    first, second = api.read(CID, "actions")["actions"]
    assert first["name"] == "fallback_to_human"
    assert first["kind"] == "task"
    assert first["escalation"] is True
    assert first["arguments"] is None
    assert second["arguments"] == "not json"
    assert second["name"] == "tool"


def test_usage_sums_every_category_per_model(api: Api) -> None:
    def call(model: str, tokens_in: int, tokens_out: int, **extra: int) -> dict[str, object]:
        attributes = {
            "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": tokens_in,
            "gen_ai.usage.output_tokens": tokens_out,
            **{f"agentsight.llm.{key}": value for key, value in extra.items()},
        }
        return span("llm", attributes=attributes)

    calls = [
        call("m1", 10, 5, cache_read_tokens=100, reasoning_tokens=3),
        call("m1", 1, 1, cache_write_tokens=7),
        call("m2", 2, 2),
    ]
    api.ingest(body(block(*calls)))
    usage = api.read(CID, "usage")
    assert usage["totals"] == {
        "input_tokens": 13,
        "output_tokens": 8,
        "cache_read_tokens": 100,
        "cache_write_tokens": 7,
        "reasoning_tokens": 3,
        "total_tokens": 128,
        "calls": 3,
    }
    assert usage["by_model"]["m1"]["calls"] == 2
    assert usage["by_model"]["m2"]["total_tokens"] == 4


def test_conversation_upsert_returns_a_stable_id(api: Api) -> None:
    first = api.session.post(f"{api.url}/api/conversations/", json={"conversation_id": "up"})
    assert first.status_code == 201, first.text
    again = api.session.post(
        f"{api.url}/api/conversations/", json={"conversation_id": "up", "environment": "DEV"}
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["conversation_id"] == "up"
    api.ingest(body(block(span("tool", conversation_id="up"), conversation_id="up")))
    conversation = api.read("up")
    assert conversation["id"] == first.json()["id"]
    assert conversation["environment"] == "development"


@pytest.mark.parametrize(
    ("payload", "field"),
    [({}, "conversation_id"), ({"conversation_id": "x", "environment": "qa"}, "environment")],
)
def test_conversation_upsert_validates(api: Api, payload: dict[str, str], field: str) -> None:
    response = api.session.post(f"{api.url}/api/conversations/", json=payload)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert api.conversation_ids() == []


def test_upserted_conversation_is_not_used(api: Api) -> None:
    api.session.post(f"{api.url}/api/conversations/", json={"conversation_id": "fresh"})
    assert api.read("fresh")["is_used"] is False


@pytest.mark.parametrize(
    "resource", ["", "transcript/", "actions/", "buttons/", "attachments/", "usage/", "spans/"]
)
def test_unknown_conversation_is_404(api: Api, resource: str) -> None:
    response = api.get(f"/api/conversations/missing/{resource}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Conversation not found."}


@pytest.mark.parametrize("conversation_id", ["a/b", "a/transcript", "spaces and ?#%", "ünï-😀"])
def test_any_conversation_id_round_trips_through_the_url(api: Api, conversation_id: str) -> None:
    turn_span = turn(message("agent", "hi", 1), conversation_id=conversation_id)
    api.ingest(body(block(turn_span, conversation_id=conversation_id)))
    assert api.read(conversation_id)["conversation_id"] == conversation_id
    assert len(api.read(conversation_id, "transcript")["messages"]) == 1


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (b"/api/conversations/abc/", ("abc", None)),
        (b"/api/conversations/abc/usage/", ("abc", "usage")),
        (b"/api/conversations/a%2Fusage/", ("a/usage", None)),
        (b"/api/conversations/a/b/actions/", ("a/b", "actions")),
        (b"/api/conversations/transcript/", ("transcript", None)),
        (b"/api/conversations/abc", None),
        (b"/api/conversations//", None),
        (b"/api/conversations/%FF/", None),
    ],
)
def test_split_conversation_path(path: bytes, expected: tuple[str, str | None] | None) -> None:
    assert split_conversation_path(path) == expected


def test_file_database_survives_a_restart(start_server: StartServer, tmp_path: Path) -> None:
    path = tmp_path / "nested" / "local.db"
    _, client = start_server(db_path=path)
    client.ingest(body(block(turn(message("end_user", "kept", 1)))))
    with LocalServer(path) as again:
        assert again.store.messages(CID)[0]["content"] == "kept"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_ingest_is_one_transaction(tmp_path: Path) -> None:
    store = Store(tmp_path / "t.db")
    broken = span("tool", conversation_id="t")
    del broken["status"]
    with pytest.raises(KeyError):
        store.ingest([block(span("tool", conversation_id="t"), broken, conversation_id="t")])
    assert store.conversations() == []
    store.close()


def test_store_reads_of_unknown_conversations_are_empty() -> None:
    store = Store()
    assert store.conversation("nope") is None
    assert store.messages("nope") == []
    assert store.usage("nope")["totals"]["total_tokens"] == 0
    assert store.usage("nope")["by_model"] == {}
    store.close()


def test_timestamps_are_kept_as_sent(api: Api) -> None:
    api.ingest(body(block(span("button", start=3, attributes={"agentsight.button.label": "Go"}))))
    (button,) = api.read(CID, "buttons")["buttons"]
    assert button["timestamp"] == at(3)
    assert button["label"] == "Go"
    assert button["metadata"] == {}


def test_concurrent_ingests_are_all_stored(api: Api) -> None:
    def send(index: int) -> int:
        cid = f"parallel-{index}"
        payload = body(
            block(turn(message("end_user", "hi", 1), conversation_id=cid), conversation_id=cid)
        )
        response = requests.post(
            f"{api.url}/api/ingest/", json=payload, headers=dict(api.session.headers), timeout=10
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, range(24)))
    assert statuses == [200] * 24
    assert sorted(api.conversation_ids()) == sorted(f"parallel-{i}" for i in range(24))
