"""Fixtures for the security suite: a clean environment, fake backends, one shared bridge.

Generated tests run under the ``security`` hypothesis profile: derandomized (the same examples
every run) and without a per-example deadline (the machine's noise must not fail them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, settings
from opentelemetry import context as otel_context

from agentsight_otel.bridge.runner import Bridge
from agentsight_otel.testing import FakeBackend, ScriptedTransport, fake_backend
from agentsight_otel.tracker.core import ACTIVE_TRACKER
from tests.bridge.helpers import bridge_config, delivery_settings

settings.register_profile(
    "security",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BRIDGE_TOKEN = "bridge-s3cret-token"
_ENV = (
    "AGENTSIGHT_API_KEY",
    "AGENTSIGHT_API_ENDPOINT",
    "AGENTSIGHT_LOG_LEVEL",
    "AGENTSIGHT_ENVIRONMENT",
    "AGENTSIGHT_REDACT_PII",
    "AGENTSIGHT_SPOOL_DIR",
    "AGENTSIGHT_BRIDGE_TOKEN",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No AGENTSIGHT_* variable, current span or active tracker leaks in or out."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    library_logger = logging.getLogger("agentsight_otel")
    level = library_logger.level
    token = otel_context.attach(otel_context.Context())
    active = ACTIVE_TRACKER.set(None)
    yield
    ACTIVE_TRACKER.reset(active)
    otel_context.detach(token)
    library_logger.setLevel(level)


@pytest.fixture
def make_backend() -> Iterator[Callable[..., FakeBackend]]:
    """Build fake backends (a tracker on a scripted transport); each shut down afterwards."""
    made: list[FakeBackend] = []

    def make(**kwargs: Any) -> FakeBackend:
        backend = fake_backend(**kwargs)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.tracker.shutdown(timeout=1)
        backend.exporter.shutdown(timeout_millis=2000)
        backend.provider.shutdown()


@pytest.fixture
def backend(make_backend: Callable[..., FakeBackend]) -> FakeBackend:
    """One fake backend with default settings."""
    return make_backend()


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
