"""Per-call cost of ``track_human_message`` against a raw ``span.add_event`` and the vendor SDK.

Every contender records into an already-open SDK span (our interaction, the vendor's turn, a
plain span) in batches of ``calls`` (below the SDK's 128-event limit), so each sample measures
the steady-state cost of one call. Opening and ending spans happens outside the timed loops, and
no span processor runs while a span is open, so no export work is measured here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from agentsight_otel import ConversationTracker
from agentsight_otel import _semconv as sc
from agentsight_otel._delivery.ledger import DeliveryLedger
from bench.timing import Measurement, interleave
from bench.vendor import vendor_sdk

TEXT = (
    "Hi, I ordered a pair of headphones last week (order 4471-A) and the tracking page "
    "still says label created. Can you check where it is?"
)
METADATA = {"message_id": "msg_001", "channel": "web", "locale": "en-US"}
CONVERSATION = {
    "customer_id": "u-1",
    "device": "desktop",
    "name": "Order status",
    "environment": "production",
    "metadata": {"session_id": "abc123"},
}
CONVERSATION_ID = "bench-hot-path"

RAW = "raw span.add_event, same attributes from the same input"
RAW_PREBUILT = "raw span.add_event, attributes pre-built once"
OURS = "ours: ConversationTracker.track_human_message"
OURS_REDACTING = "ours, PII redaction on (redact=True)"
VENDOR = "vendor: agentsight.user_message (conversation+turn)"
Record = Callable[[str, dict[str, Any]], object]


@dataclass
class HotPathResult:
    """Per-call figures of every contender."""

    measurements: dict[str, Measurement]
    calls_per_sample: int
    samples: int

    def ratio(self, name: str, reference: str, *, best: bool = True) -> float:
        """``name`` over ``reference``: best samples (or medians)."""
        a, b = self.measurements[name], self.measurements[reference]
        return a.best / b.best if best else a.median / b.median


def _timed_calls(record: Record, calls: int) -> int:
    """Nanoseconds for ``calls`` calls of ``record(TEXT, METADATA)``."""
    text, metadata = TEXT, METADATA
    start = perf_counter_ns()
    for _ in range(calls):
        record(text, metadata)
    return perf_counter_ns() - start


class Contenders:
    """The raw and our contenders, each a sample function for ``interleave``."""

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.provider = TracerProvider()  # no processors: ending a span costs nothing extra
        self.tracer = self.provider.get_tracer("bench")
        self.tracker = ConversationTracker(tracer_provider=self.provider, _ledger=DeliveryLedger())
        self.tracker.get_or_create_conversation(CONVERSATION_ID, **CONVERSATION)
        self.redacting = ConversationTracker(
            tracer_provider=self.provider, _ledger=DeliveryLedger(), redact=True
        )
        self.redacting.get_or_create_conversation(CONVERSATION_ID, **CONVERSATION)
        # What our interaction span carries, so the raw span is the same size.
        self.span_attributes = {
            sc.CONVERSATION_ID: CONVERSATION_ID,
            sc.GEN_AI_CONVERSATION_ID: CONVERSATION_ID,
            sc.SESSION_ID: CONVERSATION_ID,
            **{sc.CONVERSATION_FIELDS[k]: v for k, v in CONVERSATION.items() if k != "metadata"},
            sc.CONVERSATION_METADATA: json.dumps(CONVERSATION["metadata"]),
            sc.SPAN_KIND: sc.KIND_TURN,
            sc.ENTITY_NAME: "turn",
        }
        self.prebuilt = {
            sc.MESSAGE_SENDER: sc.SENDER_USER,
            sc.MESSAGE_CONTENT: TEXT,
            sc.MESSAGE_METADATA: json.dumps(METADATA),
        }

    def raw(self) -> tuple[int, int]:
        """Raw add_event, building the same attributes from the same text and metadata."""
        span = self.tracer.start_span("turn", attributes=self.span_attributes)
        add, dumps = span.add_event, json.dumps

        def record(text: str, metadata: dict[str, Any]) -> None:
            add(
                sc.MESSAGE_EVENT,
                {
                    sc.MESSAGE_SENDER: sc.SENDER_USER,
                    sc.MESSAGE_CONTENT: text,
                    sc.MESSAGE_METADATA: dumps(metadata),
                },
            )

        elapsed = _timed_calls(record, self.calls)
        span.end()
        return elapsed, self.calls

    def raw_prebuilt(self) -> tuple[int, int]:
        """Raw add_event with one attributes dict built before the loop: the floor."""
        span = self.tracer.start_span("turn", attributes=self.span_attributes)
        add, attributes = span.add_event, self.prebuilt
        elapsed = _timed_calls(lambda text, metadata: add(sc.MESSAGE_EVENT, attributes), self.calls)
        span.end()
        return elapsed, self.calls

    def ours(self, tracker: ConversationTracker | None = None) -> tuple[int, int]:
        """The tracker; a first, untimed message opens the interaction span."""
        tracker = tracker or self.tracker
        tracker.track_human_message(TEXT, METADATA)
        elapsed = _timed_calls(tracker.track_human_message, self.calls)
        tracker.send_tracked_data()
        return elapsed, self.calls


def vendor_sample(agentsight: Any, calls: int) -> Callable[[], tuple[int, int]]:
    """The vendor contender: ``user_message`` inside an open conversation and turn."""

    def sample() -> tuple[int, int]:
        with agentsight.conversation(CONVERSATION_ID, **CONVERSATION), agentsight.turn():
            agentsight.user_message(TEXT, METADATA)  # untimed, like our first message
            elapsed = _timed_calls(agentsight.user_message, calls)
        return elapsed, calls

    return sample


def run(*, calls: int = 100, samples: int = 150) -> HotPathResult:
    """Measure all contenders, interleaved sample by sample."""
    contenders = Contenders(calls)
    try:
        with vendor_sdk() as agentsight:
            functions = {
                RAW: contenders.raw,
                RAW_PREBUILT: contenders.raw_prebuilt,
                OURS: contenders.ours,
                OURS_REDACTING: lambda: contenders.ours(contenders.redacting),
                VENDOR: vendor_sample(agentsight, calls),
            }
            measurements = interleave(functions, samples)
    finally:
        contenders.provider.shutdown()
    return HotPathResult(measurements, calls, samples)


def profile_ours(calls: int = 20_000) -> None:
    """Only our hot loop, for cProfile: ``calls`` messages, sent every 100."""
    contenders = Contenders(100)
    for _ in range(max(1, calls // 100)):
        contenders.ours()
    contenders.provider.shutdown()
