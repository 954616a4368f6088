"""Capabilities asked again after a failure, one bad conversation not costing a round, and
the private pipeline's deeper span queue."""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from time import monotonic
from typing import Any

import pytest

from agentsight_otel._config import resolve_settings
from agentsight_otel._delivery.client import IngestClient
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._delivery.transport import HttpResponse
from agentsight_otel._export import worker as worker_module
from agentsight_otel._export.capabilities import RETRY_INTERVAL_S, BackendCapabilities
from agentsight_otel._mapping.payload import PayloadBuilder, TraceGroup
from agentsight_otel._tracker import pipeline as pipeline_module
from agentsight_otel._tracker.pipeline import COALESCE_SECONDS, Pipeline
from agentsight_otel.testing import TEST_API_KEY, FakeBackend, FakeClock, ScriptedTransport, refused
from tests.unit.helpers import messages, turn_record

ME = b'{"capabilities": ["gzip-ingest"], "environments": [{"slug": "staging"}]}'


class PoisonAverseBuilder(PayloadBuilder):
    """A builder that fails any round holding the conversation named "poison"."""

    def build(self, groups: Any) -> Any:
        groups = list(groups)
        if any(group.conversation_id == "poison" for group in groups):
            raise RuntimeError("cannot map this one")
        return super().build(groups)


def client(transport: ScriptedTransport, clock: FakeClock) -> IngestClient:
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint="http://agentsight.test")
    return IngestClient(settings, transport, clock=clock)


def test_capabilities_are_asked_again_after_the_backend_was_down() -> None:
    transport = ScriptedTransport().script("/api/me/", refused(), HttpResponse(200, {}, ME))
    clock = FakeClock()
    backend = BackendCapabilities(client(transport, clock))
    backend.refresh()
    assert (backend.gzip, "staging" in backend.environments) == (False, False)
    backend.refresh()  # too soon: not asked again
    assert len(transport.requests) == 1
    clock.time += RETRY_INTERVAL_S
    backend.refresh()
    assert (backend.gzip, "staging" in backend.environments) == (True, True)
    backend.refresh()  # learned: never asked again
    assert len(transport.requests) == 2


@pytest.mark.usefixtures("internal_errors_hidden")
def test_one_conversation_that_cannot_be_mapped_does_not_cost_the_round(
    monkeypatch: pytest.MonkeyPatch, make_backend: Any
) -> None:
    monkeypatch.setattr(worker_module, "PayloadBuilder", PoisonAverseBuilder)
    backend: FakeBackend = make_backend()
    tracker = backend.tracker
    for cid in ("good-1", "poison", "good-2"):
        tracker.track_human_message(f"hello from {cid}", conversation_id=cid)
    results = {
        cid: tracker.send_tracked_data(conversation_id=cid)["status"]
        for cid in ("good-1", "poison", "good-2")
    }
    assert results == {"good-1": "delivered", "poison": "failed", "good-2": "delivered"}
    assert messages(backend.transport) == ["hello from good-1", "hello from good-2"]
    assert backend.exporter.stats.failed_spans == 1


def test_private_pipeline_queues_more_than_the_sdk_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_BSP_MAX_QUEUE_SIZE", raising=False)
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint="http://agentsight.test")
    pipeline = Pipeline(settings, DeliveryLedger(), None)
    try:
        assert pipeline._processor._max_queue_size == 32_768
    finally:
        pipeline.shutdown(100)


def test_sends_nobody_waits_for_share_one_export_and_a_waited_send_is_not_delayed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wakes: list[float] = []
    monkeypatch.setattr(pipeline_module.RUNTIME.timer, "wake_by", wakes.append)
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint="http://agentsight.test")
    pipeline = Pipeline(settings, DeliveryLedger(), None)
    try:
        assert pipeline.due(monotonic()) == math.inf
        pipeline.request_flush(COALESCE_SECONDS)
        first = pipeline.due(monotonic())
        assert 0 < first <= COALESCE_SECONDS
        for _ in range(20):  # the turns of a busy application, sent as they end
            pipeline.request_flush(COALESCE_SECONDS)
        assert len(wakes) == 1 and pipeline.due(monotonic()) <= first  # never postponed
        pipeline.request_flush(0.0)  # a send that waits for the answer
        assert len(wakes) == 2 and pipeline.due(monotonic()) <= 0
        pipeline.work()
        assert pipeline.due(monotonic()) == math.inf
    finally:
        pipeline.shutdown(100)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_flushes_although_its_parent_had_a_flush_pending() -> None:
    # The child inherits the pending flush but not the timer thread: a send there must still
    # start the thread (an early "a flush is coming" return left the child's sends unsent, so
    # the fork hook forgets the parent's request).
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint="http://agentsight.test")
    pipeline = Pipeline(settings, DeliveryLedger(), None)
    try:
        # A flush asked for in the parent that its timer thread has not run yet when it forks
        # (set directly: asked through request_flush, the parent's thread may run it first).
        pipeline._flush_at = monotonic()
        pid = os.fork()
        if pid == 0:
            pipeline.request_flush(0.0)  # the child's waiting send
            deadline = monotonic() + 10
            while pipeline.due(monotonic()) != math.inf and monotonic() < deadline:
                time.sleep(0.01)
            os._exit(0 if pipeline.due(monotonic()) == math.inf else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        pipeline.shutdown(100)


@pytest.mark.usefixtures("internal_errors_hidden")
def test_a_round_with_one_bad_conversation_still_maps_the_others(
    monkeypatch: pytest.MonkeyPatch, make_backend: Any
) -> None:
    monkeypatch.setattr(worker_module, "PayloadBuilder", PoisonAverseBuilder)
    backend: FakeBackend = make_backend()
    worker = backend.exporter._worker
    groups = [
        TraceGroup(cid, [turn_record(index + 1, index + 10, cid)])
        for index, cid in enumerate(("good-1", "poison", "good-2"))
    ]
    blocks = worker._build(groups)
    assert [block.conversation_id for block in blocks] == ["good-1", "good-2"]
    assert worker.stats.failed_spans == 1


def test_counts_from_several_threads_at_once_are_all_kept(make_backend: Any) -> None:
    # Issue 18: the counters were bumped with ``+=`` from the delivery thread and callers'
    # threads (a full queue spills on the caller's), each a read, a sum, then a write: a
    # thread switch in between lost counts.
    backend: FakeBackend = make_backend()
    worker = backend.exporter._worker
    groups = [TraceGroup(f"c-{n}", [turn_record(n + 1, n + 100, f"c-{n}")]) for n in range(4)]
    blocks = worker._build(groups)
    rounds, threads = 3_000, 8

    def failed() -> None:
        for _ in range(rounds):
            worker._settle_failed(groups, "refused", blocks)

    def delivered() -> None:
        for _ in range(rounds):
            worker._settle(blocks, [None] * len(blocks))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        hammers = [threading.Thread(target=(failed, delivered)[n % 2]) for n in range(threads)]
        for hammer in hammers:
            hammer.start()
        for hammer in hammers:
            hammer.join()
    finally:
        sys.setswitchinterval(interval)
    each = rounds * threads // 2
    assert worker.stats.failed_spans == each * (len(groups) + len(blocks))
    assert worker.stats.delivered_spans == each * len(blocks)
