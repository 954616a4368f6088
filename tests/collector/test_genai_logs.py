"""Event-mode GenAI through the real Collector: log records reach the bridge and join their spans.

The official openai-v2 instrumentation runs against the scripted model server (tests/genai's
driver) and exports spans and log records over OTLP/gRPC to the Collector on the repo's
collector-config.yaml; the bridge behind it must deliver the same transcript as span mode.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.collector.stack import (
    ROOT,
    BridgePorts,
    Cluster,
    CollectorPorts,
    TraceSink,
    clean_env,
    poll,
    read,
    start_bridge,
    start_collector,
    start_server,
)
from tests.genai.test_instrumentations import EXCHANGE

MODES = ("otel", "otel-events", "otel-legacy-events")


def run_driver(mode: str, server: str, cid: str, collector: str) -> None:
    """The instrumented chat app in its own process, exporting OTLP to the Collector."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.genai.driver", mode, server, cid, f"otlp={collector}"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["requests"] == 4


def transcript(server: str, cid: str) -> list[list[str]] | None:
    """The conversation's messages as the server holds them (None: not there yet)."""
    answer = read(server, cid, "transcript/")
    if answer is None:
        return None
    return [[m["sender"], m["content"]] for m in answer["messages"]]


@pytest.mark.slow
def test_event_modes_through_the_collector_give_the_span_mode_transcript(
    collector_binary: Path, cluster: Cluster, tracing_sink: TraceSink, tmp_path: Path
) -> None:
    server = start_server(cluster, tmp_path / "agentsight.db")
    bridge = BridgePorts()
    start_bridge(cluster, server, bridge)
    ports = CollectorPorts()
    start_collector(
        cluster, collector_binary, ports, bridge=bridge.http_url, tracing=tracing_sink.target
    )
    for mode in MODES:
        run_driver(mode, server, f"collector-{mode}", f"127.0.0.1:{ports.grpc}")
    wanted = [list(pair) for pair in EXCHANGE]
    assert poll(lambda: all(transcript(server, f"collector-{m}") == wanted for m in MODES)), {
        mode: transcript(server, f"collector-{mode}") for mode in MODES
    }


@pytest.mark.slow
def test_event_modes_behind_load_balancing_keep_each_traces_logs_with_its_spans(
    collector_binary: Path, cluster: Cluster, tracing_sink: TraceSink, tmp_path: Path
) -> None:
    # Two bridges behind load_balancing in both pipelines: a turn's messages arrive only when its
    # log records reach the bridge that holds its spans (routing_key traceID for both signals).
    from tests.collector.test_scale import load_balanced

    server = start_server(cluster, tmp_path / "agentsight.db")
    bridges = [BridgePorts(), BridgePorts()]
    for ports in bridges:
        start_bridge(cluster, server, ports)
    collector = CollectorPorts()
    start_collector(
        cluster,
        collector_binary,
        collector,
        bridge="http://127.0.0.1:9",  # otlp_http/agentsight is out of both pipelines here
        tracing=tracing_sink.target,
        extra=[
            *load_balanced(tmp_path, bridges),
            "--set=service::pipelines::logs::exporters=[load_balancing/agentsight]",
        ],
    )
    cids = [f"balanced-{mode}-{n}" for mode in MODES[1:] for n in range(3)]
    for cid in cids:
        run_driver(
            cid.split("-", 1)[1].rsplit("-", 1)[0], server, cid, f"127.0.0.1:{collector.grpc}"
        )
    wanted = [list(pair) for pair in EXCHANGE]
    assert poll(lambda: all(transcript(server, cid) == wanted for cid in cids)), {
        cid: transcript(server, cid) for cid in cids
    }
