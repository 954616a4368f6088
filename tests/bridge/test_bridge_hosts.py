"""DNS rebinding: the bridge's OTLP/HTTP side on loopback answers only loopback Host names."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import requests

from agentsight_otel._bridge.config import Address
from agentsight_otel._bridge.http_app import TRACES_PATH, create_bridge_app
from agentsight_otel._bridge.pipeline import BridgePipeline
from agentsight_otel.testing import ScriptedTransport
from tests.bridge.conftest import StartBridge
from tests.bridge.helpers import (
    bridge_config,
    captured_spans,
    delivery_settings,
    ingest_bodies,
    otlp_protobuf,
)
from tests.support.hosts import ALLOWED_HOSTS, REFUSED_HOSTS, every_route

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _statuses(start_bridge: StartBridge, host_of: str) -> tuple[dict[str, int], list[bytes]]:
    """Every route of a loopback bridge (no token) called with this Host; what was delivered."""
    bridge, backend = start_bridge(grpc_address=None, spool_dir="off")
    assert bridge.pipeline is not None and bridge.http_url is not None
    routes = every_route(create_bridge_app(bridge.pipeline, bridge.config))
    assert {("POST", TRACES_PATH), ("GET", "/health")} <= set(routes)
    port = bridge.http_url.rsplit(":", 1)[1]
    host = host_of.replace("8600", port)
    body = otlp_protobuf(captured_spans("rebound"))
    statuses = {}
    with requests.Session() as http:
        for method, path in routes:
            answer = http.request(
                method, bridge.http_url + path, data=body, headers={**PROTOBUF, "Host": host}
            )
            statuses[path] = answer.status_code
    bridge.flush(10)
    return statuses, ingest_bodies(backend)


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_a_foreign_host_gets_421_and_delivers_nothing(start_bridge: StartBridge, host: str) -> None:
    statuses, delivered = _statuses(start_bridge, host)
    assert set(statuses.values()) == {421}, statuses
    assert delivered == []


@pytest.mark.parametrize("host", ALLOWED_HOSTS)
def test_a_loopback_host_is_served(start_bridge: StartBridge, host: str) -> None:
    statuses, delivered = _statuses(start_bridge, host)
    assert 421 not in statuses.values()
    assert (statuses[TRACES_PATH], statuses["/health"]) == (200, 200)
    assert delivered and b"rebound" in delivered[0]


@pytest.mark.parametrize("host", REFUSED_HOSTS[:4])
def test_beyond_loopback_with_a_token_any_host_is_answered(host: str) -> None:
    """Built for 0.0.0.0 but never bound: requests go to the app in process."""
    config = bridge_config(
        http_address=Address("0.0.0.0", 4418), grpc_address=None, token="t0k3n", spool_dir="off"
    )
    pipeline = BridgePipeline(config, delivery_settings(), transport=ScriptedTransport())
    app = create_bridge_app(pipeline, config)

    async def health() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
            return (await client.get("/health", headers={"Host": host})).status_code

    try:
        assert asyncio.run(health()) == 200
    finally:
        pipeline.close(1.0)
