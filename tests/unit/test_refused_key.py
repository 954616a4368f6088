"""A refused key or endpoint (401/403/404) is treated the same for live and spooled bodies;
what the backend refuses for good counts as lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentsight_otel._delivery.transport import HttpResponse
from agentsight_otel.testing import ScriptedTransport

from .helpers import capture

INGEST = "/api/ingest/"


def three_conversations():  # type: ignore[no-untyped-def]
    def script(t) -> None:  # type: ignore[no-untyped-def]
        for cid in ("conv-a", "conv-b", "conv-c"):
            t.track_human_message(f"hello from {cid}", conversation_id=cid)
            t.send_tracked_data(cid)

    return capture(script)


@pytest.mark.parametrize("status", [401, 403, 404])
def test_with_a_spool_a_refused_key_keeps_live_batches_on_disk(
    exporters, tmp_path: Path, status: int
) -> None:
    transport = ScriptedTransport().script(INGEST, HttpResponse(status))
    exporter = exporters(transport, spool_dir=str(tmp_path), _spool_retry_interval=0.0)
    assert exporter.export(three_conversations()).name == "SUCCESS"
    assert exporter.wait_delivered(10)
    stats = exporter.stats
    assert (stats.rejected_spans, stats.lost_spans, stats.spooled_spans) == (0, 0, 3)
    # The key is fixed (the backend answers 200 again): the spool drains.
    exporter.force_flush()
    assert exporter.wait_delivered(10)
    assert stats.replayed_spans == 3 and not list(tmp_path.glob("*.body"))


def test_without_a_spool_rejected_spans_count_as_lost(exporters) -> None:
    transport = ScriptedTransport(default=HttpResponse(401, {}, b'{"detail": "Invalid key."}'))
    exporter = exporters(transport)
    assert exporter.export(three_conversations()).name == "SUCCESS"
    assert exporter.force_flush()
    assert exporter.stats.rejected_spans == 3
    assert exporter.stats.lost_spans == 3
