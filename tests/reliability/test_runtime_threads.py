"""The library's background work runs on at most two threads of its own, whatever the application
uses (issue 18): tracking, ``@traced_action``, attachments, sends and the idle sweep share the
runtime's io and timer threads; the private pipeline's span queue has no thread of its own."""

from __future__ import annotations

import ast

from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY
from tests.reliability.helpers import run_script

EVERYTHING = """
import base64, threading
from agentsight_otel import conversation_tracker as tracker, traced_action

@traced_action
def lookup(order: str) -> str:
    return f"order {order} shipped"

before = {t.name for t in threading.enumerate()}
assert not [name for name in before if name.startswith("agentsight")], before  # none at import
tracker.get_or_create_conversation("threads-1")
tracker.track_human_message("where is my order?")
lookup("42")
pdf = base64.b64encode(b"%PDF-1.4 receipt").decode()
tracker.track_attachments([{"data": pdf, "filename": "receipt.pdf"}])
tracker.track_agent_message("it shipped")
result = tracker.send_tracked_data(timeout=20)
tracker.configure(idle_timeout=30)  # a second pipeline: its threads are the same two
tracker.track_human_message("thanks", conversation_id="threads-2")
again = tracker.send_tracked_data("threads-2", timeout=20)
ours = sorted(t.name for t in threading.enumerate() if t.name not in before)
print("status", result["status"], again["status"], "threads", ours, flush=True)
"""


def test_tracking_decorating_uploading_and_sending_use_two_threads_of_ours(
    server: LocalServer,
) -> None:
    process = run_script(
        EVERYTHING, AGENTSIGHT_API_KEY=TEST_API_KEY, AGENTSIGHT_API_ENDPOINT=server.url
    )
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    assert "status delivered delivered" in out, out + err
    threads = ast.literal_eval(out.split("threads ", 1)[1])  # the printed list of names
    # Nothing else is new: the private pipeline queues spans for the timer thread, with no
    # BatchSpanProcessor thread (a reconfiguration's drain has ended by then).
    assert threads == ["agentsight-io", "agentsight-timer"], threads


EVENT_MODE = """
import threading
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from agentsight_otel import AgentSightLogExporter, AgentSightSpanExporter, conversation
from agentsight_otel import traced_action
from tests.genai.records import event_mode_turn

@traced_action
def lookup(email: str) -> str:  # redacted outside any tracked conversation too
    return f"found {email}"

before = {t.name for t in threading.enumerate()}
exporter = AgentSightSpanExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
logs = LoggerProvider()
logs.add_log_record_processor(SimpleLogRecordProcessor(AgentSightLogExporter(exporter)))
with conversation("threads-logs-2", customer_id="ann@example.com"):
    lookup("ann@example.com")
event_mode_turn(tracer_provider.get_tracer("t"), logs.get_logger("t"), "threads-logs")
assert exporter.wait_delivered(20)  # the trace had its records: it went out without the grace
delivered = exporter.stats.delivered_spans
ours = sorted(t.name for t in threading.enumerate() if t.name not in before)
logs.shutdown()
tracer_provider.shutdown()
print("delivered", delivered, "threads", ours, flush=True)
"""


def test_the_log_exporter_and_redaction_add_no_thread_of_their_own(server: LocalServer) -> None:
    process = run_script(
        EVENT_MODE,
        AGENTSIGHT_API_KEY=TEST_API_KEY,
        AGENTSIGHT_API_ENDPOINT=server.url,
        AGENTSIGHT_REDACT_PII="1",
    )
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    assert "delivered 2 " in out, out + err
    threads = ast.literal_eval(out.split("threads ", 1)[1])
    assert set(threads) <= {"agentsight-io", "agentsight-timer"}, threads
