"""A support bot on the Collector route: standard OTLP out, nothing AgentSight-specific in-process.

The application exports OTLP to an OpenTelemetry Collector (``OTEL_EXPORTER_OTLP_ENDPOINT``,
default ``http://localhost:4318``); the Collector sends every trace to the agentsight-otel
bridge, which delivers the conversations to AgentSight, and to Jaeger. No AgentSight API key
lives in this process: the bridge holds it. (Attachment bytes never travel as spans: the
tracker uploads them itself, which needs AGENTSIGHT_API_KEY here; this example tracks none.)

    python examples/collector/app.py            # with compose.yaml's collector running
    docker compose run --rm app                 # or inside the compose project
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from agentsight_otel import conversation_tracker, traced_action
from agentsight_otel.helpers import generate_conversation_id


@traced_action
def lookup_order(order_id: str) -> dict[str, str]:
    """Find the order (a stand-in for the shop's database)."""
    return {"order_id": order_id, "status": "shipped", "carrier": "PostNL"}


def main() -> None:
    """Set up standard OTLP export, track one conversation, flush and exit."""
    # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_* apply as usual.
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)  # before the first tracking call: the tracker uses it

    conversation_id = os.environ.get("CONVERSATION_ID") or generate_conversation_id()
    conversation_tracker.get_or_create_conversation(
        conversation_id, customer_id="customer-42", name="Where is my order?", source="web"
    )
    conversation_tracker.track_human_message("Hi, where is my order A-1001?")
    order = lookup_order("A-1001")
    conversation_tracker.track_token_usage(182, 41, model="gpt-4o-mini", provider="openai")
    conversation_tracker.track_agent_message(f"Order {order['order_id']} has {order['status']}.")
    conversation_tracker.track_button("feedback", "Helpful", "thumbs_up")
    result = conversation_tracker.send_tracked_data()

    # "handed_off": the spans went to the OTLP pipeline; the bridge confirms delivery, not us.
    print(f"conversation {conversation_id}: {result['status']} {result['summary']}")
    provider.shutdown()  # flush the BatchSpanProcessor before exiting


if __name__ == "__main__":
    main()
