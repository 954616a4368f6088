"""A Pydantic AI agent with its own OpenTelemetry instrumentation, in its own process.

``python -m tests.genai.framework_driver AGENTSIGHT_URL CONVERSATION_ID`` runs two agent runs
(the second resends the first's history) against the scripted model server; the first calls a
tool. Pydantic AI writes ``invoke_agent``, ``chat`` and ``execute_tool`` spans itself.
"""

from __future__ import annotations

import json
import sys

from pydantic_ai import Agent
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

import agentsight_otel
from tests.genai.apps import global_provider, tool_timings
from tests.support.model_server import ModelServer, Reply, ToolCall

REPLIES = (
    Reply(tool_calls=(ToolCall("call_1", "get_weather", {"city": "Paris"}),)),
    Reply(text="It is sunny in Paris."),
    Reply(text="You're welcome!"),
)


def main() -> None:
    url, cid = sys.argv[1], sys.argv[2]
    provider, capture = global_provider(url)
    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider))
    with ModelServer() as server:
        server.script(*REPLIES)
        model = OpenAIChatModel(
            "test-model", provider=OpenAIProvider(base_url=server.base_url, api_key="test")
        )
        agent = Agent(model, instructions="Be brief.")

        @agent.tool_plain
        def get_weather(city: str) -> str:
            return "sunny"

        with agentsight_otel.conversation(cid, customer_id="u-42"):
            first = agent.run_sync("Weather in Paris?")
            agent.run_sync("Thanks!", message_history=first.all_messages())
    provider.shutdown()
    printed = {"tools": tool_timings(capture.get_finished_spans())}
    print(json.dumps({**printed, "requests": len(server.requests)}))


if __name__ == "__main__":
    main()
