"""The vendor SDK as an oracle: one conversation tracked by ``agentsight`` 0.1.4 and by
agentsight_otel lands at the local server as the same conversation.

Both halves post over real HTTP to one ``LocalServer`` on 127.0.0.1, under two conversation
ids, and are compared through the server's read endpoints. The vendor half runs in a subprocess
(``oracle_vendor_driver.py``) because its SDK keeps process-wide state and an ``atexit`` hook.
No sleeps: the vendor's ``flush()`` and our ``send_tracked_data()`` receipts say when a batch
has been answered.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from agentsight_otel import ConversationTracker
from agentsight_otel._server.validation import Rejection, validate_ingest
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import fake_backend
from tests.contract.oracle_scenario import (
    API_KEY,
    CONVERSATION,
    TURNS,
    VISIT,
    Attachments,
    Button,
    Message,
    Step,
    Tool,
    Usage,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]  # the driver imports the scenario as tests.contract.oracle_scenario
DRIVER = HERE / "oracle_vendor_driver.py"
SAMPLE = HERE.parent / "data" / "ingest-sample.json"
VENDOR_CID = "oracle-vendor-1"
OURS_CID = "oracle-ours-1"
PHASES = ("visit", "engage")
FIELDS = (
    "customer_id",
    "customer_ip_address",
    "device",
    "source",
    "language",
    "name",
    "environment",
    "metadata",
    "is_used",
)
SEND_TIMEOUT = 30.0


class Reader:
    """The local server's read API, authenticated with the scenario's key."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Api-Key {API_KEY}"

    def get(self, conversation_id: str, resource: str = "") -> Any:
        """GET a conversation or one of its projections, asserting 200."""
        suffix = f"{resource}/" if resource else ""
        path = f"/api/conversations/{quote(conversation_id, safe='')}/{suffix}"
        response = self.session.get(self.url + path, timeout=10)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    def counts(self, conversation_id: str) -> dict[str, int]:
        """The per-table counts the conversation list reports."""
        response = self.session.get(f"{self.url}/api/conversations/", timeout=10)
        assert response.status_code == 200, response.text
        for item in response.json()["results"]:
            if item["conversation_id"] == conversation_id:
                return dict(item["counts"])
        raise AssertionError(f"{conversation_id} is not stored")

    def snapshot(self, conversation_id: str) -> dict[str, Any]:
        """Everything compared, normalised so that ids and clock readings drop out."""
        record = self.get(conversation_id)
        messages = self.get(conversation_id, "transcript")["messages"]
        actions = self.get(conversation_id, "actions")["actions"]
        turns = _ordinals(m["turn_id"] for m in messages)
        return {
            "fields": {key: record[key] for key in FIELDS},
            "transcript": [(m["sender"], m["content"], m["metadata"]) for m in messages],
            "message_turns": [turns[m["turn_id"]] for m in messages],
            "actions": [_action(a) for a in actions],
            "action_turns": [turns.get(a["turn_id"]) for a in actions],
            "buttons": [
                {key: b[key] for key in ("event", "label", "value", "metadata")}
                for b in self.get(conversation_id, "buttons")["buttons"]
            ],
            "attachments": [
                {key: a[key] for key in ("sender", "count", "files")}
                for a in self.get(conversation_id, "attachments")["attachments"]
            ],
            "usage": {
                k: v
                for k, v in self.get(conversation_id, "usage").items()
                if k != "conversation_id"
            },
            "span_kinds": Counter(s["kind"] for s in self.get(conversation_id, "spans")["spans"]),
            "counts": self.counts(conversation_id),
        }


def _ordinals(turn_ids: Any) -> dict[str, int]:
    """Turn ids numbered by first appearance, so two runs' random ids compare."""
    numbered: dict[str, int] = {}
    for turn_id in turn_ids:
        numbered.setdefault(turn_id, len(numbered))
    return numbered


def _action(row: dict[str, Any]) -> dict[str, Any]:
    """An action row without its clock readings and ids (checked for sanity instead)."""
    assert row["duration_ms"] >= 0
    assert row["started_at"] <= row["ended_at"]
    keys = ("name", "kind", "status", "arguments", "response", "error", "escalation")
    return {key: row[key] for key in keys}


