"""Fixtures: exporters on a given transport, torn down; no test here opens a connection."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agentsight_otel import AgentSightSpanExporter
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.testing import TEST_API_KEY, FakeClock


@pytest.fixture
def exporters() -> Iterator[Callable[..., AgentSightSpanExporter]]:
    """Build exporters on a given transport with a fake clock; shut down after the test."""
    made: list[AgentSightSpanExporter] = []

    def make(
        transport: Any, *, clock: Any = None, policy: Any = None, **kwargs: Any
    ) -> AgentSightSpanExporter:
        exporter = AgentSightSpanExporter(
            api_key=TEST_API_KEY,
            endpoint="http://agentsight.test",
            _transport=transport,
            _clock=clock or FakeClock(),
            _retry_policy=policy,
            _ledger=DeliveryLedger(),
            **kwargs,
        )
        made.append(exporter)
        return exporter

    yield make
    for exporter in made:
        exporter.shutdown(timeout_millis=2000)


@pytest.fixture(autouse=True)
def _offline(no_network: None) -> None:
    """No unit test opens a connection (tests/conftest.py cleans environment and context)."""
