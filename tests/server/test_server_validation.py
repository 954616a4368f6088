"""Bad ingest bodies over real HTTP: 400 naming the bad blocks, and nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentsight_otel._server.validation import Rejection, validate_ingest
from tests.server.server_helpers import CID, Api, block, body, message, span, turn

Mutate = Callable[[dict[str, Any]], None]


def good_block(conversation_id: str = "good") -> dict[str, Any]:
    """A block that passes validation on its own."""
    return block(
        turn(message("end_user", "hi", 1), conversation_id=conversation_id),
        span("tool", conversation_id=conversation_id, attributes={"agentsight.tool.name": "x"}),
        conversation_id=conversation_id,
    )


def first_span(mutate: Callable[[dict[str, Any]], None]) -> Mutate:
    """A mutation applied to the first span of the block."""
    return lambda bad: mutate(bad["spans"][0])


def first_event(mutate: Callable[[dict[str, Any]], None]) -> Mutate:
    """A mutation applied to the first event of the first span."""
    return lambda bad: mutate(bad["spans"][0]["events"][0])


CASES: list[tuple[str, Mutate, str]] = [
    ("empty-id", lambda b: b.update(conversation_id=""), "conversation_id"),
    ("long-id", lambda b: b.update(conversation_id="c" * 256), "conversation_id"),
    ("number-id", lambda b: b.update(conversation_id=42), "conversation_id"),
    ("long-name", lambda b: b.update(name="n" * 256), "name"),
    ("number-customer", lambda b: b.update(customer_id=7), "customer_id"),
    ("null-device", lambda b: b.update(device=None), "device"),
    ("unknown-env", lambda b: b.update(environment="staging"), "environment"),
    ("list-metadata", lambda b: b.update(metadata=["a"]), "metadata"),
    ("unknown-key", lambda b: b.update(agent="x"), "agent"),
    ("spans-object", lambda b: b.update(spans={}), "spans"),
    ("no-spans", lambda b: b.pop("spans"), "spans"),
    ("span-not-object", lambda b: b["spans"].append("span"), "spans[2]"),
    ("upper-span-id", first_span(lambda s: s.update(span_id="ABCDEF0123456789")), "span_id"),
    ("short-span-id", first_span(lambda s: s.update(span_id="abc")), "span_id"),
    ("zero-span-id", first_span(lambda s: s.update(span_id="0" * 16)), "span_id"),
    ("short-trace-id", first_span(lambda s: s.update(trace_id="a" * 31)), "trace_id"),
    ("bad-parent", first_span(lambda s: s.update(parent_span_id="xyz")), "parent_span_id"),
    ("no-kind", first_span(lambda s: s.pop("kind")), "kind"),
    ("naive-start", first_span(lambda s: s.update(started_at="2026-11-21T05:00:00")), "started_at"),
    ("garbage-end", first_span(lambda s: s.update(ended_at="yesterday")), "ended_at"),
    ("negative-duration", first_span(lambda s: s.update(duration_ms=-1)), "duration_ms"),
    ("string-duration", first_span(lambda s: s.update(duration_ms="5")), "duration_ms"),
    ("bad-status", first_span(lambda s: s.update(status="failed")), "status"),
    ("null-attributes", first_span(lambda s: s.update(attributes=None)), "attributes"),
    (
        "attributes-without-id",
        first_span(lambda s: s["attributes"].pop("agentsight.conversation.id")),
        "attributes",
    ),
    (
        "attributes-other-conversation",
        first_span(lambda s: s["attributes"].update({"agentsight.conversation.id": "other"})),
        "attributes",
    ),
    ("events-object", first_span(lambda s: s.update(events={})), "events"),
    ("event-no-timestamp", first_event(lambda e: e.pop("timestamp")), "events[0].timestamp"),
    ("event-attributes-list", first_event(lambda e: e.update(attributes=[])), "attributes"),
    ("otel-list", first_span(lambda s: s.update(otel=[])), "otel"),
]


@pytest.mark.parametrize(("mutate", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_block_is_named_and_nothing_is_stored(
    empty_api: Api, mutate: Mutate, field: str
) -> None:
    bad = good_block(CID)
    mutate(bad)
    response = empty_api.ingest(body(good_block(), bad))
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["truncated"] is False
    assert "rejected" in answer["detail"]
    (entry,) = answer["conversations"]
    assert entry["index"] == 1
    assert any(key.endswith(field) for key in entry["errors"]), entry["errors"]
    assert all(isinstance(m, str) for messages in entry["errors"].values() for m in messages)
    assert empty_api.conversation_ids() == []


def test_a_block_that_is_not_an_object_is_named(empty_api: Api) -> None:
    response = empty_api.ingest(body("block"))
    assert response.status_code == 400
    (entry,) = response.json()["conversations"]
    assert entry == {
        "index": 0,
        "conversation_id": None,
        "errors": {"non_field_errors": ["A conversation block must be a JSON object."]},
    }


def test_an_invalid_conversation_id_is_still_echoed(empty_api: Api) -> None:
    response = empty_api.ingest(body(block(conversation_id="x" * 300)))
    (entry,) = response.json()["conversations"]
    assert entry["conversation_id"] == "x" * 300


def test_more_than_twenty_bad_blocks_are_truncated(empty_api: Api) -> None:
    bad = [block(conversation_id=f"c{i}", environment="nope") for i in range(25)]
    response = empty_api.ingest(body(*bad))
    assert response.status_code == 400
    answer = response.json()
    assert len(answer["conversations"]) == 20
    assert answer["truncated"] is True
    assert answer["conversations"][-1]["conversation_id"] == "c19"
    assert "25" in answer["detail"]
    assert empty_api.conversation_ids() == []


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({**body(), "extra": 1}, "Unknown top-level key(s): extra"),
        ({"conversations": []}, "Missing top-level key(s): sdk"),
        ({"sdk": {"name": "x"}, "conversations": []}, "'sdk'"),
        ({"sdk": "x", "conversations": []}, "'sdk'"),
        ({"sdk": {"name": "x", "version": "1"}, "conversations": {}}, "'conversations'"),
        ([], "JSON object"),
    ],
    ids=[
        "unknown-key",
        "missing-sdk",
        "sdk-no-version",
        "sdk-string",
        "conversations-object",
        "list",
    ],
)
def test_top_level_problems_are_400_without_blocks(
    empty_api: Api, payload: object, detail: str
) -> None:
    response = empty_api.ingest(payload)
    assert response.status_code == 400
    answer = response.json()
    assert detail in answer["detail"]
    assert "conversations" not in answer
    assert empty_api.conversation_ids() == []


@pytest.mark.parametrize(
    ("given", "stored"),
    [("production", "production"), ("PROD", "production"), ("Dev", "development")],
)
def test_environment_aliases_are_normalised(api: Api, given: str, stored: str) -> None:
    response = api.ingest(body(block(conversation_id="env", environment=given)))
    assert response.status_code == 200, response.text
    assert api.read("env")["environment"] == stored


@pytest.mark.parametrize(
    "stamp",
    ["2026-11-21T05:00:00+00:00", "2026-11-21T05:00:00.123+02:00", "2026-11-21T05:00:00.123456Z"],
)
def test_timestamps_with_or_without_microseconds_are_accepted(stamp: str) -> None:
    good = good_block()
    good["spans"][0]["started_at"] = stamp
    good["spans"][0]["events"][0]["timestamp"] = stamp
    assert isinstance(validate_ingest(body(good)), list)


def test_validation_returns_normalised_copies() -> None:
    original = block(conversation_id="a", environment="dev")
    outcome = validate_ingest(body(original))
    assert outcome == [{**original, "environment": "development"}]
    assert original["environment"] == "dev"


def test_rejection_without_blocks_is_detail_only() -> None:
    outcome = validate_ingest({"sdk": {}, "conversations": []})
    assert isinstance(outcome, Rejection)
    assert set(outcome.to_json()) == {"detail"}
