"""Overhead per call of ``@traced_action`` against an undecorated call, a raw span and the vendor.

``python -m bench.bench_decorator [--quick]`` prints the figures; ``run(quick)`` returns them.

The decorated function is trivial (``add(a, b)``), so each figure is the cost of the decorator
itself. Every contender's spans go to one SDK ``TracerProvider`` whose only processor does
nothing, so no export work is measured:

- ``undecorated``: ``add(1, 2)``.
- ``raw span``: ``with tracer.start_as_current_span("add", attributes={one}): add(1, 2)``.
- ``ours, in a conversation``: ``@traced_action`` inside an open interaction of a
  ``ConversationTracker`` on that provider (a child of the interaction, arguments and result
  recorded: the path every tracked tool call takes).
- ``ours, no conversation``: ``@traced_action`` with that provider as the global one.
- ``vendor @tool``: ``agentsight.tool`` inside ``agentsight.conversation(...)``; the SDK is
  initialised with a null exporter, then its tracer is pointed at the same provider so that only
  the decorators differ.
- ``vendor @tool, its own pipeline``: the same inside ``agentsight.turn()``, on the pipeline
  ``agentsight.init`` builds (turn buffering, batching, null exporter): what users get.

Contenders are interleaved sample by sample (the order rotating, the collector off, warm-up
rounds first) because the machine is shared. Overhead is a contender's time per call minus the
undecorated call's; ratios are overhead over overhead, computed from the median samples (the
figure of record) and from the best ones.

``run`` returns one dict per contender (``kind="timing"``: ``name``, ``median_ns``,
``best_ns``, ``overhead_median_ns``, ``overhead_best_ns``) followed by one per ratio
(``kind="ratio"``: ``name``, ``median``, ``best``, ``target`` or None, ``met`` or None).
"""

from __future__ import annotations

import gc
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from time import perf_counter_ns
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from agentsight_otel import ConversationTracker, traced_action
from agentsight_otel._delivery.ledger import DeliveryLedger
from bench import cli
from bench.vendor import vendor_sdk

UNDECORATED = "undecorated"
RAW = "raw span (start_as_current_span, 1 attribute)"
OURS = "ours, in a conversation"
OURS_AMBIENT = "ours, no conversation (global provider)"
VENDOR = "vendor @tool (same provider)"
VENDOR_SHIPPED = "vendor @tool, its own pipeline (conversation+turn)"
TARGET_RAW = 1.4
TARGET_VENDOR = 0.25
CONVERSATION_ID = "bench-decorator"
Sample = Callable[[], int]


def add(a: int, b: int) -> int:
    """The trivial tool every contender calls."""
    return a + b


class _NullProcessor(SpanProcessor):
    """A span processor that costs nothing: spans start and end, nothing is exported."""


def _timed(call: Callable[[int, int], int], calls: int) -> int:
    """Nanoseconds for ``calls`` calls of ``call(1, 2)``."""
    start = perf_counter_ns()
    for _ in range(calls):
        call(1, 2)
    return perf_counter_ns() - start


@contextmanager
def _global_provider(provider: TracerProvider) -> Iterator[None]:
    """``provider`` as the global tracer provider for the block (OTel allows one set per run)."""
    previous = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = provider
    try:
        yield
    finally:
        trace._TRACER_PROVIDER = previous


def _contenders(provider: TracerProvider, agentsight: Any, calls: int) -> dict[str, Sample]:
    """One sample function per contender; each returns the nanoseconds of ``calls`` calls."""
    from agentsight.sdk import core

    tracer = provider.get_tracer("bench")
    tracker = ConversationTracker(tracer_provider=provider, _ledger=DeliveryLedger())
    tracker.get_or_create_conversation(CONVERSATION_ID)
    ours = traced_action(add)
    vendor = agentsight.tool(add)
    shipped_tracer = core._state.tracer
    same_provider_tracer = provider.get_tracer("agentsight")

    def raw(a: int, b: int) -> int:
        with tracer.start_as_current_span("add", attributes={"agentsight.tool.name": "add"}):
            return add(a, b)

    def in_conversation() -> int:
        tracker.track_human_message("question")  # untimed: opens the interaction
        elapsed = _timed(ours, calls)
        tracker.send_tracked_data()
        return elapsed

    def ambient() -> int:
        with _global_provider(provider):
            return _timed(ours, calls)

    def vendor_same_provider() -> int:
        core._state.tracer = same_provider_tracer
        try:
            with agentsight.conversation(CONVERSATION_ID):
                return _timed(vendor, calls)
        finally:
            core._state.tracer = shipped_tracer

    def vendor_shipped() -> int:
        with agentsight.conversation(CONVERSATION_ID), agentsight.turn():
            return _timed(vendor, calls)

    return {
        UNDECORATED: lambda: _timed(add, calls),
        RAW: lambda: _timed(raw, calls),
        OURS: in_conversation,
        OURS_AMBIENT: ambient,
        VENDOR: vendor_same_provider,
        VENDOR_SHIPPED: vendor_shipped,
    }


