"""JSON may carry lone-surrogate escapes (the vendor SDK sends them): they become U+FFFD and the
rest of the request is delivered, at the local server and at the bridge's OTLP/JSON receiver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY
from tests.bridge.conftest import StartBridge
from tests.bridge.helpers import captured_spans, ingest_bodies, otlp_json

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "ingest-sample.json"
PLACEHOLDER = "LONE-SURROGATE-HERE"


def _with_lone_surrogate(document: Any) -> bytes:
    """The JSON text of ``document`` with the placeholder replaced by a raw ``\\ud800`` escape."""
    text = json.dumps(document)
    assert PLACEHOLDER in text
    return text.replace(PLACEHOLDER, "\\ud800").encode()


def test_the_local_server_stores_a_lone_surrogate_as_the_replacement_character() -> None:
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    turn = next(s for s in sample["conversations"][0]["spans"] if s["kind"] == "turn")
    event = next(e for e in turn["events"] if e["name"] == "agentsight.message")
    event["attributes"]["agentsight.message.content"] = f"before {PLACEHOLDER} after"
    with LocalServer(api_keys=[TEST_API_KEY]) as server, requests.Session() as http:
        http.headers["Authorization"] = f"Api-Key {TEST_API_KEY}"
        answer = http.post(
            f"{server.url}/api/ingest/",
            data=_with_lone_surrogate(sample),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        cid = sample["conversations"][0]["conversation_id"]
        transcript = http.get(f"{server.url}/api/conversations/{cid}/transcript/", timeout=10)
        contents = [m["content"] for m in transcript.json()["messages"]]
    assert "before \ufffd after" in contents


def test_the_bridge_delivers_a_clean_conversation_beside_one_with_a_lone_surrogate(
    start_bridge: StartBridge,
) -> None:
    bridge, backend = start_bridge()
    document = json.loads(otlp_json(captured_spans("clean-1") + captured_spans("dirty-1")))
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    dirty = next(
        s
        for s in spans
        if any(a["value"].get("stringValue") == "dirty-1" for a in s.get("attributes", []))
    )
    dirty["attributes"].append({"key": "note", "value": {"stringValue": PLACEHOLDER}})
    answer = requests.post(
        f"{bridge.http_url}/v1/traces",
        data=_with_lone_surrogate(document),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert bridge.flush(10)
    delivered = b"".join(ingest_bodies(backend))
    assert b'"clean-1"' in delivered and b'"dirty-1"' in delivered
