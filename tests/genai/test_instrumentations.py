"""Real GenAI instrumentation (official OpenAI, OpenInference, OpenLLMetry) end to end.

Each app runs in its own process against the scripted model server on 127.0.0.1 and exports
through AgentSightSpanExporter to the local AgentSight server; what that server projects must
be the real exchange: the transcript exactly, the tool action with its span's own timing and
one usage record per model call.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentsight_otel.server import LocalServer
from tests.support.local import read_local
from tests.support.model_server import INPUT_TOKENS_PER_MESSAGE, OUTPUT_TOKENS

ROOT = Path(__file__).resolve().parents[2]
EXCHANGE = [
    ("end_user", "Hi, I need the weather"),
    ("agent", "Hello! Which city?"),
    ("end_user", "In Paris?"),
    ("agent", "It is sunny in Paris."),
    ("end_user", "Thanks!"),
    ("agent", "You're welcome!"),
]
# Messages each call sends: system + history (the second call of turn 2 adds the tool round).
MESSAGES_PER_CALL = [2, 4, 6, 8]


def run_app(module: str, *args: str) -> dict[str, Any]:
    """Run an instrumented app in its own process; what it printed."""
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["otel", "otel-events", "otel-legacy-events", "openinference", "openllmetry"]
)
def test_an_instrumented_chat_reaches_agentsight_as_the_real_exchange(
    name: str, server: LocalServer
) -> None:
    cid = f"genai-{name}"
    printed = run_app("tests.genai.driver", name, server.url, cid)
    assert printed["requests"] == 4
    messages = read_local(server.url, cid, "transcript/")["messages"]
    assert [(m["sender"], m["content"]) for m in messages] == EXCHANGE
    (action,) = read_local(server.url, cid, "actions/")["actions"]
    (tool,) = printed["tools"]
    assert action["name"] == "get_weather"
    assert action["duration_ms"] == ((tool["end"] - tool["start"] + 500) // 1000) / 1000
    assert action["arguments"] == {"city": "Paris"}
    assert action["response"] == "sunny"
    totals = read_local(server.url, cid, "usage/")["totals"]
    assert totals["calls"] == len(MESSAGES_PER_CALL)  # one record per model call, never two
    assert totals["input_tokens"] == INPUT_TOKENS_PER_MESSAGE * sum(MESSAGES_PER_CALL)
    assert totals["output_tokens"] == OUTPUT_TOKENS * len(MESSAGES_PER_CALL)


@pytest.mark.slow
def test_a_pydantic_ai_agent_reaches_agentsight_through_its_own_instrumentation(
    server: LocalServer,
) -> None:
    cid = "genai-pydantic-ai"
    printed = run_app("tests.genai.framework_driver", server.url, cid)
    assert printed["requests"] == 3
    messages = read_local(server.url, cid, "transcript/")["messages"]
    assert [(m["sender"], m["content"]) for m in messages] == [
        ("end_user", "Weather in Paris?"),
        ("agent", "It is sunny in Paris."),
        ("end_user", "Thanks!"),
        ("agent", "You're welcome!"),
    ]
    turns = {m["turn_id"] for m in messages}
    assert len(turns) == 2  # one turn per agent run
    (action,) = read_local(server.url, cid, "actions/")["actions"]
    (tool,) = printed["tools"]
    assert action["name"] == "get_weather"
    assert action["arguments"] == {"city": "Paris"}
    assert action["duration_ms"] == ((tool["end"] - tool["start"] + 500) // 1000) / 1000
    assert action["turn_id"] == messages[0]["turn_id"]
    # Pydantic AI counts the system instructions as one more message of every request.
    totals = read_local(server.url, cid, "usage/")["totals"]
    assert totals["calls"] == 3
    assert totals["input_tokens"] == INPUT_TOKENS_PER_MESSAGE * (2 + 4 + 6)
    conversation = read_local(server.url, cid)
    assert conversation["customer_id"] == "u-42"


@pytest.mark.slow
def test_a_streamed_openai_agents_run_under_openinference_lands_every_answer(
    server: LocalServer,
) -> None:
    cid = "genai-openai-agents"
    printed = run_app("tests.genai.agents_driver", server.url, cid)
    assert printed["answers"] == ["It is sunny in Paris.", "You're welcome!"]
    assert printed["requests"] == 3  # over the Responses API, streamed
    messages = read_local(server.url, cid, "transcript/")["messages"]
    assert [(m["sender"], m["content"]) for m in messages] == [
        ("end_user", "Weather in Paris?"),
        ("agent", "It is sunny in Paris."),
        ("end_user", "Thanks!"),
        ("agent", "You're welcome!"),
    ]
    assert len({m["turn_id"] for m in messages}) == 2  # one turn per run
    (action,) = read_local(server.url, cid, "actions/")["actions"]
    (tool,) = printed["tools"]
    assert (action["name"], action["arguments"]) == ("get_weather", {"city": "Paris"})
    assert action["response"] == "sunny in Paris"
    assert action["duration_ms"] == ((tool["end"] - tool["start"] + 500) // 1000) / 1000
    assert action["turn_id"] == messages[0]["turn_id"]
    totals = read_local(server.url, cid, "usage/")["totals"]
    # Input items sent: the question; + the tool call and its output; + answer and question.
    assert totals["calls"] == 3
    assert totals["input_tokens"] == INPUT_TOKENS_PER_MESSAGE * (1 + 3 + 5)
