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

import pytest

from agentsight_otel.server import LocalServer
from agentsight_otel.testing import read_local
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


def run_app(name: str, url: str, cid: str) -> dict[str, object]:
    """Run the instrumented app in its own process; what it printed."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.genai.driver", name, url, cid],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["otel", "openinference", "openllmetry"])
def test_an_instrumented_chat_reaches_agentsight_as_the_real_exchange(
    name: str, server: LocalServer
) -> None:
    cid = f"genai-{name}"
    printed = run_app(name, server.url, cid)
    assert printed["requests"] == 4
    messages = read_local(server.url, cid, "transcript/")["messages"]
    assert [(m["sender"], m["content"]) for m in messages] == EXCHANGE
    (action,) = read_local(server.url, cid, "actions/")["actions"]
    (tool,) = printed["tools"]  # type: ignore[misc]
    assert action["name"] == "get_weather"
    assert action["duration_ms"] == ((tool["end"] - tool["start"] + 500) // 1000) / 1000
    assert action["arguments"] == {"city": "Paris"}
    assert action["response"] == "sunny"
    totals = read_local(server.url, cid, "usage/")["totals"]
    assert totals["calls"] == len(MESSAGES_PER_CALL)  # one record per model call, never two
    assert totals["input_tokens"] == INPUT_TOKENS_PER_MESSAGE * sum(MESSAGES_PER_CALL)
    assert totals["output_tokens"] == OUTPUT_TOKENS * len(MESSAGES_PER_CALL)
