"""examples/vercel-ai: the Vercel AI SDK's own telemetry through the real Collector and bridge.

The real ``ai`` package (examples/vercel-ai/package-lock.json) talks to the scripted
OpenAI-compatible model server through ``@ai-sdk/openai-compatible``; its
``experimental_telemetry`` spans leave over OTLP/HTTP to the Collector running the repo's
collector-config.yaml, which hands them to the bridge. Two turns of one session land exactly.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

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
from tests.support.model_server import (
    INPUT_TOKENS_PER_MESSAGE,
    OUTPUT_TOKENS,
    ModelServer,
    Reply,
    ToolCall,
)

EXAMPLE = ROOT / "examples" / "vercel-ai"


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with the example's packages installed by `make vercel-ai-example`."""
    return node_example(EXAMPLE, "vercel-ai-example")


def test_an_ai_sdk_chat_lands_as_two_exact_turns(
    node: str, collector_binary: Path, cluster: Cluster, tracing_sink: TraceSink, tmp_path: Path
) -> None:
    db = tmp_path / "agentsight.db"
    server, ports = start_stack(cluster, collector_binary, db, tracing_sink.target)
    sid = "vercel-e2e-1"
    with ModelServer() as model:
        model.script(
            Reply(tool_calls=(ToolCall("call_1", "get_weather", {"city": "Paris"}),)),
            Reply(text="It is sunny in Paris."),
            Reply(tool_calls=(ToolCall("call_2", "get_forecast", {"city": "Paris"}),)),
            Reply(text="Sorry, I cannot get tomorrow's forecast."),
        )
        result = subprocess.run(
            [node, str(EXAMPLE / "chat.mjs")],
            env=clean_env(
                OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{ports.http}",
                MODEL_BASE_URL=model.base_url,
                SESSION_ID=sid,
                USER_ID="customer-7",
            ),
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        streamed = [body.get("stream") is True for body in model.requests]
    assert streamed == [False, False, True, True]  # generateText, then streamText
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed["answers"] == [
        "It is sunny in Paris.",
        "Sorry, I cannot get tomorrow's forecast.",
    ]

    assert poll(lambda: len((read(server, sid, "spans/") or {"spans": []})["spans"]) == 8)
    messages = read(server, sid, "transcript/")["messages"]
    assert [(m["sender"], m["content"]) for m in messages] == [
        ("end_user", "What's the weather in Paris?"),
        ("agent", "It is sunny in Paris."),
        ("end_user", "And tomorrow?"),
        ("agent", "Sorry, I cannot get tomorrow's forecast."),
    ]
    spans = read(server, sid, "spans/")["spans"]
    turns = sorted((s for s in spans if s["kind"] == "turn"), key=lambda s: s["started_at"])
    assert [t["name"] for t in turns] == ["ai.generateText", "ai.streamText"]
    weather, forecast = sorted(
        read(server, sid, "actions/")["actions"], key=lambda a: a["started_at"]
    )
    assert (weather["name"], weather["kind"], weather["status"]) == ("get_weather", "tool", "unset")
    assert weather["arguments"] == {"city": "Paris"}
    assert weather["response"] == "sunny in Paris"
    assert (forecast["name"], forecast["status"]) == ("get_forecast", "error")
    assert forecast["error"] == "forecast service unavailable"
    for action, turn in ((weather, turns[0]), (forecast, turns[1])):
        assert turn["started_at"] <= action["started_at"] <= action["ended_at"]
        assert action["ended_at"] <= turn["ended_at"]
    usage = read(server, sid, "usage/")
    # Four model calls of 2, 4, 6 and 8 messages: each counted once, the turns' sums never.
    inputs = INPUT_TOKENS_PER_MESSAGE * (2 + 4 + 6 + 8)
    assert (usage["totals"]["input_tokens"], usage["totals"]["output_tokens"]) == (
        inputs,
        4 * OUTPUT_TOKENS,
    )
    assert set(usage["by_model"]) == {"test-model"}
    conversation = read(server, sid)
    assert conversation["customer_id"] == "customer-7"
