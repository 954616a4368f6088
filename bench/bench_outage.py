"""What a backend outage costs the application: per-call cost, bounded waits, memory under a cap.

``python -m bench.bench_outage [--quick]`` prints the figures as JSON lines; ``run(quick)``
returns them.

1. **Per call, healthy vs hanging.** Two trackers with the default pipeline (a private
   ``BatchSpanProcessor`` and ``AgentSightSpanExporter``): one delivers to the local server
   (in its own process, so its work does not share this one's interpreter), the other to a
   backend that accepts connections and never answers. Contenders, interleaved sample by sample
   with the order rotating (``bench.timing.interleave``): ``track_human_message`` into an open
   interaction, a ``@traced_action`` call, and a whole conversation (made current, two
   messages, a tool, a button, ``send_tracked_data(timeout=0)``). Rows ``kind="timing"`` (best
   and median ns per call) and ``kind="ratio"`` (hanging over healthy; 1.0 means no cost).
2. **Bounded waits.** With the backend hanging: how long ``send_tracked_data(timeout=1)``
   takes and what it reports, and how long ``tracker.shutdown(timeout=2)`` takes
   (``kind="bound"``).
3. **Peak memory in a sustained outage.** A fresh process tracks conversations at a steady
   rate, first against a healthy backend until its conversation registry is full (the baseline),
   then with the backend hanging (300 conversations a second for 30 s, about five times the
   cap's worth of spans; 2 s request timeout); VmRSS is sampled every 50 ms and VmHWM read at
   the end. The exporter's delivery queue is capped (``max_queue_bytes``); without a spool
   what does not fit is dropped and counted, with one it goes to disk. A third run with a
   1 GB cap shows what the cap saves. Rows ``kind="memory"``: baseline, peak and growth in MB
   against the cap.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter_ns
from typing import Any

from agentsight_otel import ConversationTracker, traced_action
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.testing import TEST_API_KEY
from bench.report import print_rows
from bench.timing import Sample, interleave
from tests.support.faults import FaultProxy, Hang

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
RATE = 300  # conversations per second through the outage
REQUEST_TIMEOUT_S = 2.0


@traced_action
def lookup(order: str) -> str:
    """The tool every benchmark conversation calls."""
    return f"order {order} shipped"


@contextmanager
def healthy_server() -> Iterator[str]:
    """The local server in a process of its own; its URL."""
    command = [sys.executable, "-m", "agentsight_otel._cli", "serve", "--port", "0"]
    command += ["--db", ":memory:"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def hanging_backend() -> Iterator[FaultProxy]:
    """A backend that takes every request and never answers."""
    with FaultProxy("http://127.0.0.1:9") as proxy:
        proxy.default = Hang(seconds=None)
        try:
            yield proxy
        finally:
            proxy.release()


def tracker_for(endpoint: str) -> ConversationTracker:
    """A tracker with the default private pipeline."""
    return ConversationTracker(api_key=TEST_API_KEY, endpoint=endpoint, _ledger=DeliveryLedger())


def samples(tracker: ConversationTracker, tag: str, calls: int) -> dict[str, Sample]:
    """The three per-call contenders for one tracker."""
    counter = iter(range(10**9))

    def messages() -> tuple[int, int]:
        tracker.get_or_create_conversation(f"{tag}-m-{next(counter)}")
        start = perf_counter_ns()
        for n in range(calls):
            tracker.track_human_message(f"message {n}")
        elapsed = perf_counter_ns() - start
        tracker.send_tracked_data(timeout=0)
        return elapsed, calls

    def actions() -> tuple[int, int]:
        tracker.get_or_create_conversation(f"{tag}-a-{next(counter)}")
        start = perf_counter_ns()
        for n in range(calls):
            lookup(str(n))
        elapsed = perf_counter_ns() - start
        tracker.send_tracked_data(timeout=0)
        return elapsed, calls

    def conversations() -> tuple[int, int]:
        count = max(1, calls // 5)
        start = perf_counter_ns()
        for _ in range(count):
            converse(tracker, f"{tag}-c-{next(counter)}")
        return perf_counter_ns() - start, count

    return {
        f"track_human_message ({tag})": messages,
        f"@traced_action call ({tag})": actions,
        f"conversation, 6 calls + send ({tag})": conversations,
    }


def converse(tracker: ConversationTracker, cid: str) -> None:
    """One whole conversation, sent without waiting."""
    tracker.get_or_create_conversation(cid)
    tracker.track_human_message("Where is my order?")
    lookup("A-1")
    tracker.track_button("choice", "Refund", "refund")
    tracker.track_agent_message("It shipped yesterday.")
    tracker.send_tracked_data(timeout=0)


def per_call(quick: bool) -> list[dict[str, Any]]:
    """Per-call cost with the backend healthy and hanging, interleaved; and the ratios."""
    calls, rounds = (50, 6) if quick else (100, 30)
    with healthy_server() as url, hanging_backend() as proxy:
        healthy, hanging = tracker_for(url), tracker_for(proxy.url)
        reference = samples(healthy, "healthy", calls)
        contenders = {**reference, **samples(hanging, "hanging", calls)}
        try:
            measured = interleave(contenders, rounds)
        finally:
            healthy.shutdown(timeout=5)
            hanging.shutdown(timeout=1)
    rows: list[dict[str, Any]] = [
        {
            "benchmark": "outage_per_call",
            "kind": "timing",
            "name": name,
            "best_ns": round(m.best),
            "median_ns": round(m.median),
        }
        for name, m in measured.items()
    ]
    for name in reference:
        base, hung = measured[name], measured[name.replace("(healthy)", "(hanging)")]
        rows.append(
            {
                "benchmark": "outage_per_call",
                "kind": "ratio",
                "name": name.replace(" (healthy)", ": hanging / healthy"),
                "best": round(hung.best / base.best, 3),
                "median": round(hung.median / base.median, 3),
            }
        )
    return rows


def bounds() -> list[dict[str, Any]]:
    """How long a send and a shutdown take with the backend hanging, and what they report."""
    with hanging_backend() as proxy:
        tracker = tracker_for(proxy.url)
        tracker.get_or_create_conversation("bound")
        tracker.track_human_message("anyone there?")
        started = time.monotonic()
        result = tracker.send_tracked_data(timeout=1.0)
        send_s = time.monotonic() - started
        started = time.monotonic()
        tracker.shutdown(timeout=2.0)
        shutdown_s = time.monotonic() - started
    return [
        {
            "benchmark": "outage_bounds",
            "kind": "bound",
            "name": "send_tracked_data(timeout=1)",
            "seconds": round(send_s, 3),
            "status": result["status"],
            "summary_pending": result["summary"]["pending"],
        },
        {
            "benchmark": "outage_bounds",
            "kind": "bound",
            "name": "shutdown(timeout=2)",
            "seconds": round(shutdown_s, 3),
        },
    ]


def memory(quick: bool) -> list[dict[str, Any]]:
    """Peak RSS of a fresh process through a sustained outage, per configuration."""
    seconds = 3.0 if quick else 30.0
    configurations = [
        {"cap_mb": 32, "spool": False},
        {"cap_mb": 32, "spool": True},
        {"cap_mb": 64, "spool": False},  # the default cap
        {"cap_mb": 1, "spool": False},  # the fixed costs: receipts, registry, processor queue
        {"cap_mb": 1024, "spool": False},  # in effect no byte cap: what the cap saves
    ]
    rows = []
    with healthy_server() as url, hanging_backend() as proxy:
        for config in configurations:
            job = {**config, "healthy": url, "hanging": proxy.url, "seconds": seconds}
            job["warm"] = 2_000 if quick else 11_000
            rows.append(_child(job))
    return rows


def _child(job: dict[str, Any]) -> dict[str, Any]:
    """Run one memory measurement in a fresh interpreter."""
    command = [sys.executable, "-m", "bench.bench_outage", "--memory-child", json.dumps(job)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _rss_kb(field: str) -> int:
    """A field of /proc/self/status, in kB (VmRSS now, VmHWM the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Sampler:
    """Samples VmRSS on a thread; the largest sample."""

    def __init__(self, period: float = 0.05) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._period = period
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self.peak_kb = max(self.peak_kb, _rss_kb("VmRSS"))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def outage_tracker(url: str, cap: int, spool: str | None) -> tuple[ConversationTracker, Any]:
    """A tracker on its own provider and exporter (2 s request timeout), capped; both."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from agentsight_otel._export.exporter import AgentSightSpanExporter

    ledger = DeliveryLedger()
    exporter = AgentSightSpanExporter(
        api_key=TEST_API_KEY,
        endpoint=url,
        _ledger=ledger,
        request_timeout=REQUEST_TIMEOUT_S,
        max_queue_bytes=cap,
        spool_dir=spool,
    )
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracker = ConversationTracker(
        api_key=TEST_API_KEY, endpoint=url, _ledger=ledger, tracer_provider=provider
    )
    return tracker, exporter


def memory_child(job: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: warm up against the healthy backend, then sustain an outage."""
    cap = job["cap_mb"] * MB
    spool = tempfile.mkdtemp() if job["spool"] else None
    healthy, _ = outage_tracker(job["healthy"], cap, None)
    hanging, exporter = outage_tracker(job["hanging"], cap, spool)
    # Fill the conversation registry first: the outage's own cost is what is measured.
    paced(lambda n: converse(healthy, f"warm-{n}"), job["warm"], rate=2_000)
    healthy.shutdown(timeout=10)
    baseline_kb = _rss_kb("VmRSS")
    with Sampler() as sampler:
        count = int(job["seconds"] * RATE)
        paced(lambda n: converse(hanging, f"outage-{n}"), count, rate=RATE)
    stats = exporter.stats
    peak_kb = max(sampler.peak_kb, _rss_kb("VmRSS"))
    return {
        "benchmark": "outage_memory",
        "kind": "memory",
        "name": f"cap {job['cap_mb']} MB, {'spool' if spool else 'no spool'}",
        "conversations": count,
        "seconds": job["seconds"],
        "baseline_mb": round(baseline_kb / 1024, 1),
        "peak_mb": round(peak_kb / 1024, 1),
        "growth_mb": round((peak_kb - baseline_kb) / 1024, 1),
        "cap_mb": job["cap_mb"],
        "under_cap": (peak_kb - baseline_kb) * 1024 <= cap,
        "hwm_mb": round(_rss_kb("VmHWM") / 1024, 1),
        "dropped_spans": stats.dropped_queue_full,
        "spooled_spans": stats.spooled_spans,
    }


def paced(work: Callable[[int], None], count: int, rate: float) -> None:
    """Call ``work(n)`` ``count`` times at ``rate`` per second."""
    start = time.monotonic()
    pause = threading.Event()
    for n in range(count):
        due = start + n / rate
        if due > time.monotonic():
            pause.wait(due - time.monotonic())
        work(n)


def run(quick: bool) -> list[dict[str, Any]]:
    """Every figure: per call, bounded waits, memory."""
    return per_call(quick) + bounds() + memory(quick)


def main(argv: Sequence[str] | None = None) -> int:
    """Run and print the rows as JSON lines (or, internally, one memory child)."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_outage", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few samples; indicative figures")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.getLogger("agentsight_otel").setLevel(logging.CRITICAL)
    if args.memory_child:
        print(json.dumps(memory_child(json.loads(args.memory_child))), flush=True)
        return 0
    return print_rows(run(args.quick))


if __name__ == "__main__":
    raise SystemExit(main())
