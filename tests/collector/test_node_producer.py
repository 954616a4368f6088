"""examples/node: a Node.js producer following docs/span-contract.md, through the real Collector."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agentsight_otel._ids import conversation_trace_id, hex_trace_id
from tests.collector.stack import (
    ROOT,
    Cluster,
    TraceSink,
    clean_env,
    node_example,
    poll,
    read,
    start_stack,
)

EXAMPLE = ROOT / "examples" / "node"


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with the example's packages installed by `make node-example`."""
    return node_example(EXAMPLE, "node-example")


def test_the_node_producer_lands_exactly(
    node: str, collector_binary: Path, cluster: Cluster, tracing_sink: TraceSink, tmp_path: Path
) -> None:
    db = tmp_path / "agentsight.db"
    server, ports = start_stack(cluster, collector_binary, db, tracing_sink.target)
    cid = "node-e2e-1"
    result = subprocess.run(
        [node, str(EXAMPLE / "producer.js")],
        env=clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{ports.http}", CONVERSATION_ID=cid
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    trace_id = hex_trace_id(conversation_trace_id(cid))
    assert printed == {"conversation_id": cid, "trace_id": trace_id}

    assert poll(lambda: read(server, cid, "buttons/") is not None)
    assert poll(lambda: len(read(server, cid, "spans/")["spans"]) == 4)
    messages = read(server, cid, "transcript/")["messages"]
    assert [(m["sender"], m["content"]) for m in messages] == [
        ("end_user", "I was charged twice for order B-2002."),
        ("agent", "Sorry about that: the second charge is refunded."),
    ]
    (action,) = read(server, cid, "actions/")["actions"]
    assert (action["name"], action["kind"], action["status"]) == ("lookup_payment", "tool", "unset")
    assert action["duration_ms"] == 120.0
    assert action["arguments"] == {"order_id": "B-2002"}
    assert action["response"] == "2 charges of 19.99 EUR"
    (button,) = read(server, cid, "buttons/")["buttons"]
    assert (button["event"], button["label"], button["value"]) == (
        "feedback",
        "Helpful",
        "thumbs_up",
    )
    usage = read(server, cid, "usage/")
    assert (usage["totals"]["input_tokens"], usage["totals"]["output_tokens"]) == (182, 41)
    assert set(usage["by_model"]) == {"gpt-4o-mini"}
    conversation = read(server, cid)
    assert (conversation["customer_id"], conversation["name"], conversation["source"]) == (
        "customer-7",
        "Refund request",
        "node",
    )
    assert conversation["metadata"] == {"plan": "pro"} and conversation["is_used"]
    spans = read(server, cid, "spans/")["spans"]
    assert {span["trace_id"] for span in spans} == {trace_id}
    assert sorted(span["kind"] for span in spans) == ["button", "llm", "tool", "turn"]
