"""OTLP/HTTP answers over real HTTP on 127.0.0.1: success, partial success and every refusal."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from agentsight_otel.testing import TEST_API_KEY
from tests.bridge.conftest import StartBridge
from tests.bridge.helpers import (
    BlockingTransport,
    captured_spans,
    ingest_bodies,
    otlp_json,
    otlp_protobuf,
    request_with,
)

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """A client session, closed before the bridges stop (keep-alive would delay them)."""
    with requests.Session() as client:
        yield client


def post(session: requests.Session, url: str, body: bytes, **headers: str) -> requests.Response:
    """POST to the bridge's traces endpoint."""
    return session.post(f"{url}/v1/traces", data=body, headers=headers, timeout=10)


def test_protobuf_request_gets_an_empty_protobuf_response(
    start_bridge: StartBridge, session: requests.Session
) -> None:
    bridge, backend = start_bridge()
    response = post(session, bridge.http_url, otlp_protobuf(captured_spans()), **PROTOBUF)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert ExportTraceServiceResponse.FromString(response.content) == ExportTraceServiceResponse()
    assert bridge.flush(10)
    assert len(ingest_bodies(backend)) == 1


def test_json_request_gets_a_json_response_and_gzip_is_decoded(
    start_bridge: StartBridge, session: requests.Session
) -> None:
    bridge, backend = start_bridge()
    body = gzip.compress(otlp_json(captured_spans()))
    response = post(
        session,
        bridge.http_url,
        body,
        **{"Content-Type": "application/json; charset=utf-8", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    assert bridge.flush(10)
    assert len(ingest_bodies(backend)) == 1


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_partial_success_names_the_rejected_spans(
    start_bridge: StartBridge, session: requests.Session, encoding: str
) -> None:
    bridge, _ = start_bridge()
    request = request_with(
        [
            {"traceId": "CvdlGRbNQ92ESOshHIAxnA==", "spanId": "t61rcWkgMzE=", "name": "ok"},
            {"traceId": "AAE=", "spanId": "t61rcWkgMzI=", "name": "short trace id"},
        ]
    )
    if encoding == "protobuf":
        response = post(session, bridge.http_url, request.SerializeToString(), **PROTOBUF)
        parsed = ExportTraceServiceResponse.FromString(response.content).partial_success
        rejected, message = parsed.rejected_spans, parsed.error_message
    else:
        document = {"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331"},
            {"traceId": "0001", "spanId": "b7ad6b7169203332"},
        ]}]}]}  # fmt: skip
        response = post(session, bridge.http_url, json.dumps(document).encode(), **JSON)
        parsed_json = response.json()["partialSuccess"]
        rejected, message = int(parsed_json["rejectedSpans"]), parsed_json["errorMessage"]
    assert response.status_code == 200
    assert rejected == 1
    assert "trace_id" in message


