"""Builders for ingest bodies and a small authenticated HTTP client for the server tests."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from agentsight_otel.server import LocalServer

SAMPLE_PATH = Path(__file__).resolve().parent.parent / "data" / "ingest-sample.json"
KEY = "ags_0123456789abcdef0123456789abcdef_a1b2c3"
OTHER_KEY = "ags_ffffffffffffffffffffffffffffffff_000000"
CID = "conv-1"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
T0 = "2026-11-21T05:00:00.000000+00:00"
_ids = itertools.count(1)
StartServer = Callable[..., "tuple[LocalServer, Api]"]


def load_sample() -> dict[str, Any]:
    """A fresh copy of the vendor SDK's real ingest body."""
    return copy.deepcopy(_SAMPLE)


_SAMPLE: dict[str, Any] = json.loads(SAMPLE_PATH.read_text(encoding="utf-8"))


def new_span_id() -> str:
    """A span id never used before in this test run."""
    return f"{next(_ids):016x}"


def at(second: float) -> str:
    """A timestamp `second` seconds after 05:00:00 UTC."""
    whole = int(second)
    micros = round((second - whole) * 1_000_000)
    return f"2026-11-21T05:00:{whole:02d}.{micros:06d}+00:00"


def span(
    kind: str,
    *,
    conversation_id: str = CID,
    span_id: str | None = None,
    name: str | None = None,
    start: float = 0.0,
    end: float | None = None,
    status: str = "ok",
    attributes: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One valid span of the given kind."""
    end = start + 0.5 if end is None else end
    return {
        "span_id": span_id or new_span_id(),
        "trace_id": TRACE_ID,
        "parent_span_id": None,
        "kind": kind,
        "name": name or kind,
        "started_at": at(start),
        "ended_at": at(end),
        "duration_ms": round((end - start) * 1000, 3),
        "status": status,
        "attributes": {
            "agentsight.conversation.id": conversation_id,
            "agentsight.span.kind": kind,
            **(attributes or {}),
        },
        "events": events or [],
        "otel": {"span_kind": "INTERNAL"},
    }


def message(sender: str, content: str, second: float, **metadata: Any) -> dict[str, Any]:
    """An agentsight.message span event."""
    return {
        "name": "agentsight.message",
        "timestamp": at(second),
        "attributes": {
            "agentsight.message.sender": sender,
            "agentsight.message.content": content,
            "agentsight.message.metadata": json.dumps(metadata),
        },
    }


def turn(
    *messages: dict[str, Any], complete: bool = True, conversation_id: str = CID, start: float = 0
) -> dict[str, Any]:
    """A turn span carrying message events."""
    result = span("turn", conversation_id=conversation_id, start=start, events=list(messages))
    result["attributes"]["agentsight.turn.id"] = result["span_id"]
    result["attributes"]["agentsight.turn.complete"] = complete
    return result


def block(*spans: dict[str, Any], conversation_id: str = CID, **fields: Any) -> dict[str, Any]:
    """A conversation block."""
    return {"conversation_id": conversation_id, **fields, "spans": list(spans)}


def body(*blocks: dict[str, Any]) -> dict[str, Any]:
    """A whole ingest body."""
    return {"sdk": {"name": "agentsight-otel-tests", "version": "0"}, "conversations": list(blocks)}


class Api:
    """requests against one LocalServer with one API key."""

    def __init__(self, url: str, key: str | None = KEY) -> None:
        self.url = url
        self.session = requests.Session()
        if key is not None:
            self.session.headers["Authorization"] = f"Api-Key {key}"

    def ingest(self, payload: Any) -> requests.Response:
        """POST a JSON body to /api/ingest/."""
        return self.session.post(f"{self.url}/api/ingest/", json=payload, timeout=10)

    def post_bytes(self, path: str, data: bytes, **headers: str) -> requests.Response:
        """POST raw bytes with extra headers."""
        headers.setdefault("Content-Type", "application/json")
        return self.session.post(f"{self.url}{path}", data=data, headers=headers, timeout=10)

    def get(self, path: str) -> requests.Response:
        """GET a path."""
        return self.session.get(f"{self.url}{path}", timeout=10)

    def read(self, conversation_id: str, resource: str = "") -> Any:
        """GET a conversation or one of its projections, asserting 200."""
        suffix = f"{resource}/" if resource else ""
        response = self.get(f"/api/conversations/{quote(conversation_id, safe='')}/{suffix}")
        assert response.status_code == 200, response.text
        return response.json()

    def conversation_ids(self) -> list[str]:
        """Every stored conversation id."""
        response = self.get("/api/conversations/")
        assert response.status_code == 200, response.text
        return [item["conversation_id"] for item in response.json()["results"]]
