"""The pytest plugin (entry point ``pytest11``): the ``agentsight_capture`` fixture for users."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from agentsight_otel.testing import AgentSightCapture


@pytest.fixture
def agentsight_capture() -> Iterator[AgentSightCapture]:
    """A tracker whose deliveries are captured in memory, in a clean tracking context."""
    # Imported here: the plugin loads in every pytest run of an environment that has the library.
    from agentsight_otel.testing import AgentSightCapture, isolated_tracking

    with isolated_tracking(), AgentSightCapture() as capture:
        yield capture
