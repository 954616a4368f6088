"""The bridge down for 30 s: the Collector's queue and retries lose and duplicate nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.collector.stack import (
    BridgePorts,
    Cluster,
    CollectorPorts,
    Process,
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

OUTAGE_S = 30.0
CONVERSATIONS = 20
# On the wire a tracked interaction is a turn, its action, a button record and an llm record.
SPANS_PER_CONVERSATION = 4
RETRYING = "Exporting failed. Will retry the request after interval."
# retry_on_failure backs off up to max_interval (30 s) while the bridge is down, so the first
# retry after it is back can be that far away; 180 polls of 0.5 s leave room for two.
ARRIVAL_POLLS = 180


def persistent_queue(tmp_path: Path) -> list[str]:
    """The file_storage-backed sending queue exactly as collector-config.yaml documents it."""
    extension = documented_snippet("extensions:")
    storage = documented_snippet("storage: file_storage/agentsight").split(":", 1)[1].strip()
    return [
        overlay(tmp_path / "persistent-queue.yaml", extension),
        f"--set=exporters::otlp_http/agentsight::sending_queue::storage={storage}",
    ]


def assert_all_once(server: str, proxy: RecordingProxy, wanted: list[dict[str, object]]) -> None:
    """Every conversation landed whole, and no span reached the backend twice."""
    assert poll(lambda: all(landed(server, w) == w for w in wanted), attempts=ARRIVAL_POLLS), [
        landed(server, w) for w in wanted
    ]
    assert proxy.duplicates == 0
    counts = {str(w["conversation_id"]): SPANS_PER_CONVERSATION for w in wanted}
    assert dict(proxy.conversations) == counts


def outage(
    cluster: Cluster, collector: Process, bridge: Process, ports: CollectorPorts
) -> tuple[list[dict[str, object]], float]:
    """Stop the bridge, send conversations, see the Collector retrying; (wanted, down since)."""
    assert bridge.stop() == 0, bridge.output()
    down_since = time.monotonic()
    wanted = run_producer("http", f"127.0.0.1:{ports.http}", "outage", CONVERSATIONS)
    collector.wait_for(RETRYING)
    return wanted, down_since


def sleep_out(down_since: float) -> None:
    """Keep the bridge down for OUTAGE_S in all (the scenario, not an assertion)."""
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_since)))


@pytest.mark.slow
def test_the_sending_queue_and_retries_carry_a_30s_bridge_outage(
    collector_binary: Path, cluster: Cluster, tracing_sink: TraceSink, tmp_path: Path
) -> None:
    server = start_server(cluster, tmp_path / "agentsight.db")
    with RecordingProxy(server) as proxy:
        ports, bridge_ports = CollectorPorts(), BridgePorts()
        bridge = start_bridge(cluster, proxy.url, bridge_ports)
        collector = start_collector(
            cluster,
            collector_binary,
            ports,
            bridge=bridge_ports.http_url,
            tracing=tracing_sink.target,
        )
        wanted, down_since = outage(cluster, collector, bridge, ports)
        sleep_out(down_since)
        start_bridge(cluster, proxy.url, bridge_ports)
        assert_all_once(server, proxy, wanted)


@pytest.mark.slow
def test_the_file_storage_queue_survives_a_collector_restart_during_the_outage(
    collector_binary: Path, cluster: Cluster, tracing_sink: TraceSink, tmp_path: Path
) -> None:
    server = start_server(cluster, tmp_path / "agentsight.db")
    queue = {"AGENTSIGHT_QUEUE_DIR": str(tmp_path / "queue")}
    with RecordingProxy(server) as proxy:
        ports, bridge_ports = CollectorPorts(), BridgePorts()
        bridge = start_bridge(cluster, proxy.url, bridge_ports)
        start = {
            "bridge": bridge_ports.http_url,
            "tracing": tracing_sink.target,
            "extra": persistent_queue(tmp_path),
            "env": queue,
        }
        collector = start_collector(cluster, collector_binary, ports, **start)
        wanted, down_since = outage(cluster, collector, bridge, ports)
        # Restart the Collector while the bridge is still down: the queue is on disk.
        assert collector.stop() == 0, collector.output()
        restarted = start_collector(cluster, collector_binary, ports, **start)
        restarted.wait_for(RETRYING)
        sleep_out(down_since)
        start_bridge(cluster, proxy.url, bridge_ports)
        assert_all_once(server, proxy, wanted)
