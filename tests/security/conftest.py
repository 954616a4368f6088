"""Fixtures for the security suite: one shared bridge (tests/conftest.py isolates each test).

Generated tests run under the ``security`` hypothesis profile: derandomized (the same examples
every run) and without a per-example deadline (the machine's noise must not fail them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from hypothesis import HealthCheck, settings

from agentsight_otel._bridge.runner import Bridge
from agentsight_otel.testing import ScriptedTransport
from tests.bridge.helpers import bridge_config, delivery_settings

settings.register_profile(
    "security",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BRIDGE_TOKEN = "bridge-s3cret-token"


@dataclass
class BridgeRig:
    """A running bridge with a token, its scripted AgentSight backend and an HTTP client."""

    bridge: Bridge
    backend: ScriptedTransport
    session: requests.Session

    @property
    def url(self) -> str:
        """The OTLP/HTTP traces endpoint."""
        assert self.bridge.http_url is not None
        return f"{self.bridge.http_url}/v1/traces"


@pytest.fixture(scope="module")
def bridge_rig() -> Iterator[BridgeRig]:
    """One bridge (HTTP and gRPC on 127.0.0.1, token required) for a whole test module."""
    backend = ScriptedTransport()
    config = bridge_config(token=BRIDGE_TOKEN, max_body_bytes=1_000_000)
    bridge = Bridge(config, settings=delivery_settings(), transport=backend).start()
    with requests.Session() as session:
        yield BridgeRig(bridge, backend, session)
    bridge.stop(5.0)
