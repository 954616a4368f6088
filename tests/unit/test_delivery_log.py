"""The bridge's per-delivery INFO line: one per body, summed past one line a second (issue 20)."""

from __future__ import annotations

import logging

import pytest

from agentsight_otel._export.deliveries import DeliveryLog


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The INFO lines on the library's logger."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "agentsight_otel" and r.levelno == logging.INFO
    ]


def test_each_delivery_is_a_line_and_a_burst_is_summed_into_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    log = DeliveryLog(clock, interval=1.0)
    with caplog.at_level(logging.INFO, logger="agentsight_otel"):
        log.delivered(2, 7, 200)
        for _ in range(50):  # a burst within the second: no line each
            clock.now += 0.01
            log.delivered(1, 3, 202)
        assert lines(caplog) == ["delivered 2 conversation(s), 7 span(s) to AgentSight: HTTP 200"]
        clock.now += 1.0
        log.delivered(1, 3, 200)
        log.delivered(0, 4, 200)  # a spooled body: conversations unknown
        log.flush()
        log.flush()  # nothing more to tell
    assert lines(caplog)[1:] == [
        "delivered 51 batches, 51 conversation(s), 153 span(s), to AgentSight: last HTTP 200",
        "delivered 4 span(s) to AgentSight: HTTP 200",
    ]
