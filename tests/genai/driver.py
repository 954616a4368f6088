"""One instrumented chat app, run in its own process per instrumentation (they patch openai).

``python -m tests.genai.driver NAME AGENTSIGHT_URL CONVERSATION_ID`` runs a three-turn chat
against the scripted model server: a plain exchange, a tool-call round, a streamed answer with
usage; each call resends the whole history. Spans go to AgentSight through the real exporter;
the tool spans' own durations and the model-call count are printed as JSON for the test.

``otel-events`` and ``otel-legacy-events`` run the official instrumentation in its event modes:
messages go out as log records, through ``AgentSightLogExporter`` on a batching
``LoggerProvider`` (spans are exported at once, so they arrive before their records).

With a fourth argument, ``otlp=HOST:PORT``, spans and log records go instead through the OTLP/gRPC
exporters (batching, as apps configure them) to a Collector there.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

NAME = sys.argv[1]
if NAME == "otel":
    # The official instrumentation's switches for content on spans (docs: README "Already
    # instrumented?"); they are read once, at import.
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "span_only"
elif NAME == "otel-events":  # latest conventions, content only in log records
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "event_only"
elif NAME == "otel-legacy-events":  # the old conventions' events: no stability opt-in
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"

import openai  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry._logs import set_logger_provider  # noqa: E402
from opentelemetry.sdk._logs import LoggerProvider  # noqa: E402
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

import agentsight_otel  # noqa: E402
from tests.genai.apps import global_provider, tool_timings  # noqa: E402
from tests.support.model_server import ModelServer, Reply, ToolCall  # noqa: E402

SYSTEM = "You are a weather assistant. Be brief."
QUESTIONS = ("Hi, I need the weather", "In Paris?", "Thanks!")
REPLIES = (
    Reply(text="Hello! Which city?"),
    Reply(tool_calls=(ToolCall("call_1", "get_weather", {"city": "Paris"}),)),
    Reply(text="It is sunny in Paris."),
    Reply(text="You're welcome!"),
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
Wrap = Callable[..., contextlib.AbstractContextManager[Any]]


def instrument(name: str) -> tuple[Wrap, Wrap, Wrap]:
    """Instrument openai; the conversation, turn and tool wrappers this instrumentation uses."""
    tracer = trace.get_tracer("weather-app")
    if name.startswith("otel"):
        from opentelemetry.instrumentation import openai_v2

        if name == "otel-legacy-events":
            # openai-v2 keeps its old-convention path, reached when util-genai (0.4b0) reports
            # no latest-conventions opt-in; the pinned 1.1b0 always reports it, so say it here.
            openai_v2.is_experimental_mode = lambda: False
        openai_v2.OpenAIInstrumentor().instrument()
        turn = _span(tracer, "invoke_agent weather", {"gen_ai.operation.name": "invoke_agent"})
        return agentsight_otel.conversation, turn, _semconv_tool(tracer)
    if name == "openinference":
        from openinference.instrumentation import OITracer, TraceConfig, using_session
        from openinference.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()
        oi = OITracer(tracer, config=TraceConfig())
        agent = _starter(oi.start_as_current_span, "weather", openinference_span_kind="agent")
        return using_session, agent, _oi_tool(oi)
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()
    workflow = {"traceloop.span.kind": "workflow", "traceloop.entity.name": "weather"}
    return (
        agentsight_otel.conversation,
        _span(tracer, "weather.workflow", workflow),
        _ll_tool(tracer),
    )


def _starter(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Wrap:
    """A wrapper taking no arguments."""
    return lambda: function(*args, **kwargs)


def _span(tracer: trace.Tracer, name: str, attributes: dict[str, Any]) -> Wrap:
    """A turn wrapper: a span as the framework would start it."""
    return lambda: tracer.start_as_current_span(name, attributes=attributes)


def _semconv_tool(tracer: trace.Tracer) -> Wrap:
    """``execute_tool`` spans as the GenAI conventions define them."""

    @contextlib.contextmanager
    def run(name: str, arguments: dict[str, Any], result: str) -> Iterator[None]:
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.arguments": json.dumps(arguments),
        }
        with tracer.start_as_current_span(f"execute_tool {name}", attributes=attributes) as span:
            yield
            span.set_attribute("gen_ai.tool.call.result", result)

    return run


def _oi_tool(oi: Any) -> Wrap:
    """OpenInference TOOL spans through its own tracer."""

    @contextlib.contextmanager
    def run(name: str, arguments: dict[str, Any], result: str) -> Iterator[None]:
        with oi.start_as_current_span(name, openinference_span_kind="tool") as span:
            span.set_tool(name=name, parameters=TOOLS[0]["function"]["parameters"])
            span.set_input(json.dumps(arguments), mime_type="application/json")
            yield
            span.set_output(result)

    return run


def _ll_tool(tracer: trace.Tracer) -> Wrap:
    """Tool spans as OpenLLMetry's ``@tool`` decorator writes them."""

    @contextlib.contextmanager
    def run(name: str, arguments: dict[str, Any], result: str) -> Iterator[None]:
        attributes = {
            "traceloop.span.kind": "tool",
            "traceloop.entity.name": name,
            "traceloop.entity.input": json.dumps(arguments),
        }
        with tracer.start_as_current_span(f"{name}.tool", attributes=attributes) as span:
            yield
            span.set_attribute("traceloop.entity.output", result)

    return run


