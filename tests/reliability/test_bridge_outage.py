"""Through the bridge, what it answered 200 for arrives after an outage longer than its
export deadline: the bridge CLI in a subprocess, the real OTLP exporter as the client, the local
server behind the fault proxy answering 503 for 40 s."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from agentsight_otel import ConversationTracker
from agentsight_otel._delivery.ledger import DeliveryLedger
from tests.bridge.test_bridge_cli import start_cli_bridge, stop
from tests.reliability.helpers import ServerView, assert_exactly, converse, report, wait_until
from tests.support.faults import FaultProxy, Forward, Respond

CONVERSATIONS = 50
OUTAGE_S = 40.0  # longer than the bridge's export deadline (30 s): a batch fails for good


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_spans_the_bridge_accepted_arrive_after_an_outage(
    proxy: FaultProxy, view: ServerView
) -> None:
    proxy.default = Respond(503)
    process, url = start_cli_bridge(proxy.url)
    try:
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
        tracker = ConversationTracker(tracer_provider=provider, _ledger=DeliveryLedger())
        cids = [f"through-outage-{n}" for n in range(CONVERSATIONS)]
        for cid in cids:
            converse(tracker, cid)
        assert provider.force_flush(30_000)  # the bridge answered 200 for every span
        threading.Event().wait(OUTAGE_S)
        assert view.conversation_count() == 0
        proxy.default = Forward()
        arrived = wait_until(lambda: view.conversation_count() >= CONVERSATIONS, timeout=90)
        tracker.shutdown(5)
        provider.shutdown()
    finally:
        code, out = stop(process)
    assert arrived, f"{view.conversation_count()} of {CONVERSATIONS} arrived"
    assert code == 0, out
    counts = assert_exactly(view, cids)
    report("bridge through a 40 s outage", accepted=CONVERSATIONS, **counts)
