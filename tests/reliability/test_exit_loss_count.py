"""Losses at exit with a hung backend are counted exactly: the round the delivery thread is
stuck posting is lost too, and reported with what was still queued (issue 11 item 8)."""

from __future__ import annotations

import re

import pytest

from agentsight_otel.testing import TEST_API_KEY, AgentSightCapture
from tests.bridge.helpers import BlockingTransport
from tests.reliability.helpers import closed_port, run_script


def test_the_round_in_flight_and_the_queued_ones_are_all_counted_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = BlockingTransport()  # ingest posts hang until released
    capture = AgentSightCapture(transport=transport)
    tracker, exporter = capture.backend.tracker, capture.backend.exporter
    tracker.configure(send_timeout=0)
    try:
        for n in range(3):
            tracker.track_human_message(f"question {n}", conversation_id=f"hung-{n}")
            tracker.track_agent_message(f"answer {n}", conversation_id=f"hung-{n}")
            tracker.send_tracked_data(conversation_id=f"hung-{n}")
            if n == 0:  # the first conversation is the round the thread is stuck posting
                assert transport.posting.wait(30)
        with caplog.at_level("WARNING", logger="agentsight_otel"):
            exporter.shutdown(timeout_millis=300)
    finally:
        transport.release.set()
        capture.close()
    lost = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert len(lost) == 1, lost
    found = re.match(r"(\d+) span\(s\) of (\d+) conversation\(s\)", lost[0])
    assert found is not None, lost[0]
    assert int(found[2]) == 3
    assert int(found[1]) == exporter.stats.failed_spans == exporter.stats.lost_spans
    assert exporter.stats.delivered_spans == 0


UNREACHABLE = """
import agentsight_otel._tracker.lifecycle as lifecycle
from agentsight_otel import conversation_tracker as tracker

lifecycle.EXIT_TIMEOUT_S = 1.0  # the README's 10 s, shortened for the test
tracker.configure(send_timeout=0)
tracker.track_human_message("anyone there?", conversation_id="down-1")
tracker.send_tracked_data(conversation_id="down-1")
"""


def test_a_loss_at_exit_names_the_deadline_the_endpoint_and_the_network_error() -> None:
    """A script whose endpoint is down ends within the exit deadline, and says so plainly."""
    endpoint = closed_port()
    script = run_script(
        UNREACHABLE, AGENTSIGHT_API_KEY=TEST_API_KEY, AGENTSIGHT_API_ENDPOINT=endpoint
    )
    _, stderr = script.communicate(timeout=60)
    assert script.returncode == 0, stderr
    lost = [line for line in stderr.splitlines() if "not delivered: the" in line]
    assert lost == [
        "1 span(s) of 1 conversation(s) not delivered: the 1 s exit deadline passed (the last "
        f"attempt: network error reaching {endpoint}: connection refused)"
    ], stderr
    assert "Pool" not in stderr and "Traceback" not in stderr