def run_vendor(phase: str, endpoint: str, conversation_id: str) -> dict[str, Any]:
    """Run one phase of the vendor half in a fresh interpreter; its JSON report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTSIGHT_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(DRIVER), phase, endpoint, conversation_id],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=HERE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["enabled"] and report["flushed"], (report, done.stderr)
    answer = report["last_response"]
    assert answer and answer["accepted"]["conversations"] == 1, (report, done.stderr)
    assert "WARNING" not in done.stderr and "ERROR" not in done.stderr, done.stderr
    return report


def track_step(tracker: ConversationTracker, step: Step) -> None:
    """One scenario step through this project's tracker API."""
    if isinstance(step, Message):
        if step.sender == "end_user":
            tracker.track_human_message(step.text, step.metadata)
        else:
            tracker.track_agent_message(step.text, step.metadata)
    elif isinstance(step, Tool):
        started = time.time()
        ended = time.time()  # the tool "ran" in between, as the vendor's decorator measures
        tracker.track_action(
            step.name,
            started_at=started,
            ended_at=ended,
            tools_used=step.arguments,
            response=step.response,
            error_msg=step.error,
        )
    elif isinstance(step, Usage):
        tracker.track_token_usage(
            step.input_tokens, step.output_tokens, model=step.model, provider=step.system
        )
    elif isinstance(step, Button):
        tracker.track_button(step.event, step.label, step.value, metadata=step.metadata)
    elif isinstance(step, Attachments):
        files = [
            {
                "filename": f["filename"],
                "mime_type": f["mime_type"],
                "data": base64.b64encode(bytes(f["size"])).decode("ascii"),
            }
            for f in step.files
        ]
        tracker.track_attachments(files, mode="base64", sender=step.sender)


def run_ours(
    tracker: ConversationTracker, phase: str, conversation_id: str
) -> list[dict[str, Any]]:
    """One phase of our half; the send responses (each must be delivered)."""
    if phase == "visit":
        responses = [tracker.initialize_conversation(conversation_id, **VISIT)]
    else:
        tracker.get_or_create_conversation(conversation_id, **CONVERSATION)
        responses = []
        for turn in TURNS:
            for step in turn:
                track_step(tracker, step)
            responses.append(tracker.send_tracked_data())
    for response in responses:
        assert response["status"] == "delivered", response
    return responses


@pytest.fixture(scope="module")
def landed() -> Iterator[dict[str, Any]]:
    """Both halves tracked into one server; snapshots after the visit and after engagement."""
    # Our half must use the tracker's private pipeline, which it builds only without one.
    assert not isinstance(trace.get_tracer_provider(), TracerProvider), "a global SDK provider"
    with LocalServer() as server:
        reader = Reader(server.url)
        tracker = ConversationTracker(
            api_key=API_KEY,
            endpoint=server.url,
            environment="production",
            send_timeout=SEND_TIMEOUT,
        )
        result: dict[str, Any] = {"vendor": {}, "ours": {}, "sends": {}}
        try:
            for phase in PHASES:
                run_vendor(phase, server.url, VENDOR_CID)
                result["sends"][phase] = run_ours(tracker, phase, OURS_CID)
                result["vendor"][phase] = reader.snapshot(VENDOR_CID)
                result["ours"][phase] = reader.snapshot(OURS_CID)
            yield result
        finally:
            tracker.shutdown(timeout=10)
            reader.session.close()


@pytest.mark.parametrize("phase", PHASES)
def test_conversation_fields_and_is_used_match(landed: dict[str, Any], phase: str) -> None:
    vendor, ours = landed["vendor"][phase]["fields"], landed["ours"][phase]["fields"]
    assert ours == vendor
    assert vendor["is_used"] is (phase == "engage")


def test_visit_records_nothing_but_the_conversation(landed: dict[str, Any]) -> None:
    for side in ("vendor", "ours"):
        snapshot = landed[side]["visit"]
        assert snapshot["transcript"] == snapshot["actions"] == snapshot["buttons"] == []
        assert snapshot["span_kinds"] == Counter({"conversation": 1}), side
    assert landed["ours"]["visit"]["counts"] == landed["vendor"]["visit"]["counts"]


def test_transcript_matches_senders_contents_metadata_and_order(landed: dict[str, Any]) -> None:
    vendor, ours = landed["vendor"]["engage"], landed["ours"]["engage"]
    assert ours["transcript"] == vendor["transcript"]
    expected = [
        (s.sender, s.text, s.metadata or {})
        for turn in TURNS
        for s in turn
        if isinstance(s, Message)
    ]
    assert vendor["transcript"] == expected
    assert ours["message_turns"] == vendor["message_turns"] == [0, 0, 1, 1]


