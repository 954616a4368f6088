"""Faults between the exporter and the backend: every one survived, nothing lost or doubled."""

from __future__ import annotations

import pytest

from tests.reliability.helpers import (
    ServerView,
    WireLog,
    assert_exactly,
    converse,
    make_pipeline,
    report,
)
from tests.support.faults import (
    Fault,
    FaultProxy,
    Hang,
    ResetRequest,
    ResetResponse,
    Respond,
)

INGEST = "/api/ingest/"
FAULTS: dict[str, list[Fault]] = {
    "5xx burst": [Respond(500), Respond(502), Respond(503), Respond(504), Respond(500)],
    "429 Retry-After": [Respond(429, {"Retry-After": "1"}), Respond(429, {"Retry-After": "1"})],
    "reset mid request body": [ResetRequest(after=200), ResetRequest(after=0)],
    "reset mid response body": [ResetResponse(), ResetResponse()],
    "hang past the timeout": [Hang(seconds=2.0), Hang(seconds=2.0, forward=True)],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_is_survived_without_loss_or_duplicates(
    name: str, proxy: FaultProxy, view: ServerView, wire: WireLog
) -> None:
    proxy.script(INGEST, *FAULTS[name])
    pipeline = make_pipeline(proxy.url, request_timeout=1.0)
    cids = [f"{name.replace(' ', '-')}-{n}" for n in range(12)]
    try:
        results = [converse(pipeline.tracker, cid, timeout=30.0) for cid in cids]
    finally:
        pipeline.close()
    assert {result["status"] for result in results} == {"delivered"}
    assert proxy.scripted(INGEST) == 0, "every scripted fault was met"
    counts = assert_exactly(view, cids)
    assert pipeline.exporter.stats.lost_spans == 0
    if name in ("reset mid response body", "hang past the timeout"):
        # The server took those bodies before the client saw the failure: sent again, kept once.
        assert wire.resent > 0
    report(f"fault: {name}", faults=len(FAULTS[name]), resent_spans=wire.resent, **counts)


def test_connection_refused_until_the_backend_listens_again(
    proxy: FaultProxy, view: ServerView
) -> None:
    pipeline = make_pipeline(proxy.url, request_timeout=1.0)
    proxy.refuse()
    cids = [f"refused-{n}" for n in range(12)]
    try:
        results = [converse(pipeline.tracker, cid) for cid in cids]
        assert pipeline.transport.wait_failures(3), "the exporter kept trying"
        proxy.accept()
        assert pipeline.exporter.force_flush(30_000)
    finally:
        pipeline.close()
    assert {result["status"] for result in results} == {"pending"}
    counts = assert_exactly(view, cids)
    assert pipeline.exporter.stats.lost_spans == 0
    report("fault: connection refused", refused_attempts=pipeline.transport.failures, **counts)


@pytest.mark.slow
def test_every_fault_in_one_run_from_several_threads(
    proxy: FaultProxy, view: ServerView, wire: WireLog
) -> None:
    script = [fault for faults in FAULTS.values() for fault in faults]
    proxy.script(INGEST, *script)
    pipeline = make_pipeline(proxy.url, request_timeout=1.0)
    cids = [f"mixed-{n}" for n in range(40)]
    try:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:
            results = list(
                pool.map(lambda cid: converse(pipeline.tracker, cid, timeout=60.0), cids)
            )
    finally:
        pipeline.close()
    assert {result["status"] for result in results} == {"delivered"}
    counts = assert_exactly(view, cids)
    assert pipeline.exporter.stats.lost_spans == 0
    report("fault: all in one run", faults=len(script), resent_spans=wire.resent, **counts)


def test_a_backend_that_answers_too_slowly_every_time_fails_counted_and_logged(
    proxy: FaultProxy, view: ServerView, caplog: pytest.LogCaptureFixture
) -> None:
    proxy.default = Hang(seconds=None)
    pipeline = make_pipeline(proxy.url, request_timeout=0.2, export_deadline=0.5)
    try:
        results = [converse(pipeline.tracker, f"slow-{n}", timeout=10.0) for n in range(3)]
    finally:
        proxy.release()
        pipeline.close()
    assert {result["status"] for result in results} == {"failed"}
    assert all(result["summary"]["errors"] == len(result["items"]) for result in results)
    assert pipeline.exporter.stats.lost_spans == pipeline.exporter.stats.failed_spans > 0
    lost = [r for r in caplog.records if "not delivered" in r.getMessage()]
    assert len(lost) == 1, "the loss is logged, once a minute"
    assert view.conversation_count() == 0
