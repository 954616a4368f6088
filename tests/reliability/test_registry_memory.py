"""Memory held by the tracker stays flat past its capacity however many conversations are
left unsent (issue 10 item 4; README's figure comes from ``python -m bench.registry_memory``)."""

from __future__ import annotations

import logging

import pytest

from bench.registry_memory import rows


@pytest.mark.slow
def test_memory_is_flat_past_capacity_with_every_conversation_unsent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="agentsight_otel")
    figures = list(rows(total=24_000, step=4_000, capacity=2_000))
    assert [row["held_by_tracker"] for row in figures] == [2_000] * 6
    # Past the capacity, and the delivery ledger's and retired record's own caps (10,000 and
    # 1,000 entries), more unsent conversations hold nothing more.
    settled, last = figures[-2]["traced_mib"], figures[-1]["traced_mib"]
    assert last <= settled * 1.03, figures