def _status(response: requests.Response) -> Any:
    """The google.rpc.Status of an error response, in whichever encoding it came."""
    if response.headers["content-type"] == "application/x-protobuf":
        return status_pb2.Status.FromString(response.content)
    return response.json()


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"\xff\xff\xff", PROTOBUF),
        (b"{not json", JSON),
        (b"[1, 2]", JSON),
        (b"not gzip at all", {**PROTOBUF, "Content-Encoding": "gzip"}),
    ],
)
def test_malformed_bodies_are_400(
    start_bridge: StartBridge, session: requests.Session, body: bytes, headers: dict[str, str]
) -> None:
    bridge, _ = start_bridge()
    response = post(session, bridge.http_url, body, **headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == headers["Content-Type"]
    assert _status(response)


def test_status_bodies_follow_the_request_encoding(
    start_bridge: StartBridge, session: requests.Session
) -> None:
    bridge, _ = start_bridge()
    status = _status(post(session, bridge.http_url, b"\xff", **PROTOBUF))
    assert status.code == 3 and "protobuf" in status.message  # INVALID_ARGUMENT
    assert _status(post(session, bridge.http_url, b"{", **JSON))["code"] == 3


def test_oversized_bodies_are_413_on_the_wire_and_once_decompressed(
    start_bridge: StartBridge, session: requests.Session
) -> None:
    bridge, _ = start_bridge(max_body_bytes=2_000)
    big = otlp_protobuf(captured_spans())
    assert len(big) > 2_000
    assert post(session, bridge.http_url, big, **PROTOBUF).status_code == 413

    def chunked() -> Iterator[bytes]:
        yield big  # no Content-Length: the streamed size is what trips the limit

    streamed = session.post(f"{bridge.http_url}/v1/traces", data=chunked(), headers=PROTOBUF)
    assert streamed.status_code == 413
    bomb = gzip.compress(b"\0" * 1_000_000)
    assert len(bomb) < 2_000
    response = post(session, bridge.http_url, bomb, **{**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 413


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {},
        {**PROTOBUF, "Content-Encoding": "br"},
    ],
)
def test_unknown_content_types_and_encodings_are_415(
    start_bridge: StartBridge, session: requests.Session, headers: dict[str, str]
) -> None:
    bridge, _ = start_bridge()
    assert post(session, bridge.http_url, b"x", **headers).status_code == 415


def test_a_configured_token_is_required(
    start_bridge: StartBridge, session: requests.Session
) -> None:
    bridge, backend = start_bridge(token="s3cret")
    body = otlp_protobuf(captured_spans())
    missing = post(session, bridge.http_url, body, **PROTOBUF)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = post(session, bridge.http_url, body, **PROTOBUF, Authorization="Bearer nope")
    assert wrong.status_code == 401
    good = post(session, bridge.http_url, body, **PROTOBUF, Authorization="Bearer s3cret")
    assert good.status_code == 200
    assert bridge.flush(10)
    assert len(ingest_bodies(backend)) == 1


def test_a_full_queue_answers_429_with_retry_after(
    start_bridge: StartBridge, session: requests.Session
) -> None:
    backend = BlockingTransport()
    bridge, _ = start_bridge(transport=backend, max_queue_spans=5, retry_after=7)
    spans = captured_spans("first")
    try:
        assert post(session, bridge.http_url, otlp_protobuf(spans), **PROTOBUF).status_code == 200
        assert backend.posting.wait(10)  # the delivery is under way and blocked
        response = post(
            session, bridge.http_url, otlp_protobuf(captured_spans("second")), **PROTOBUF
        )
        assert response.status_code == 429
        assert response.headers["retry-after"] == "7"
        assert _status(response).code == 8  # RESOURCE_EXHAUSTED
    finally:
        backend.release.set()
    assert bridge.flush(10)
    retry = post(session, bridge.http_url, otlp_protobuf(captured_spans("second")), **PROTOBUF)
    assert retry.status_code == 200


def test_a_draining_bridge_answers_503(
    start_bridge: StartBridge, session: requests.Session
) -> None:
    bridge, _ = start_bridge()
    assert session.get(f"{bridge.http_url}/health").json() == {"status": "ok"}
    assert bridge.pipeline is not None
    bridge.pipeline.intake.close()
    response = post(session, bridge.http_url, otlp_protobuf(captured_spans()), **PROTOBUF)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert session.get(f"{bridge.http_url}/health").status_code == 503


def test_other_paths_and_methods(start_bridge: StartBridge, session: requests.Session) -> None:
    bridge, _ = start_bridge()
    assert session.get(f"{bridge.http_url}/v1/traces").status_code == 405
    assert post(session, bridge.http_url + "/v1", b"", **PROTOBUF).status_code == 404


def test_an_empty_request_is_accepted(start_bridge: StartBridge, session: requests.Session) -> None:
    bridge, backend = start_bridge()
    empty = ExportTraceServiceRequest().SerializeToString()
    assert post(session, bridge.http_url, empty, **PROTOBUF).status_code == 200
    assert bridge.flush(10)
    assert ingest_bodies(backend) == []


def test_each_delivery_is_one_info_line_without_the_key(
    start_bridge: StartBridge, session: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    bridge, backend = start_bridge()
    with caplog.at_level(logging.INFO, logger="agentsight_otel"):
        response = post(session, bridge.http_url, otlp_protobuf(captured_spans()), **PROTOBUF)
        assert response.status_code == 200
        assert bridge.flush(10)
    delivered = [r.getMessage() for r in caplog.records if "delivered" in r.getMessage()]
    [body] = ingest_bodies(backend)
    sent = sum(len(entry["spans"]) for entry in json.loads(body)["conversations"])
    assert delivered == [f"delivered 1 conversation(s), {sent} span(s) to AgentSight: HTTP 200"]
    assert TEST_API_KEY[4:36] not in caplog.text
