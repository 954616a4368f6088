"""The spool survives the process: what one process could not deliver, the next one does."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentsight_otel.testing import TEST_API_KEY
from tests.reliability.helpers import (
    ServerView,
    assert_ended_at_exit,
    assert_exactly,
    report,
    run_script,
)
from tests.support.faults import FaultProxy

FIRST = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from agentsight_otel import AgentSightSpanExporter, conversation_tracker as tracker
from tests.reliability.helpers import converse

# The application's own provider, the exporter told to give up quickly.
exporter = AgentSightSpanExporter(request_timeout=0.5, export_deadline=1.0)
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(exporter))
trace.set_tracer_provider(provider)
for n in range(20):
    assert converse(tracker, f"restart-{n}")["status"] == "pending"
tracker.get_or_create_conversation("restart-open")
tracker.track_human_message("restart-open question")
"""

SECOND = """
from agentsight_otel import conversation_tracker as tracker
from tests.reliability.helpers import converse

print(converse(tracker, "restart-after", timeout=10)["status"], flush=True)
"""


@pytest.mark.slow
def test_a_restarted_process_delivers_what_the_first_one_spooled(
    proxy: FaultProxy, view: ServerView, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    env = {
        "AGENTSIGHT_API_KEY": TEST_API_KEY,
        "AGENTSIGHT_API_ENDPOINT": proxy.url,
        "AGENTSIGHT_SPOOL_DIR": str(spool),
    }
    proxy.refuse()
    first = run_script(FIRST, **env)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    bodies = sorted(spool.glob("*.body"))
    spans = sum(int(path.stem.rsplit("-", 1)[1]) for path in bodies)
    assert spans == 20 * 3 + 1  # a turn, a tool and a button each, and the open turn
    assert view.conversation_count() == 0

    proxy.accept()
    second = run_script(SECOND, **env)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert out.strip() == "delivered"
    sent = [f"restart-{n}" for n in range(20)] + ["restart-after"]
    assert_exactly(view, sent, partial={"restart-open": ["restart-open question"]})
    assert_ended_at_exit(view, "restart-open", "restart-open question")
    assert list(spool.iterdir()) == []
    report("spool across a restart", spooled_bodies=len(bodies), spooled_spans=spans)
