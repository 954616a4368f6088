"""App -> Collector -> bridge -> local server, over OTLP/gRPC and OTLP/HTTP."""

from __future__ import annotations

from pathlib import Path

from tests.collector.stack import (
    BridgePorts,
    Cluster,
    CollectorPorts,
    RecordingProxy,
    TraceSink,
    landed,
    poll,
    run_producer,
    start_bridge,
    start_collector,
    start_server,
)


def test_conversations_land_whole_over_grpc_and_http(
    collector_binary: Path, cluster: Cluster, tracing_sink: TraceSink, tmp_path: Path
) -> None:
    server = start_server(cluster, tmp_path / "agentsight.db")
    with RecordingProxy(server) as proxy:
        bridge = BridgePorts()
        start_bridge(cluster, proxy.url, bridge)
        ports = CollectorPorts()
        start_collector(
            cluster,
            collector_binary,
            ports,
            bridge=bridge.http_url,
            tracing=tracing_sink.target,
        )
        wanted = run_producer("grpc", f"127.0.0.1:{ports.grpc}", "via-grpc", 3)
        wanted += run_producer("http", f"127.0.0.1:{ports.http}", "via-http", 3)
        assert poll(lambda: all(landed(server, want) == want for want in wanted)), [
            landed(server, want) for want in wanted
        ]
        assert proxy.duplicates == 0
        assert set(proxy.conversations) == {want["conversation_id"] for want in wanted}
    # The team's own backend received every trace too: one per conversation.
    assert poll(lambda: len(tracing_sink.trace_ids) == len(wanted))
