"""Spans/s through the OTLP bridge against the in-process exporter, on the same spans.

Both contenders deliver to the project's local AgentSight server over real HTTP on 127.0.0.1,
each run into a fresh in-memory server:

- in-process: ``AgentSightSpanExporter.export`` in batches of 512 (what a BatchSpanProcessor
  hands it), then ``force_flush`` until every body was posted;
- bridge: the same batches, pre-encoded as OTLP/HTTP protobuf (the encoding is the sender's
  cost, not the bridge's), POSTed to ``/v1/traces`` one after another, then until the bridge
  has delivered everything (plain, and gzip-compressed as a Collector sends by default).

Runs are interleaved (in-process, bridge, bridge+gzip, in-process, ...) and the best run of each
is the figure of record; the target is bridge >= 0.7x in-process.

    python -m bench.bench_bridge [--quick]
"""

from __future__ import annotations

import argparse
import gzip
import logging
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentsight_otel import AgentSightSpanExporter, ConversationTracker, traced_action
from agentsight_otel._bridge.config import Address, BridgeConfig
from agentsight_otel._bridge.runner import Bridge
from agentsight_otel._config import resolve_settings
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.server import LocalServer
from bench.report import print_rows

KEY = "ags_0123456789abcdef0123456789abcdef_abcdef"
BATCH = 512
TARGET = 0.7
IN_PROCESS = "in-process AgentSightSpanExporter"
BRIDGE = "bridge, OTLP/HTTP protobuf"
BRIDGE_GZIP = "bridge, OTLP/HTTP protobuf + gzip"


@dataclass(frozen=True)
class Size:
    """How much work a run does."""

    conversations: int
    turns: int
    runs: int


QUICK = Size(conversations=40, turns=3, runs=3)
FULL = Size(conversations=150, turns=4, runs=7)


@traced_action
def lookup_order(order_id: str) -> dict[str, str]:
    """A tool call, measured as an action span."""
    return {"order": order_id, "status": "in_transit", "carrier": "DHL"}


def make_spans(size: Size) -> list[ReadableSpan]:
    """Finished spans of real tracked conversations, in end order."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracker = ConversationTracker(
        tracer_provider=provider, _ledger=DeliveryLedger(), api_key=KEY, endpoint="http://x.test"
    )
    for index in range(size.conversations):
        cid = f"bench-bridge-{index:05d}"
        tracker.get_or_create_conversation(cid, customer_id=f"c-{index}", name="Order status")
        for turn in range(size.turns):
            tracker.track_human_message(f"Where is order {index}-{turn}? " * 4, {"turn": turn})
            lookup_order(f"{index}-{turn}")
            tracker.track_token_usage(180, 42, model="gpt-4o-mini", provider="openai")
            if turn % 2:
                tracker.track_button("feedback", "Helpful", "yes")
            tracker.track_agent_message(f"Order {index}-{turn} is with the carrier. " * 6)
            tracker.send_tracked_data(timeout=0)
    return list(memory.get_finished_spans())


def batches(spans: Sequence[ReadableSpan]) -> list[Sequence[ReadableSpan]]:
    """The spans in BatchSpanProcessor-sized batches."""
    return [spans[i : i + BATCH] for i in range(0, len(spans), BATCH)]


def run_in_process(spans: Sequence[ReadableSpan]) -> tuple[int, int]:
    """Nanoseconds from the first export to the last body posted; spans delivered."""
    with LocalServer() as server:
        exporter = AgentSightSpanExporter(
            api_key=KEY, endpoint=server.url, _ledger=DeliveryLedger()
        )
        work = batches(spans)
        start = perf_counter_ns()
        for batch in work:
            exporter.export(batch)
        exporter.force_flush(120_000)
        elapsed = perf_counter_ns() - start
        exporter.shutdown()
        return elapsed, exporter.stats.delivered_spans


def bridge_runner(
    spans: Sequence[ReadableSpan], *, compress: bool
) -> Callable[[], tuple[int, int]]:
    """A run through the bridge: OTLP bodies encoded once, outside the timed region."""
    bodies = [encode_spans(batch).SerializeToString() for batch in batches(spans)]
    headers = {"Content-Type": "application/x-protobuf"}
    if compress:
        bodies = [gzip.compress(body, compresslevel=6) for body in bodies]
        headers["Content-Encoding"] = "gzip"

    def run() -> tuple[int, int]:
        """Nanoseconds from the first POST until all was delivered; spans delivered."""
        # The bench's own spool: never the user's state directory.
        with LocalServer() as server, tempfile.TemporaryDirectory(prefix="bench-spool-") as spool:
            config = BridgeConfig(
                http_address=Address("127.0.0.1", 0), grpc_address=None, spool_dir=spool
            )
            settings = resolve_settings(api_key=KEY, endpoint=server.url)
            with Bridge(config, settings=settings) as bridge, requests.Session() as session:
                url = f"{bridge.http_url}/v1/traces"
                start = perf_counter_ns()
                for body in bodies:
                    session.post(url, data=body, headers=headers, timeout=60).raise_for_status()
                bridge.flush(120)
                elapsed = perf_counter_ns() - start
                assert bridge.pipeline is not None
                delivered = bridge.pipeline.exporter.stats.delivered_spans
            return elapsed, delivered

    return run


def run(quick: bool) -> list[dict[str, Any]]:
    """Interleaved runs of every contender; one row per contender and one for the ratio."""
    size = QUICK if quick else FULL
    spans = make_spans(size)
    contenders: dict[str, Callable[[], tuple[int, int]]] = {
        IN_PROCESS: lambda: run_in_process(spans),
        BRIDGE: bridge_runner(spans, compress=False),
        BRIDGE_GZIP: bridge_runner(spans, compress=True),
    }
    times: dict[str, list[int]] = {name: [] for name in contenders}
    delivered: dict[str, int] = {}
    for index in range(size.runs + 1):  # the first round warms up and is not counted
        names = list(contenders)
        for name in names[index % 3 :] + names[: index % 3]:
            elapsed, wire_spans = contenders[name]()
            if index:
                times[name].append(elapsed)
            delivered[name] = wire_spans
    rows = [_row(name, len(spans), times[name], delivered[name], size) for name in contenders]
    reference = rows[0]["spans_per_s"]
    for row in rows[1:]:
        row["vs_in_process"] = round(row["spans_per_s"] / reference, 3)
        row["target"] = TARGET
        row["pass"] = row["vs_in_process"] >= TARGET
    return rows


def _row(name: str, spans: int, times: list[int], delivered: int, size: Size) -> dict[str, Any]:
    """One contender's figures: best run (the record) and median."""
    best, median = min(times), statistics.median(times)
    return {
        "benchmark": "bridge_throughput",
        "contender": name,
        "spans": spans,
        "wire_spans_delivered": delivered,
        "runs": size.runs,
        "best_ms": round(best / 1e6, 1),
        "spans_per_s": round(spans / (best / 1e9)),
        "median_spans_per_s": round(spans / (median / 1e9)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run and print the rows as JSON lines."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_bridge", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few runs; indicative figures")
    args = parser.parse_args(argv)
    logging.getLogger("agentsight_otel").setLevel(logging.ERROR)
    return print_rows(run(args.quick))


if __name__ == "__main__":
    raise SystemExit(main())
