"""The OpenAI Agents SDK under OpenInference, streamed, in its own process.

``python -m tests.genai.agents_driver AGENTSIGHT_URL CONVERSATION_ID`` runs two
``Runner.run_streamed`` turns of one agent (the second resends the first's items) against the
scripted model server's Responses API; the first calls a tool. OpenInference's Agents SDK
instrumentation writes the spans; the session is named with ``using_session``.
"""

from __future__ import annotations

import asyncio
import json
import sys

from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI
from openinference.instrumentation import using_session
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

from tests.genai.apps import global_provider, tool_timings
from tests.support.model_server import ModelServer, Reply, ToolCall

REPLIES = (
    Reply(tool_calls=(ToolCall("call_1", "get_weather", {"city": "Paris"}),)),
    Reply(text="It is sunny in Paris."),
    Reply(text="You're welcome!"),
)


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


async def chat(base_url: str, cid: str) -> list[str]:
    """Two streamed turns; the answers the app streamed."""
    client = AsyncOpenAI(base_url=base_url, api_key="test")
    model = OpenAIResponsesModel("test-model", openai_client=client)
    agent = Agent(name="weather", instructions="Be brief.", model=model, tools=[get_weather])
    answers = []
    history: list[object] = []
    for question in ("Weather in Paris?", "Thanks!"):
        with using_session(cid):
            run = Runner.run_streamed(agent, [*history, {"role": "user", "content": question}])
            async for _ in run.stream_events():
                pass
        answers.append(str(run.final_output))
        history = run.to_input_list()
    return answers


def main() -> None:
    url, cid = sys.argv[1], sys.argv[2]
    provider, capture = global_provider(url)
    set_tracing_disabled(False)
    OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)
    with ModelServer() as server:
        server.script(*REPLIES)
        answers = asyncio.run(chat(server.base_url, cid))
    provider.shutdown()
    tools = tool_timings(capture.get_finished_spans())
    print(json.dumps({"answers": answers, "tools": tools, "requests": len(server.requests)}))


if __name__ == "__main__":
    main()
