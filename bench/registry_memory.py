"""``python -m bench.registry_memory``: the tracker's memory with conversations left unsent.

Each conversation gets a question and an answer and is never sent (an interaction that errored
before its send, say). Spans go to a provider without processors, so the figure is what the
tracker itself holds (tracemalloc, after a collection), printed every 10,000 conversations
next to the figure at the registry's capacity: a hard bound shows as a flat line past it.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from agentsight_otel import ConversationTracker
from agentsight_otel._delivery.ledger import DeliveryLedger
from bench.report import print_rows

CONVERSATIONS = 50_000
STEP = 10_000


def rows(
    total: int = CONVERSATIONS, step: int = STEP, capacity: int = 10_000
) -> Iterator[dict[str, Any]]:
    """One row per ``step`` conversations: how many are held and the bytes held."""
    tracemalloc.start()
    tracker = ConversationTracker(
        tracer_provider=TracerProvider(), _ledger=DeliveryLedger(), _max_conversations=capacity
    )
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    for n in range(1, total + 1):
        tracker.get_or_create_conversation(f"unsent-{n}", customer_id=f"user-{n}")
        tracker.track_human_message("Where is my order 4471-A? The page says label created.")
        tracker.track_agent_message("It left the warehouse this morning; arriving Thursday.")
        if n % step == 0:
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - base
            yield {
                "bench": "registry_memory",
                "unsent_conversations": n,
                "held_by_tracker": len(tracker._registry),
                "traced_mib": round(held / 2**20, 1),
                "bytes_per_held_conversation": round(held / len(tracker._registry)),
            }
    tracemalloc.stop()


if __name__ == "__main__":
    raise SystemExit(print_rows(rows()))
