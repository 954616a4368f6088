"""The tracker's private provider becomes the global one, so GenAI instrumentations' usage counts.

Only one provider can ever be global in a process, so each case runs in a fresh Python process
against a real local server (tests/conftest.py turns the switch off for in-process tests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from opentelemetry import trace
    from agentsight_otel import ConversationTracker
    from agentsight_otel.server import LocalServer
    from agentsight_otel.testing import TEST_API_KEY

    def model_call():
        # What a GenAI instrumentation does: a span from the *global* provider.
        tracer = trace.get_tracer("opentelemetry.instrumentation.openai_v2")
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "test-model",
            "gen_ai.usage.input_tokens": 11,
            "gen_ai.usage.output_tokens": 7,
        }
        with tracer.start_as_current_span("chat test-model", attributes=attributes):
            pass

    with LocalServer(api_keys=[TEST_API_KEY]) as server:
        tracker = ConversationTracker(api_key=TEST_API_KEY, endpoint=server.url)
        if sys.argv[1] == "configure-off":
            tracker.configure(set_global_provider=False)
        tracker.get_or_create_conversation("c-global")
        model_call()  # before the first track_* of the turn
        tracker.track_human_message("Hi")
        tracker.track_agent_message("Hello!")
        sent = tracker.send_tracked_data()
        tracker.shutdown(timeout=5)
        spans = server.store.spans("c-global")
        print(json.dumps({
            "status": sent["status"],
            "usage": server.store.usage("c-global")["totals"],
            "messages": len(server.store.messages("c-global")),
            "turns": [s["span_id"] for s in spans if s["kind"] == "turn"],
            "llm_turns": [s["attributes"].get("agentsight.turn.id") for s in spans
                          if s["kind"] == "llm"],
            "global": type(trace.get_tracer_provider()).__name__,
        }))
    """
)


def _run(mode: str, **env: str) -> dict[str, object]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSIGHT_")}
    environment.update(env)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_with_no_provider_set_instrumentation_usage_counts_in_the_turn_it_was_made_for() -> None:
    seen = _run("default")
    assert seen["global"] == "TracerProvider"
    usage = seen["usage"]
    assert isinstance(usage, dict)
    assert (usage["input_tokens"], usage["output_tokens"]) == (11, 7), usage
    # The call joined the tracked turn: no second turn repeating or inventing messages.
    assert seen["messages"] == 2
    assert len(seen["turns"]) == 1  # type: ignore[arg-type]
    assert seen["llm_turns"] == seen["turns"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "env"),
    [("env-off", {"AGENTSIGHT_SET_GLOBAL_PROVIDER": "0"}), ("configure-off", {})],
)
def test_the_opt_out_leaves_the_global_provider_alone(mode: str, env: dict[str, str]) -> None:
    seen = _run(mode, **env)
    assert seen["global"] == "ProxyTracerProvider"
    usage = seen["usage"]
    assert isinstance(usage, dict)
    assert usage["input_tokens"] == 0