def chat(client: openai.OpenAI, history: list[dict[str, Any]], stream: bool) -> dict[str, Any]:
    """One model call with the whole history; the assistant message it answered."""
    if not stream:
        response = client.chat.completions.create(model="test-model", messages=history, tools=TOOLS)
        return response.choices[0].message.model_dump(exclude_none=True)
    chunks = client.chat.completions.create(
        model="test-model",
        messages=history,
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return {"role": "assistant", "content": text}


def event_logs(collector: str | None) -> LoggerProvider:
    """The global logger provider: batched records to the span exporter built last (or OTLP)."""
    logs = LoggerProvider()
    if collector is None:
        exporter: Any = agentsight_otel.AgentSightLogExporter()
    else:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(endpoint=f"http://{collector}", insecure=True)
    logs.add_log_record_processor(BatchLogRecordProcessor(exporter))
    set_logger_provider(logs)
    return logs


def otlp_provider(collector: str) -> tuple[TracerProvider, InMemorySpanExporter]:
    """The global provider: spans to the Collector over OTLP/gRPC, and kept in memory."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    capture = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(capture))
    exporter = OTLPSpanExporter(endpoint=f"http://{collector}", insecure=True)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider, capture


def main() -> None:
    url, cid = sys.argv[2], sys.argv[3]
    collector = sys.argv[4].removeprefix("otlp=") if len(sys.argv) > 4 else None
    provider, capture = global_provider(url) if collector is None else otlp_provider(collector)
    logs = event_logs(collector) if NAME.endswith("-events") else None
    in_conversation, turn, tool = instrument(NAME)
    with ModelServer() as server:
        server.script(*REPLIES)
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        history: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
        with in_conversation(cid):
            for index, question in enumerate(QUESTIONS):
                with turn():
                    history.append({"role": "user", "content": question})
                    answer = chat(client, history, stream=index == 2)
                    history.append(answer)
                    for call in answer.get("tool_calls", []):
                        arguments = json.loads(call["function"]["arguments"])
                        with tool(call["function"]["name"], arguments, "sunny"):
                            result = "sunny"
                        history.append(
                            {"role": "tool", "tool_call_id": call["id"], "content": result}
                        )
                        history.append(chat(client, history, stream=False))
    if logs is not None:
        logs.shutdown()  # first: its queued records join the traces that wait for them
    provider.shutdown()
    printed = {"tools": tool_timings(capture.get_finished_spans())}
    print(json.dumps({**printed, "requests": len(server.requests)}))


if __name__ == "__main__":
    main()
