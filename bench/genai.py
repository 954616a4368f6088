"""GenAI-shaped traces: mapping throughput beside tracker-shaped spans, and cost per turn.

The GenAI batch is what the official OpenAI instrumentation plus an agent framework write: per
turn an ``invoke_agent`` span, two ``chat`` spans whose ``gen_ai.input.messages`` resend the
whole history, and an ``execute_tool`` span; every span carries ``gen_ai.conversation.id``. Both
batches run through the same pipeline (``export_throughput.ours``), interleaved.

Cost per turn: one conversation of 50 turns, each turn its own trace (as it is with GenAI
instrumentation); turn 1 and turn 50 are mapped alone and their time divided by the OTLP bytes
their spans carry. Flat (turn 50 / turn 1 <= 1) means no work beyond reading what arrived.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench.export_throughput import ours
from bench.spans import AGENT, MS, T0, TOOL_RESPONSE, USER
from bench.timing import Measurement, interleave, timed

TRACKER = "tracker-shaped spans"
GENAI = "GenAI-shaped spans"
GENAI_TARGET = 0.7
LONG_CONVERSATION = 50


def _message(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


class _Turns:
    """Builds the turns of one conversation with an explicit clock."""

    def __init__(self, tracer: Any, cid: str, start: int) -> None:
        self.tracer, self.cid, self.now = tracer, cid, start
        self.history: list[dict[str, Any]] = [_message("system", "You are a support agent.")]

    def tick(self, ms: int = 1) -> int:
        self.now += ms * MS
        return self.now

    def span(self, name: str, attributes: dict[str, Any], parent: Any = None) -> Any:
        from opentelemetry import trace

        context = trace.set_span_in_context(parent) if parent is not None else None
        attributes = {"gen_ai.conversation.id": self.cid, **attributes}
        return self.tracer.start_span(name, context, attributes=attributes, start_time=self.tick())

    def chat(self, parent: Any, answer: dict[str, Any]) -> None:
        chat = self.span("chat gpt-4o", self._chat_attributes(answer), parent)
        chat.end(end_time=self.tick(400))

    def _chat_attributes(self, answer: dict[str, Any]) -> dict[str, Any]:
        return {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 40 * len(self.history),
            "gen_ai.usage.output_tokens": 60,
            "gen_ai.input.messages": json.dumps(self.history),
            "gen_ai.output.messages": json.dumps([answer]),
        }

    def turn(self, number: int) -> None:
        root = self.span("invoke_agent support", {"gen_ai.operation.name": "invoke_agent"})
        self.history.append(_message("user", f"{USER} ({number})"))
        call = {"type": "tool_call", "id": f"c{number}", "name": "lookup_order"}
        asked = {"role": "assistant", "parts": [{**call, "arguments": {"order": "4471-A"}}]}
        self.chat(root, asked)
        tool = self.span(
            "execute_tool lookup_order",
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup_order",
                "gen_ai.tool.call.arguments": '{"order": "4471-A"}',
                "gen_ai.tool.call.result": TOOL_RESPONSE,
            },
            root,
        )
        tool.end(end_time=self.tick(30))
        result = {"type": "tool_call_response", "id": f"c{number}", "response": TOOL_RESPONSE}
        self.history += [asked, {"role": "tool", "parts": [result]}]
        self.chat(root, _message("assistant", AGENT))
        self.history.append(_message("assistant", AGENT))
        root.end(end_time=self.tick())


def make_genai_spans(conversations: int = 20, turns: int = 5) -> list[ReadableSpan]:
    """Finished GenAI spans in end order, each turn its own trace."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_v2", "2.4b0")
    for index in range(conversations):
        builder = _Turns(tracer, f"conv-{index}", T0 + index * 60_000 * MS)
        for number in range(turns):
            builder.turn(number)
    provider.shutdown()
    return list(exporter.get_finished_spans())


@dataclass
class GenAIResult:
    """Throughput of both shapes, and the per-turn cost at turn 1 and turn 50."""

    throughput: dict[str, Measurement]
    per_turn: dict[int, Measurement]
    turn_bytes: dict[int, int]
    samples: int

    def spans_per_second(self, name: str) -> float:
        return 1e9 / self.throughput[name].best

    @property
    def ratio(self) -> float:
        """GenAI over tracker-shaped throughput (best samples)."""
        return self.spans_per_second(GENAI) / self.spans_per_second(TRACKER)

    def ns_per_byte(self, turn: int) -> float:
        return self.per_turn[turn].best / self.turn_bytes[turn]

    @property
    def flatness(self) -> float:
        """Per-byte cost at the last turn over the first."""
        return self.ns_per_byte(LONG_CONVERSATION) / self.ns_per_byte(1)


def _batch(spans: Sequence[ReadableSpan]) -> Any:
    def run() -> int:
        ours(spans)
        return len(spans)

    return lambda: timed(run)


def _one_turn(spans: Sequence[ReadableSpan]) -> Any:
    def run() -> int:
        ours(spans)
        return 1

    return lambda: timed(run)


def run(tracker_spans: Sequence[ReadableSpan], samples: int, turns: int = 5) -> GenAIResult:
    """Both shapes interleaved; then turn 1 and the last turn of a long conversation."""
    conversations = max(1, len(tracker_spans) // (turns * 5))
    genai_spans = make_genai_spans(conversations, turns)
    throughput = interleave({TRACKER: _batch(tracker_spans), GENAI: _batch(genai_spans)}, samples)
    long = make_genai_spans(1, LONG_CONVERSATION)
    by_trace: dict[int, list[ReadableSpan]] = {}
    for span in long:
        by_trace.setdefault(span.context.trace_id, []).append(span)
    traces = list(by_trace.values())
    chosen = {1: traces[0], LONG_CONVERSATION: traces[-1]}
    per_turn = interleave({n: _one_turn(s) for n, s in chosen.items()}, samples)
    sizes = {n: encode_spans(s).ByteSize() for n, s in chosen.items()}
    return GenAIResult(throughput, per_turn, sizes, samples)
