"""Spans/s from the real Collector to the bridge, against the Collector's own pass-through rate.

Both runs send the same pre-encoded OTLP/HTTP protobuf requests (tracker-shaped spans from
bench.spans, 512 per request, from 4 sender threads) to the Collector `make collector` built,
running the repo's collector-config.yaml (memory_limiter, batch, sending queue, retries):

- anchor: the same pipeline and `otlp_http/agentsight` exporter, pointed at a plain OTLP/HTTP
  sink instead of the bridge (a second Collector with only the `debug` exporter), i.e. what the
  Collector itself passes through on these spans;
- bridge: the Collector's `otlp_http/agentsight` exporter to `agentsight-otel bridge`, which maps
  and delivers to `agentsight-otel serve`; timed until the server's SQLite file holds every span.

Figures are OTLP spans per second from the first request until the last span arrived, best of
the interleaved runs; the ratio bridge/anchor is the figure of record. Skips, with a message,
when the Collector is not built (`make collector`).

    python -m bench.bench_collector [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from bench import spans as bench_spans
from tests.collector.stack import (
    ROOT,
    BridgePorts,
    Cluster,
    CollectorPorts,
    Process,
    free_port,
    start_bridge,
    start_collector,
    start_server,
)

BATCH = 512
SENDERS = 4
POLL_S = 0.05
MAX_POLLS = 12_000  # 10 minutes at most per run
SPANS_LOGGED = re.compile(r'"spans": (\d+)')


@dataclass(frozen=True)
class Size:
    """How much work a run does."""

    conversations: int
    turns: int
    runs: int


def collector_binary() -> Path | None:
    """The built Collector, or None when `make collector` has not run (or Go is missing)."""
    if shutil.which("go") is None:
        return None
    build = subprocess.run(
        [str(ROOT / "collector" / "build.sh")], capture_output=True, text=True, check=False
    )
    path = Path(build.stdout.strip().splitlines()[-1]) if build.returncode == 0 else None
    return path if path is not None and path.exists() else None


def bodies(size: Size) -> tuple[list[bytes], int]:
    """Encoded requests of the benchmark's spans, and how many spans they hold."""
    made = bench_spans.make_spans(size.conversations, size.turns)
    chunks = [made[i : i + BATCH] for i in range(0, len(made), BATCH)]
    return [encode_spans(chunk).SerializeToString() for chunk in chunks], len(made)


def send(url: str, payloads: Sequence[bytes]) -> None:
    """POST every request, SENDERS at a time; every one must be accepted."""
    headers = {"Content-Type": "application/x-protobuf"}

    def post(body: bytes) -> None:
        answer = requests.post(url, data=body, headers=headers, timeout=60)
        answer.raise_for_status()

    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(post, payloads))


def wait(done: object) -> None:
    """Poll ``done()`` until true (bounded)."""
    for _ in range(MAX_POLLS):
        if done():  # type: ignore[operator]
            return
        time.sleep(POLL_S)
    raise TimeoutError("the spans never all arrived")


def sink_spans(sink: Process) -> int:
    """Spans the sink Collector's debug exporter has logged."""
    return sum(int(n) for n in SPANS_LOGGED.findall(sink.output()))


