"""Reading what reached the scripted backend, and checking it against the local server's rules."""

from __future__ import annotations

import json
from typing import Any

from agentsight_otel import _semconv as sc
from agentsight_otel._server.validation import loads_strict, validate_ingest
from agentsight_otel.testing import ScriptedTransport
from tests.bridge.helpers import ingest_bodies
from tests.unit.helpers import blocks, messages, wire_spans

KEEP = "keep"


def assert_bodies_valid(transport: ScriptedTransport) -> None:
    """Every ingest body is strict UTF-8 JSON the local server's validation accepts."""
    for body in ingest_bodies(transport):
        body.decode("utf-8")  # strict: no lone surrogates, no stray bytes
        verdict = validate_ingest(loads_strict(body))
        assert isinstance(verdict, list), verdict.to_json()


def conversation_ids(transport: ScriptedTransport) -> set[str]:
    """Conversations that reached the backend."""
    return {block["conversation_id"] for block in blocks(transport)}


def message_events(transport: ScriptedTransport, cid: str = KEEP) -> list[dict[str, Any]]:
    """The message events of a conversation, in order."""
    return [
        event
        for span in wire_spans(transport, "turn", cid)
        for event in span["events"]
        if event["name"] == sc.MESSAGE_EVENT
    ]


def middle_message(transport: ScriptedTransport) -> str:
    """The one message a row tracked between "before" and "after"."""
    contents = messages(transport, KEEP)
    assert contents[0] == "before" and contents[-1] == "after" and len(contents) == 3, contents
    return contents[1]


def message_metadata(transport: ScriptedTransport, content: str = "m") -> Any:
    """The decoded metadata of the message with the given content."""
    for event in message_events(transport):
        if event["attributes"][sc.MESSAGE_CONTENT] == content:
            return json.loads(event["attributes"][sc.MESSAGE_METADATA])
    raise AssertionError(f"no message {content!r}")


def tool_attributes(transport: ScriptedTransport) -> dict[str, Any]:
    """The attributes of the one action span of the kept conversation."""
    [tool] = wire_spans(transport, "tool", KEEP)
    attributes: dict[str, Any] = tool["attributes"]
    return attributes


def keep_block(transport: ScriptedTransport) -> dict[str, Any]:
    """The last block of the kept conversation."""
    return [b for b in blocks(transport) if b["conversation_id"] == KEEP][-1]
