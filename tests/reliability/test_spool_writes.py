"""One failed spool write costs one conversation, not every conversation of the body.

A real fault in a real process: a file-size limit (RLIMIT_FSIZE) the whole body passes but each
small conversation does not, while the backend's port refuses connections.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.reliability.helpers import closed_port, report, run_script

SCRIPT = """
import json, resource, sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from agentsight_otel import AgentSightSpanExporter, ConversationTracker
from agentsight_otel._delivery.client import RetryPolicy
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.testing import TEST_API_KEY

endpoint, spool = sys.argv[1], sys.argv[2]
ledger = DeliveryLedger()
exporter = AgentSightSpanExporter(
    api_key=TEST_API_KEY, endpoint=endpoint, spool_dir=spool, compression="none",
    export_deadline=0.5, request_timeout=0.5, _ledger=ledger,
    _retry_policy=RetryPolicy(max_attempts=2, base_delay=0.05),
)
provider = TracerProvider(shutdown_on_exit=False)
provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
tracker = ConversationTracker(
    api_key=TEST_API_KEY, endpoint=endpoint, _ledger=ledger, tracer_provider=provider
)
for cid, size in (("small-1", 10), ("big", 6000), ("small-2", 10)):
    tracker.track_human_message(cid + " " + "x" * size, conversation_id=cid)
    tracker.send_tracked_data(cid, timeout=0)
resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))  # SIGXFSZ is ignored by Python
provider.force_flush()  # the three conversations in one export call, one round, one body
exporter.wait_delivered(30)
stats = exporter.stats
print(json.dumps({"failed": stats.failed_spans, "spooled": stats.spooled_spans}), flush=True)
"""


def test_a_failed_spool_write_falls_back_to_one_file_per_conversation(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    process = run_script(SCRIPT, argv=[closed_port(), str(spool)])
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    counts = json.loads(out.strip().splitlines()[-1])
    kept = sorted(
        block["conversation_id"]
        for path in spool.glob("*.body")
        for block in json.loads(path.read_bytes())["conversations"]
    )
    assert kept == ["small-1", "small-2"]
    assert counts == {"failed": 1, "spooled": 2}  # the big one, counted; the others on disk
    report("spool write fails for one conversation", kept=len(kept), lost_spans=1)