def anchor_run(binary: Path, payloads: list[bytes], count: int) -> float:
    """Seconds for the Collector to pass every span to a plain OTLP sink."""
    cluster = Cluster()
    try:
        sink_port = free_port()
        sink_config = "yaml:receivers::otlp::protocols::http::endpoint: 127.0.0.1:%d" % sink_port
        sink = cluster.add(
            Process(
                "sink",
                [
                    str(binary),
                    f"--config={sink_config}",
                    "--config=yaml:exporters::debug::verbosity: basic",
                    # Its own logger, unsampled: the Collector's samples after 10 lines a second.
                    "--config=yaml:exporters::debug::use_internal_logger: false",
                    "--config=yaml:service::pipelines::traces::receivers: [otlp]",
                    "--config=yaml:service::pipelines::traces::exporters: [debug]",
                    "--set=service::telemetry::metrics::level=none",
                ],
                {"PATH": "/usr/bin:/bin"},
            )
        )
        sink.wait_for("Everything is ready")
        ports = CollectorPorts()
        start_collector(
            cluster,
            binary,
            ports,
            bridge=f"http://127.0.0.1:{sink_port}",
            tracing="127.0.0.1:9",
            extra=["--set=service::pipelines::traces::exporters=[otlp_http/agentsight]"],
        )
        start = time.perf_counter()
        send(f"http://127.0.0.1:{ports.http}/v1/traces", payloads)
        wait(lambda: sink_spans(sink) >= count)
        return time.perf_counter() - start
    finally:
        cluster.stop_all()


def bridge_run(binary: Path, payloads: list[bytes], expected: int | None) -> tuple[float, int]:
    """Seconds until the local server holds every span the bridge delivers; how many it holds."""
    cluster = Cluster()
    with tempfile.TemporaryDirectory() as scratch:
        try:
            db = Path(scratch) / "bench.db"
            server = start_server(cluster, db)
            bridge = BridgePorts()
            # The bench's own spool: never the user's state directory.
            start_bridge(cluster, server, bridge, "--spool-dir", str(Path(scratch) / "spool"))
            ports = CollectorPorts()
            start_collector(
                cluster,
                binary,
                ports,
                bridge=bridge.http_url,
                tracing="127.0.0.1:9",
                extra=["--set=service::pipelines::traces::exporters=[otlp_http/agentsight]"],
            )

            def held() -> int:
                # Straight from the server's SQLite file: its listing endpoint is too heavy to
                # poll while it ingests.
                with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as read:
                    return int(read.execute("SELECT COUNT(*) FROM spans").fetchone()[0])

            start = time.perf_counter()
            send(f"http://127.0.0.1:{ports.http}/v1/traces", payloads)
            if expected is None:
                # Warm-up: learn how many wire spans these OTLP spans map to (stable for 3 s).
                seen, still = -1, 0
                while still < 3 / POLL_S / 4:
                    time.sleep(POLL_S * 4)
                    now = held()
                    seen, still = now, still + 1 if now == seen and now > 0 else 0
                return time.perf_counter() - start, seen
            wait(lambda: held() >= expected)
            return time.perf_counter() - start, expected
        finally:
            cluster.stop_all()


def run(quick: bool) -> str:
    """The report section (or why it was skipped)."""
    binary = collector_binary()
    if binary is None:
        return "Collector -> bridge: skipped (no Collector build: run `make collector`, needs Go)"
    size = Size(200, 3, 1) if quick else Size(1000, 5, 3)
    payloads, count = bodies(size)
    _, wire = bridge_run(binary, payloads, None)
    anchor: list[float] = []
    bridged: list[float] = []
    for _ in range(size.runs):
        anchor.append(anchor_run(binary, payloads, count))
        bridged.append(bridge_run(binary, payloads, wire)[0])
    best_anchor, best_bridge = count / min(anchor), count / min(bridged)
    release = binary.parent.name.split("-", 1)[0]
    return "\n".join(
        [
            f"Collector {release} -> bridge ({size.conversations} conversations x {size.turns} "
            f"turns: {count} OTLP spans -> {wire} wire spans; {len(payloads)} requests of "
            f"<= {BATCH}; best of {size.runs})",
            f"  anchor: Collector -> plain OTLP sink   {best_anchor:>10,.0f} spans/s",
            f"  Collector -> bridge -> local server     {best_bridge:>10,.0f} spans/s",
            f"  ratio bridge / anchor                   {best_bridge / best_anchor:>10.2f}x",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run and print."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_collector", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small, noisy run")
    print(run(parser.parse_args(argv).quick), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
