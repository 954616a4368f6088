"""Spans that wait for a root count against --max-queue-bytes until they are delivered or dropped,
so requests of one huge root-less span each cannot pin memory past the bridge's byte bound."""

from __future__ import annotations

import base64
import os

import requests

from agentsight_otel import _semconv as sc
from tests.bridge.conftest import StartBridge
from tests.bridge.helpers import request_with

MIB = 1024 * 1024
ATTRIBUTE_BYTES = 2 * MIB
MAX_QUEUE_BYTES = 16 * MIB


def _rootless_request(n: int, conversation: bool) -> bytes:
    """One child span (its parent never comes) carrying a 2 MiB attribute."""
    attributes = [{"key": "blob", "value": {"stringValue": "x" * ATTRIBUTE_BYTES}}]
    if conversation:
        attributes.append({"key": sc.CONVERSATION_ID, "value": {"stringValue": f"c-{n}"}})
    span = {
        "traceId": base64.b64encode(os.urandom(16)).decode(),
        "spanId": base64.b64encode(os.urandom(8)).decode(),
        "parentSpanId": base64.b64encode(os.urandom(8)).decode(),
        "name": "child",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": attributes,
    }
    data: bytes = request_with([span]).SerializeToString()
    return data


def test_root_less_spans_stay_within_the_byte_bound(start_bridge: StartBridge) -> None:
    bridge, _ = start_bridge(grpc_address=None, max_queue_bytes=MAX_QUEUE_BYTES)
    assert bridge.pipeline is not None
    statuses = []
    with requests.Session() as http:
        for n in range(30):
            answer = http.post(
                f"{bridge.http_url}/v1/traces",
                data=_rootless_request(n, conversation=n % 2 == 0),
                headers={"Content-Type": "application/x-protobuf"},
                timeout=30,
            )
            statuses.append(answer.status_code)
            assert bridge.flush(10)
            spans, waiting = bridge.pipeline.exporter.pending()
            # Root-less spans get half the byte bound at most; the oldest make way.
            assert waiting <= MAX_QUEUE_BYTES // 2, (n, spans, waiting)
            held_spans, held_bytes = bridge.pipeline.intake.held
            assert held_bytes + waiting <= MAX_QUEUE_BYTES + ATTRIBUTE_BYTES + MIB
    # The oldest waiting traces make way (released, or dropped if of no conversation), so the
    # bridge keeps accepting while what it holds stays within the bound.
    assert statuses == [200] * 30
    assert bridge.pipeline.exporter.pending()[0] < 30
    assert bridge.stop(10)
