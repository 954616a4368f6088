"""The application never pays for a hung backend: calls stay quick, sends and shutdown bounded.

Bounds here are generous (outcomes, not timings); the per-call figures are in
``bench/bench_outage.py``.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from agentsight_otel import ConversationTracker, traced_action
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.testing import TEST_API_KEY
from tests.reliability.helpers import make_pipeline, report
from tests.support.faults import FaultProxy, Hang

T = TypeVar("T")
SLACK_S = 5.0  # added to every documented bound: a loaded CI machine is slow, not wrong


@pytest.mark.slow
def test_with_the_backend_hanging_sends_report_pending_and_shutdown_keeps_its_deadline(
    proxy: FaultProxy,
) -> None:
    proxy.default = Hang(seconds=None)
    # The default pipeline, as an application gets it: 10 s request timeout, 30 s deadline.
    tracker = ConversationTracker(
        api_key=TEST_API_KEY, endpoint=proxy.url, _ledger=DeliveryLedger(), send_timeout=1.0
    )

    @traced_action
    def refund(order: str) -> str:
        return f"refunded {order}"

    try:
        tracker.get_or_create_conversation("hung-1")
        tracker.track_human_message("refund please")
        assert refund("A-1") == "refunded A-1"
        tracker.track_button("confirm", "Yes", "yes")
        # Without their own bounds these would wait out the 10 s request timeout at least.
        result, send_s = returns_within(1.0 + SLACK_S, tracker.send_tracked_data)
        visit = tracker.initialize_conversation("hung-2")
    finally:
        _, shutdown_s = returns_within(2.0 + SLACK_S, lambda: tracker.shutdown(timeout=2.0))
        proxy.release()
    assert result["status"] == "pending"
    assert result["summary"]["pending"] == len(result["items"]) == 3
    assert visit["status"] == "pending"
    report("hung backend", send_s=round(send_s, 3), shutdown_s=round(shutdown_s, 3))


def returns_within(bound: float, call: Callable[[], T]) -> tuple[T, float]:
    """Run ``call`` in this context on a helper thread; fail if it has not returned by ``bound``.

    A join with a far deadline, not a timing assertion: it only fails when the call ignores
    its own bound; the measured seconds are reported, not asserted.
    """
    box: list[T] = []
    context = contextvars.copy_context()
    started = time.monotonic()
    thread = threading.Thread(target=lambda: box.append(context.run(call)), daemon=True)
    thread.start()
    thread.join(bound)
    assert not thread.is_alive(), f"did not return within {bound} s"
    return box[0], time.monotonic() - started


@pytest.mark.slow
def test_asyncio_sends_do_not_block_the_loop_while_the_backend_hangs(proxy: FaultProxy) -> None:
    proxy.default = Hang(seconds=None)
    pipeline = make_pipeline(proxy.url, request_timeout=10.0)
    ticks = 0

    async def heartbeat(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def main() -> list[dict[str, object]]:
        stop = asyncio.Event()
        beat = asyncio.create_task(heartbeat(stop))

        async def chat(n: int) -> dict[str, object]:
            pipeline.tracker.get_or_create_conversation(f"async-hung-{n}")
            pipeline.tracker.track_human_message("hello")
            return await pipeline.tracker.asend_tracked_data(timeout=0.5)

        results = await asyncio.gather(*(chat(n) for n in range(20)))
        stop.set()
        await beat
        return results

    try:
        results = asyncio.run(main())
    finally:
        proxy.release()
        pipeline.close(timeout=2.0)
    assert {result["status"] for result in results} == {"pending"}
    assert ticks > 5, "the event loop kept running while sends waited"


def test_a_failing_backend_reports_failed_in_the_summary(proxy: FaultProxy) -> None:
    proxy.refuse()
    pipeline = make_pipeline(proxy.url, request_timeout=0.5, export_deadline=1.0)
    try:
        pipeline.tracker.get_or_create_conversation("refused-summary")
        pipeline.tracker.track_human_message("anyone there?")
        result = pipeline.tracker.send_tracked_data(timeout=20.0)
    finally:
        pipeline.close(timeout=2.0)
    assert result["status"] == "failed"
    assert result["summary"]["errors"] == 1
    assert "network error" in result["items"][0]["error"]
