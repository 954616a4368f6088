"""A backend down for 60 s while 100 conversations per second keep being tracked."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.reliability.helpers import (
    HttpPipeline,
    ServerView,
    WireLog,
    assert_exactly,
    converse,
    make_pipeline,
    report,
    wait_until,
)
from tests.support.faults import FaultProxy, Forward, Hang

RATE = 100  # conversations per second
TICK = 0.1  # seconds between bursts of RATE * TICK conversations
OUTAGE_S = 60.0


class Traffic:
    """Tracks conversations at a steady rate on its own thread until stopped."""

    def __init__(self, pipeline: HttpPipeline, prefix: str) -> None:
        self.pipeline = pipeline
        self.prefix = prefix
        self.cids: list[str] = []
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.pending = 0
        self._thread = threading.Thread(target=self._run, name="traffic")

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        burst = int(RATE * TICK)
        next_tick = time.monotonic()
        try:
            while not self.stop.wait(max(0.0, next_tick - time.monotonic())):
                for _ in range(burst):
                    cid = f"{self.prefix}-{len(self.cids)}"
                    result = converse(self.pipeline.tracker, cid)
                    self.pending += result["status"] == "pending"
                    self.cids.append(cid)
                next_tick += TICK
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)


@pytest.mark.slow
def test_a_60_second_outage_at_100_conversations_per_second_loses_nothing(
    proxy: FaultProxy, view: ServerView, wire: WireLog, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    pipeline = make_pipeline(
        proxy.url,
        request_timeout=0.5,
        export_deadline=2.0,
        spool_dir=str(spool),
        _spool_retry_interval=1.0,
    )
    try:
        with Traffic(pipeline, "outage") as traffic:
            largest_spool = _outage(proxy, traffic, spool)
        assert traffic.errors == []
        sent = len(traffic.cids)
        assert wait_until(lambda: view.conversation_count() >= sent, 60, step=0.5)
        assert wait_until(lambda: not list(spool.glob("*.body")), 30)
    finally:
        pipeline.close()
    counts = assert_exactly(view, traffic.cids)
    stats = pipeline.exporter.stats
    assert stats.lost_spans == 0
    assert stats.spooled_spans > 0 and stats.replayed_spans >= stats.spooled_spans
    report(
        "outage 60 s at 100 conversations/s (spool)",
        sent=sent,
        received=counts["conversations"],
        messages=counts["messages"],
        duplicates_stored=0,
        resent_spans=wire.resent,
        spooled_spans=stats.spooled_spans,
        replayed_spans=stats.replayed_spans,
        largest_spool_bytes=largest_spool,
        sends_pending=traffic.pending,
    )


def _outage(proxy: FaultProxy, traffic: Traffic, spool: Path) -> int:
    """Two healthy seconds, OUTAGE_S refused, two healthy again; the spool's largest size."""
    assert wait_until(lambda: len(traffic.cids) >= 2 * RATE, 30)
    proxy.refuse()
    largest = 0
    down_at = time.monotonic()
    while time.monotonic() - down_at < OUTAGE_S:
        largest = max(largest, _bytes_in(spool))
        threading.Event().wait(1.0)
    during = len(traffic.cids)
    proxy.accept()
    assert wait_until(lambda: len(traffic.cids) >= during + 2 * RATE, 30)
    return largest


def _bytes_in(directory: Path) -> int:
    """Bytes of the files in a directory (0 when it does not exist yet)."""
    if not directory.exists():
        return 0
    return sum(path.stat().st_size for path in directory.iterdir() if path.is_file())


def test_without_a_spool_the_loss_is_counted_and_logged_once(
    proxy: FaultProxy, view: ServerView, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = make_pipeline(proxy.url, request_timeout=0.3, export_deadline=0.5)
    proxy.refuse()
    try:
        results = [converse(pipeline.tracker, f"lost-{n}", timeout=10.0) for n in range(5)]
        proxy.accept()
        delivered = converse(pipeline.tracker, "after-the-outage", timeout=10.0)
    finally:
        pipeline.close()
    assert {result["status"] for result in results} == {"failed"}
    assert delivered["status"] == "delivered"
    stats = pipeline.exporter.stats
    assert stats.lost_spans == stats.failed_spans == 5 * stats.delivered_spans
    lost = [r for r in caplog.records if "not delivered" in r.getMessage()]
    assert len(lost) == 1, "logged once a minute, never silently"
    assert view.conversation_count() == 1
    report("outage without a spool", lost_spans=stats.lost_spans, loss_warnings=len(lost))


@pytest.mark.slow
def test_a_queue_filling_behind_a_hung_backend_goes_to_the_spool(
    proxy: FaultProxy, view: ServerView, tmp_path: Path
) -> None:
    # Twice the queue's cap is tracked behind a hung backend (its deadline far away):
    # past half the cap the retry is cut short and the queue goes to disk instead of filling.
    proxy.default = Hang(seconds=None)
    pipeline = make_pipeline(
        proxy.url,
        request_timeout=0.5,
        export_deadline=60.0,
        spool_dir=str(tmp_path / "spool"),
        _spool_retry_interval=0.5,
        max_queue_bytes=2_000_000,
    )
    try:
        with Traffic(pipeline, "pressed") as traffic:
            assert wait_until(lambda: pipeline.exporter.stats.spooled_spans > 0, 30)
            assert wait_until(lambda: len(traffic.cids) >= 3 * RATE, 30)
        proxy.default = Forward()
        proxy.release()
        cids = traffic.cids
        assert wait_until(lambda: view.conversation_count() == len(cids), 30)
    finally:
        pipeline.close()
    stats = pipeline.exporter.stats
    assert stats.dropped_queue_full == 0 and stats.lost_spans == 0
    assert_exactly(view, cids)
    report(
        "queue past half its cap behind a hung backend",
        conversations=len(cids),
        spooled_spans=stats.spooled_spans,
    )


@pytest.mark.slow
def test_with_a_spool_a_full_queue_goes_to_disk_not_dropped(
    proxy: FaultProxy, view: ServerView, tmp_path: Path
) -> None:
    # A queue far smaller than one export call of the BatchSpanProcessor, behind a hung backend:
    # what does not fit is written to the spool by the caller of export, never dropped.
    proxy.default = Hang(seconds=None)
    pipeline = make_pipeline(
        proxy.url,
        request_timeout=3.0,
        export_deadline=5.0,
        spool_dir=str(tmp_path / "spool"),
        _spool_retry_interval=0.5,
        _max_queue_spans=64,
    )
    cids = [f"small-queue-{n}" for n in range(400)]
    try:
        for cid in cids:
            converse(pipeline.tracker, cid)
        pipeline.provider.force_flush()
        assert wait_until(lambda: pipeline.exporter.stats.spooled_spans > 0, 30)
        proxy.default = Forward()
        proxy.release()
        assert wait_until(lambda: view.conversation_count() == len(cids), 60)
    finally:
        pipeline.close()
    stats = pipeline.exporter.stats
    assert stats.dropped_queue_full == 0 and stats.lost_spans == 0
    assert_exactly(view, cids)
    report("a queue of 64 spans behind a hung backend", spooled_spans=stats.spooled_spans)
