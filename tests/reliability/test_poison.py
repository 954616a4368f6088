"""One body the backend refuses forever does not hold up the rest: per-body retry state."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.helpers import (
    ServerView,
    assert_exactly,
    converse,
    make_pipeline,
    plain_body,
    report,
    wait_until,
)
from tests.support.faults import Fault, FaultProxy, Request, Respond

POISON = "poison-conversation"
HEALTHY = 100


def refuse_poison(request: Request) -> Fault | None:
    """500 to every ingest body carrying the poison conversation, forever."""
    if request.path == "/api/ingest/" and POISON.encode() in plain_body(request):
        return Respond(500)
    return None


@pytest.mark.slow
def test_healthy_bodies_flow_past_a_body_refused_forever(
    proxy: FaultProxy, view: ServerView, tmp_path: Path
) -> None:
    proxy.judge = refuse_poison
    spool = tmp_path / "spool"
    pipeline = make_pipeline(
        proxy.url,
        spool_dir=str(spool),
        export_deadline=1.0,
        request_timeout=1.0,
        _spool_retry_interval=0.2,
    )
    try:
        converse(pipeline.tracker, POISON)
        assert pipeline.transport.wait_failures(1, timeout=30)
        healthy = [f"healthy-{n}" for n in range(HEALTHY)]
        for cid in healthy:
            converse(pipeline.tracker, cid)
        pipeline.provider.force_flush()
        delivered = wait_until(lambda: view.conversation_count() >= HEALTHY, timeout=60)
        assert delivered, f"{view.conversation_count()} of {HEALTHY} delivered"
        stats = pipeline.exporter.stats
        # A body counts as refused for itself only while the backend takes others: traffic goes on.
        for n in range(200):
            if stats.dead_spans:
                break
            healthy.append(f"later-{n}")
            converse(pipeline.tracker, healthy[-1])
            pipeline.provider.force_flush()
            pipeline.exporter.wait_delivered(5)
            wait_until(lambda: bool(stats.dead_spans), timeout=0.5)
        assert stats.dead_spans, stats
        assert wait_until(lambda: view.conversation_count() >= len(healthy), timeout=30)
    finally:
        pipeline.close()
    assert_exactly(view, healthy)
    dead = list((spool / "dead").glob("*.body"))
    assert len(dead) == 1 and POISON.encode() in dead[0].read_bytes()
    assert stats.lost_spans == stats.dead_spans  # the poison conversation's spans, counted
    report("poison body", healthy_delivered=HEALTHY, set_aside_spans=stats.dead_spans)