def _interleave(samples: dict[str, Sample], rounds: int, calls: int) -> dict[str, list[float]]:
    """Nanoseconds per call of every contender, one sample each per round, order rotating."""
    names = list(samples)
    per_call: dict[str, list[float]] = {name: [] for name in names}
    warmup = 2
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for index in range(warmup + rounds):
            gc.collect()
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                elapsed = samples[name]()
                if index >= warmup:
                    per_call[name].append(elapsed / calls)
    finally:
        if was_enabled:
            gc.enable()
    return per_call


def _rows(per_call: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Timing rows, then ratio rows."""
    median = {name: statistics.median(values) for name, values in per_call.items()}
    best = {name: min(values) for name, values in per_call.items()}
    rows: list[dict[str, Any]] = [
        {
            "kind": "timing",
            "name": name,
            "median_ns": round(median[name], 1),
            "best_ns": round(best[name], 1),
            "overhead_median_ns": round(median[name] - median[UNDECORATED], 1),
            "overhead_best_ns": round(best[name] - best[UNDECORATED], 1),
        }
        for name in per_call
    ]

    def ratio(name: str, ours: str, reference: str, target: float | None) -> dict[str, Any]:
        by_median = (median[ours] - median[UNDECORATED]) / (median[reference] - median[UNDECORATED])
        by_best = (best[ours] - best[UNDECORATED]) / (best[reference] - best[UNDECORATED])
        return {
            "kind": "ratio",
            "name": name,
            "median": round(by_median, 3),
            "best": round(by_best, 3),
            "target": target,
            "met": None if target is None else by_median <= target,
        }

    rows += [
        ratio("ours in a conversation / raw span", OURS, RAW, TARGET_RAW),
        ratio("ours in a conversation / vendor @tool", OURS, VENDOR, TARGET_VENDOR),
        ratio("ours, no conversation / raw span", OURS_AMBIENT, RAW, None),
        ratio(
            "ours in a conversation / vendor @tool, its own pipeline", OURS, VENDOR_SHIPPED, None
        ),
    ]
    return rows


def run(quick: bool) -> list[dict[str, Any]]:
    """Measure every contender; timing rows then ratio rows (see the module docstring)."""
    calls, rounds = (50, 6) if quick else (200, 40)
    provider = TracerProvider()
    provider.add_span_processor(_NullProcessor())
    try:
        with vendor_sdk() as agentsight:
            per_call = _interleave(_contenders(provider, agentsight, calls), rounds, calls)
    finally:
        provider.shutdown()
    return _rows(per_call)


def render(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a small text report."""
    lines = [f"{'per call (us)':<54}{'median':>9}{'best':>9}{'overhead':>10}"]
    for row in rows:
        if row["kind"] == "timing":
            lines.append(
                f"{row['name']:<54}{row['median_ns'] / 1000:>9.2f}{row['best_ns'] / 1000:>9.2f}"
                f"{row['overhead_median_ns'] / 1000:>10.2f}"
            )
    lines.append("")
    lines.append(f"{'overhead ratios':<54}{'median':>9}{'best':>9}  target")
    for row in rows:
        if row["kind"] == "ratio":
            verdict = (
                ""
                if row["target"] is None
                else (f"  <= {row['target']}  {'PASS' if row['met'] else 'MISS'}")
            )
            lines.append(f"{row['name']:<54}{row['median']:>9.3f}{row['best']:>9.3f}{verdict}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run, print."""
    args = cli.parser("bench.bench_decorator", __doc__).parse_args(argv)
    print(render(run(args.quick)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
