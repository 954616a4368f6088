"""collector-config.yaml and the compose example: wiring, names and the bridge's defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agentsight_otel._bridge.config import BridgeConfig

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "collector-config.yaml"
COMPOSE = ROOT / "examples" / "collector" / "compose.yaml"
SECTIONS = ("receivers", "processors", "exporters")
# Component types of current collector releases (v0.162.0 core, v0.154.0 contrib).
KNOWN_TYPES = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "batch"},
    "exporters": {"otlp_http", "otlp_grpc"},
}


@pytest.fixture(scope="module")
def config() -> Any:
    """The parsed collector config."""
    return yaml.safe_load(CONFIG.read_text())


def test_every_component_used_is_defined_and_every_defined_one_is_used(config: Any) -> None:
    pipelines = config["service"]["pipelines"]
    assert pipelines, "no pipelines"
    for section in SECTIONS:
        defined = set(config[section])
        used = {name for pipeline in pipelines.values() for name in pipeline.get(section, [])}
        assert used <= defined, f"{section} used but not defined: {used - defined}"
        assert defined <= used, f"{section} defined but not used: {defined - used}"
    assert set(config) <= {*SECTIONS, "service", "extensions", "connectors"}
    assert "extensions" not in config or set(config["extensions"]) == set(
        config["service"].get("extensions", [])
    )


def test_component_types_are_current_collector_names(config: Any) -> None:
    for section, known in KNOWN_TYPES.items():
        types = {name.split("/", 1)[0] for name in config[section]}
        assert types <= known, f"unknown {section}: {types - known}"


def test_the_traces_pipeline(config: Any) -> None:
    traces = config["service"]["pipelines"]["traces"]
    assert traces["receivers"] == ["otlp"]
    assert traces["processors"][0] == "memory_limiter"  # first, so it can refuse early
    assert "batch" in traces["processors"]
    protocols = config["receivers"]["otlp"]["protocols"]
    assert set(protocols) == {"grpc", "http"}
    exporters = [config["exporters"][name] for name in traces["exporters"]]
    assert len(exporters) >= 2, "AgentSight plus the team's existing backend"


def test_the_logs_pipeline_sends_genai_log_records_to_the_bridge(config: Any) -> None:
    logs = config["service"]["pipelines"]["logs"]
    assert logs["receivers"] == ["otlp"]
    assert logs["processors"] == ["memory_limiter", "batch"]
    assert logs["exporters"] == ["otlp_http/agentsight"]
    text = " ".join(line.strip("# ") for line in CONFIG.read_text().splitlines())
    assert "routing by traceID keeps a trace's spans and logs on one bridge" in text


def test_the_bridge_exporter(config: Any) -> None:
    (name,) = [n for n in config["exporters"] if n.startswith("otlp_http/")]
    exporter = config["exporters"][name]
    assert exporter["retry_on_failure"]["enabled"] is True
    assert exporter["sending_queue"]["enabled"] is True
    assert exporter["headers"]["Authorization"].startswith("Bearer ${env:AGENTSIGHT_BRIDGE_TOKEN")
    default_port = BridgeConfig().http_address
    assert default_port is not None
    assert exporter["endpoint"].endswith(f":{default_port.port}}}")


def test_the_comments_cover_persistence_and_load_balancing() -> None:
    text = CONFIG.read_text()
    grpc = BridgeConfig().grpc_address
    assert grpc is not None
    for needle in (
        "file_storage/agentsight:",
        "storage: file_storage/agentsight",
        "load_balancing/agentsight:",
        "routing_key: traceID",
        f"port: {grpc.port}",
    ):
        assert needle in text, needle


def test_the_compose_example_matches_the_config() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"collector", "agentsight-bridge", "jaeger"} <= set(services)
    collector = services["collector"]
    assert "../../collector-config.yaml:/etc/otelcol/config.yaml:ro" in collector["volumes"]
    assert collector["command"] == ["--config=/etc/otelcol/config.yaml"]
    bridge = services["agentsight-bridge"]
    assert bridge["command"][0] == "bridge"
    assert (ROOT / "examples" / "collector" / bridge["build"]["dockerfile"].split("/")[-1]).exists()
    assert collector["environment"]["AGENTSIGHT_BRIDGE_ENDPOINT"] == "http://agentsight-bridge:4418"
    assert collector["environment"]["TRACING_BACKEND_ENDPOINT"] == "jaeger:4317"
    token = bridge["environment"]["AGENTSIGHT_BRIDGE_TOKEN"]
    assert token == collector["environment"]["AGENTSIGHT_BRIDGE_TOKEN"]


def test_every_compose_listener_beyond_loopback_needs_a_secret() -> None:
    """The bridge binds 0.0.0.0 with a token; the local server binds 0.0.0.0 with a required key."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert (
        "${AGENTSIGHT_BRIDGE_TOKEN"
        in services["agentsight-bridge"]["environment"]["AGENTSIGHT_BRIDGE_TOKEN"]
    )
    local = services["agentsight-local"]
    assert "--host=0.0.0.0" in local["command"]
    keys = [arg for arg in local["command"] if arg.startswith("--api-key=")]
    assert keys == [keys[0]] and keys[0].startswith("--api-key=${AGENTSIGHT_LOCAL_KEY:?")
    assert local["ports"] == ["127.0.0.1:8600:8600"]
