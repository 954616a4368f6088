"""A Python app on the Collector route: tracker spans out through the real OTLP exporters.

Run as a subprocess (global OTel state stays out of the test process)::

    python -m tests.collector.producer --protocol grpc --endpoint 127.0.0.1:4317 \
        --prefix run1 --count 3

Each conversation is one interaction: a question, an action, token usage, an answer and a
button click. Prints one JSON line per conversation: its id and what it should land as.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from agentsight_otel import ConversationTracker

START = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)


def otlp_exporter(protocol: str, endpoint: str) -> SpanExporter:
    """The opentelemetry-exporter-otlp exporter for ``protocol`` at ``endpoint``."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=f"http://{endpoint}", insecure=True)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    return Http(endpoint=f"http://{endpoint}/v1/traces")


def expected(conversation_id: str, index: int) -> dict[str, object]:
    """What the conversation must land as at the backend."""
    return {
        "conversation_id": conversation_id,
        "messages": [["end_user", f"Where is order A-{index}?"], ["agent", f"A-{index} shipped."]],
        "actions": ["lookup_order"],
        "buttons": [["feedback", "Helpful", "thumbs_up"]],
        "tokens": [100 + index, 20 + index],
    }


def converse(tracker: ConversationTracker, conversation_id: str, index: int) -> None:
    """One interaction with every kind of record."""
    tracker.get_or_create_conversation(
        conversation_id, customer_id=f"customer-{index}", name="Where is my order?", source="web"
    )
    tracker.track_human_message(f"Where is order A-{index}?")
    started = START + timedelta(seconds=index)
    tracker.track_action(
        "lookup_order",
        started_at=started,
        ended_at=started + timedelta(milliseconds=250),
        tools_used={"order_id": f"A-{index}"},
        response="shipped",
    )
    tracker.track_token_usage(100 + index, 20 + index, model="gpt-4o-mini", provider="openai")
    tracker.track_agent_message(f"A-{index} shipped.")
    tracker.track_button("feedback", "Helpful", "thumbs_up")
    tracker.send_tracked_data()


def main() -> None:
    """Track ``--count`` conversations, flush the exporter, print what each should land as."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", choices=("grpc", "http"), required=True)
    parser.add_argument("--endpoint", required=True, help="the Collector's HOST:PORT")
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--count", type=int, default=1)
    args = parser.parse_args()
    provider = TracerProvider(resource=Resource.create({"service.name": "collector-e2e"}))
    processor = BatchSpanProcessor(otlp_exporter(args.protocol, args.endpoint))
    provider.add_span_processor(processor)
    tracker = ConversationTracker(tracer_provider=provider)
    for index in range(args.count):
        conversation_id = f"{args.prefix}-{index:04d}"
        converse(tracker, conversation_id, index)
        print(json.dumps(expected(conversation_id, index)), flush=True)
    if not processor.force_flush(30_000):
        raise SystemExit("the OTLP exporter did not flush")
    provider.shutdown()


if __name__ == "__main__":
    main()
