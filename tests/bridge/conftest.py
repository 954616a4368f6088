"""Fixtures: bridges on free ports of 127.0.0.1 over scripted backends, stopped after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agentsight_otel._bridge.runner import Bridge
from agentsight_otel.testing import ScriptedTransport
from tests.bridge.helpers import bridge_config, delivery_settings

StartBridge = Callable[..., tuple[Bridge, ScriptedTransport]]


@pytest.fixture
def start_bridge() -> Iterator[StartBridge]:
    """Start bridges (config overrides as keywords, ``transport=`` optional); all stopped after."""
    started: list[Bridge] = []

    def start(transport: ScriptedTransport | None = None, **overrides: Any) -> tuple[Bridge, Any]:
        backend = transport if transport is not None else ScriptedTransport()
        bridge = Bridge(bridge_config(**overrides), settings=delivery_settings(), transport=backend)
        started.append(bridge.start())
        return bridge, backend

    yield start
    for bridge in started:
        bridge.stop(5.0)
