"""The private pipeline's span queue: batches go out from the timer thread's flush, a full
queue counts what it drops, the OTEL_BSP_* settings apply, and a forked child starts empty."""

from __future__ import annotations

import os
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from agentsight_otel._config import resolve_settings
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._export.exporter import AgentSightSpanExporter
from agentsight_otel._tracker.pipeline import Pipeline
from agentsight_otel._tracker.span_queue import SpanQueue
from agentsight_otel.testing import TEST_API_KEY


class Exporter(AgentSightSpanExporter):
    """An exporter that keeps the batches it is handed and the drops it is told of."""

    def __init__(self) -> None:
        super().__init__(api_key=TEST_API_KEY, endpoint="http://agentsight.test")
        self.batches: list[list[ReadableSpan]] = []
        self.refused = 0

    def export(self, spans: Any) -> Any:
        self.batches.append(list(spans))

    def refuse(self, spans: int) -> None:
        self.refused += spans


def queue(**limits: Any) -> tuple[SpanQueue, Exporter, list[float], TracerProvider]:
    exporter, asked = Exporter(), []
    chosen = {"max_queue_size": 10, "max_batch": 4, "schedule_delay": 1.0, **limits}
    processor = SpanQueue(exporter, asked.append, **chosen)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return processor, exporter, asked, provider


def end_spans(provider: TracerProvider, count: int) -> None:
    tracer = provider.get_tracer("test")
    for index in range(count):
        tracer.start_span(f"s{index}").end()


def test_the_first_span_asks_for_a_flush_at_the_schedule_and_a_full_batch_asks_now() -> None:
    processor, exporter, asked, provider = queue()
    end_spans(provider, 1)
    assert asked == [1.0]
    end_spans(provider, 3)  # the fourth span fills a batch
    assert asked == [1.0, 0.0]
    assert exporter.batches == []  # nothing leaves the caller's thread before the flush
    end_spans(provider, 1)  # past a full batch: every span asks (at once)
    assert asked == [1.0, 0.0, 0.0]
    processor.force_flush()
    assert [len(batch) for batch in exporter.batches] == [4, 1]
    end_spans(provider, 1)  # the queue is empty again: the schedule starts over
    assert asked == [1.0, 0.0, 0.0, 1.0]
    exporter.shutdown(100)


def test_a_flush_hands_everything_over_in_batches_oldest_first() -> None:
    processor, exporter, _, provider = queue()
    end_spans(provider, 9)
    processor.force_flush()
    assert [len(batch) for batch in exporter.batches] == [4, 4, 1]
    assert [span.name for batch in exporter.batches for span in batch] == [
        f"s{index}" for index in range(9)
    ]
    exporter.shutdown(100)


def test_spans_past_the_cap_are_counted_lost_not_dropped_silently() -> None:
    processor, exporter, _, provider = queue(max_queue_size=5)
    end_spans(provider, 8)
    assert exporter.refused == 3
    processor.force_flush()
    assert sum(len(batch) for batch in exporter.batches) == 5
    exporter.shutdown(100)


def test_unsampled_spans_and_spans_after_shutdown_are_not_queued() -> None:
    processor, exporter, asked, _ = queue()
    unsampled = TracerProvider(sampler=ALWAYS_OFF)
    unsampled.add_span_processor(processor)
    end_spans(unsampled, 3)
    assert asked == [] and exporter.refused == 0
    processor.shutdown()
    end_spans(unsampled, 1)
    processor.force_flush()
    assert exporter.batches == []
    exporter.shutdown(100)


def test_the_otel_bsp_settings_still_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "100")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "5000")  # above the queue: capped
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint="http://agentsight.test")
    pipeline = Pipeline(settings, DeliveryLedger(), None)
    try:
        processor = pipeline._processor
        limits = (processor._max_queue_size, processor._schedule_delay, processor._max_batch)
        assert limits == (100, 0.25, 100)
    finally:
        pipeline.shutdown(100)


def test_a_setting_that_is_not_a_positive_number_falls_back_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "lots")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "-5")
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint="http://agentsight.test")
    pipeline = Pipeline(settings, DeliveryLedger(), None)
    try:
        assert pipeline._processor._max_queue_size == 32_768
        assert pipeline._processor._schedule_delay == 1.0
    finally:
        pipeline.shutdown(100)
    assert "OTEL_BSP_MAX_QUEUE_SIZE='lots'" in caplog.text
    assert "OTEL_BSP_SCHEDULE_DELAY='-5'" in caplog.text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_starts_with_an_empty_queue() -> None:
    processor, exporter, _, provider = queue()
    end_spans(provider, 3)
    pid = os.fork()
    if pid == 0:  # the child: the parent's spans are the parent's to export
        processor.force_flush()
        os._exit(0 if exporter.batches == [] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    processor.force_flush()
    assert sum(len(batch) for batch in exporter.batches) == 3
    exporter.shutdown(100)
