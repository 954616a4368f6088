"""Several bridges behind load_balancing, and a bridge that answers 429 under load."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.collector.stack import (
    BridgePorts,
    Cluster,
    CollectorPorts,
    RecordingProxy,
    TraceSink,
    documented_snippet,
    landed,
    overlay,
    poll,
    run_producer,
    start_bridge,
    start_collector,
    start_server,
)

SPANS_PER_CONVERSATION = 4
THROTTLED = "responded with HTTP Status Code 429"
THROTTLED_COUNT = 1000  # turn, action, button record, llm record


def load_balanced(tmp_path: Path, bridges: list[BridgePorts]) -> list[str]:
    """The documented load_balancing/agentsight exporter, pointed at these bridges' gRPC ports."""
    snippet = documented_snippet("load_balancing/agentsight:")
    indented = "".join(f"  {line}\n" for line in snippet.splitlines())
    hostnames = ",".join(bridge.grpc_target for bridge in bridges)
    return [
        overlay(tmp_path / "load-balancing.yaml", "exporters:\n" + indented),
        f"--set=exporters::load_balancing/agentsight::resolver::static::hostnames=[{hostnames}]",
        "--set=service::pipelines::traces::exporters=[load_balancing/agentsight,otlp_grpc/tracing]",
    ]


@pytest.mark.slow
def test_two_bridges_behind_load_balancing_each_conversation_whole_once_on_one_bridge(
    collector_binary: Path, cluster: Cluster, tracing_sink: TraceSink, tmp_path: Path
) -> None:
    server = start_server(cluster, tmp_path / "agentsight.db")
    with RecordingProxy(server) as first, RecordingProxy(server) as second:
        bridges = [BridgePorts(), BridgePorts()]
        for proxy, ports in zip((first, second), bridges, strict=True):
            start_bridge(cluster, proxy.url, ports)
        ports = CollectorPorts()
        start_collector(
            cluster,
            collector_binary,
            ports,
            bridge="http://127.0.0.1:9",  # otlp_http/agentsight is out of the pipeline here
            tracing=tracing_sink.target,
            extra=load_balanced(tmp_path, bridges),
        )
        wanted = run_producer("grpc", f"127.0.0.1:{ports.grpc}", "balanced", 200)
        assert poll(lambda: all(landed(server, w) == w for w in wanted)), "not all landed"
        assert first.duplicates == second.duplicates == 0
        # Each conversation went, whole, through exactly one bridge; both bridges had work.
        assert first.conversations and second.conversations
        assert not set(first.conversations) & set(second.conversations)
        both = first.conversations + second.conversations
        assert dict(both) == {w["conversation_id"]: SPANS_PER_CONVERSATION for w in wanted}


@pytest.mark.slow
def test_a_bridge_answering_429_makes_the_collector_back_off_and_everything_arrives(
    collector_binary: Path, cluster: Cluster, tracing_sink: TraceSink, tmp_path: Path
) -> None:
    server = start_server(cluster, tmp_path / "agentsight.db")
    # A stalled backend keeps the bridge's tiny intake full with the first request, so the
    # Collector's next requests meet 429 + Retry-After until the backend answers again.
    backend_answers = threading.Event()
    with RecordingProxy(server, gate=backend_answers) as proxy:
        bridge = BridgePorts()
        tiny = ("--max-queue-spans", "1", "--max-queue-bytes", "1", "--retry-after", "1")
        start_bridge(cluster, proxy.url, bridge, *tiny)
        ports = CollectorPorts()
        collector = start_collector(
            cluster, collector_binary, ports, bridge=bridge.http_url, tracing=tracing_sink.target
        )
        # 2,000 OTLP spans: more than one Collector request (batch send_batch_max_size 1024),
        # so at least one meets the intake the first one fills.
        wanted = run_producer("http", f"127.0.0.1:{ports.http}", "throttled", THROTTLED_COUNT)
        collector.wait_for(THROTTLED)
        backend_answers.set()
        every = {w["conversation_id"]: SPANS_PER_CONVERSATION for w in wanted}
        assert poll(lambda: dict(proxy.conversations) == every), "not all arrived"
        assert proxy.duplicates == 0
        for want in wanted[:: THROTTLED_COUNT // 10]:  # and they are whole, not just counted
            assert landed(server, want) == want