def test_actions_match_names_kinds_status_arguments_and_outcome(landed: dict[str, Any]) -> None:
    vendor, ours = landed["vendor"]["engage"], landed["ours"]["engage"]
    assert ours["actions"] == vendor["actions"]
    assert [a["name"] for a in vendor["actions"]] == [
        "database_lookup",
        "send_email",
        "fallback_to_human",
    ]
    assert [a["status"] for a in vendor["actions"]] == ["ok", "error", "ok"]
    # Each action sits in the same interaction as the messages it was tracked with.
    assert ours["action_turns"] == vendor["action_turns"] == [0, 0, 1]


def test_buttons_match(landed: dict[str, Any]) -> None:
    vendor, ours = landed["vendor"]["engage"], landed["ours"]["engage"]
    assert ours["buttons"] == vendor["buttons"]
    assert vendor["buttons"] == [
        {
            "event": "user_confirmation",
            "label": "Confirm Order",
            "value": "order_123",
            "metadata": {"price": 99.99},
        }
    ]


def test_attachment_records_match(landed: dict[str, Any]) -> None:
    vendor, ours = landed["vendor"]["engage"], landed["ours"]["engage"]
    assert ours["attachments"] == vendor["attachments"]
    assert vendor["attachments"][0]["files"] == [
        {"filename": "report.pdf", "size": 1234, "mime_type": "application/pdf"}
    ]


def test_token_totals_match(landed: dict[str, Any]) -> None:
    vendor, ours = landed["vendor"]["engage"], landed["ours"]["engage"]
    assert ours["usage"] == vendor["usage"]
    totals = vendor["usage"]["totals"]
    assert (totals["input_tokens"], totals["output_tokens"], totals["calls"]) == (140, 35, 2)


def test_same_span_kinds_and_projection_counts(landed: dict[str, Any]) -> None:
    vendor, ours = landed["vendor"]["engage"], landed["ours"]["engage"]
    assert ours["span_kinds"] == vendor["span_kinds"]
    assert ours["counts"] == vendor["counts"]


def test_our_send_responses_count_what_was_tracked(landed: dict[str, Any]) -> None:
    first, second = landed["sends"]["engage"]
    assert first["summary"] == {
        "questions": 1,
        "answers": 1,
        "actions": 2,
        "buttons": 1,
        "attachments": 1,
        "errors": 0,
        "pending": 0,
    }
    assert second["summary"]["actions"] == 1 and second["summary"]["errors"] == 0


# -- the server's validation accepts both the vendor's sample and our bodies -------------------


def _post(url: str, data: bytes, encoding: str | None) -> requests.Response:
    """POST raw ingest bytes with the scenario key."""
    headers = {"Authorization": f"Api-Key {API_KEY}", "Content-Type": "application/json"}
    if encoding:
        headers["Content-Encoding"] = encoding
    return requests.post(f"{url}/api/ingest/", data=data, headers=headers, timeout=10)


def our_bodies(conversation_id: str) -> list[tuple[bytes, str | None]]:
    """The exact ingest bodies (and encodings) this project sends for the scenario."""
    backend = fake_backend()
    try:
        tracker = backend.tracker
        assert tracker.initialize_conversation(conversation_id, **VISIT)["status"] == "delivered"
        tracker.get_or_create_conversation(conversation_id, **CONVERSATION)
        for turn in TURNS:
            for step in turn:
                track_step(tracker, step)
            assert tracker.send_tracked_data(timeout=SEND_TIMEOUT)["status"] == "delivered"
    finally:
        backend.exporter.shutdown(10_000)
    return [
        (r.body or b"", r.headers.get("Content-Encoding"))
        for r in backend.transport.requests
        if r.path == "/api/ingest/"
    ]


def test_vendor_sample_and_our_bodies_pass_server_validation() -> None:
    sample = SAMPLE.read_bytes()
    ours = our_bodies("oracle-validation-1")
    assert len(ours) == 3  # the visit and two interactions
    for data, encoding in [(sample, None), *ours]:
        document = json.loads(gzip.decompress(data) if encoding == "gzip" else data)
        outcome = validate_ingest(document)
        assert not isinstance(outcome, Rejection), outcome.to_json()
    with LocalServer() as server:
        for data, encoding in [(sample, None), *ours]:
            response = _post(server.url, data, encoding)
            assert response.status_code == 200, response.text
        reader = Reader(server.url)
        try:
            assert [m[0] for m in reader.snapshot("web-1")["transcript"]] == ["end_user", "agent"]
            mine = reader.snapshot("oracle-validation-1")
            assert [m[1] for m in mine["transcript"]] == [
                s.text for turn in TURNS for s in turn if isinstance(s, Message)
            ]
            assert mine["fields"]["is_used"] is True
        finally:
            reader.session.close()
