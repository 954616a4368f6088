"""OTLP/gRPC answers over a real channel on 127.0.0.1."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.rpc import status_pb2
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.bridge.conftest import StartBridge
from tests.bridge.helpers import (
    BlockingTransport,
    captured_spans,
    ingest_bodies,
    otlp_protobuf,
    request_with,
)

METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def channels() -> Iterator[list[grpc.Channel]]:
    """Channels opened by a test, closed before its bridges stop."""
    opened: list[grpc.Channel] = []
    yield opened
    for channel in opened:
        channel.close()


def export(
    channels: list[grpc.Channel], target: str | None, body: bytes, **options: Any
) -> ExportTraceServiceResponse:
    """One raw Export call (the body is sent as given)."""
    assert target is not None
    channel = grpc.insecure_channel(target)
    channels.append(channel)
    call = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
    return ExportTraceServiceResponse.FromString(call(body, timeout=10, **options))


def failure(call: Any) -> grpc.RpcError:
    """The RpcError a call raised."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def test_export_succeeds_and_delivers(start_bridge: StartBridge, channels: Any) -> None:
    bridge, backend = start_bridge()
    response = export(channels, bridge.grpc_target, otlp_protobuf(captured_spans()))
    assert response == ExportTraceServiceResponse()
    assert bridge.flush(10)
    assert len(ingest_bodies(backend)) == 1


def test_partial_success(start_bridge: StartBridge, channels: Any) -> None:
    bridge, _ = start_bridge()
    request = request_with([{"traceId": "AAE=", "spanId": "t61rcWkgMzI="}])
    response = export(channels, bridge.grpc_target, request.SerializeToString())
    assert response.partial_success.rejected_spans == 1
    assert "trace_id" in response.partial_success.error_message


def test_malformed_bytes_are_invalid_argument(start_bridge: StartBridge, channels: Any) -> None:
    bridge, _ = start_bridge()
    error = failure(lambda: export(channels, bridge.grpc_target, b"\xff\xff\xff"))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_a_configured_token_is_required(start_bridge: StartBridge, channels: Any) -> None:
    bridge, _ = start_bridge(token="s3cret")
    body = otlp_protobuf(captured_spans())
    error = failure(lambda: export(channels, bridge.grpc_target, body))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    wrong = (("authorization", "Bearer nope"),)
    error = failure(lambda: export(channels, bridge.grpc_target, body, metadata=wrong))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    good = (("authorization", "Bearer s3cret"),)
    assert export(channels, bridge.grpc_target, body, metadata=good) is not None


def test_a_full_queue_is_resource_exhausted_with_retry_info(
    start_bridge: StartBridge, channels: Any
) -> None:
    backend = BlockingTransport()
    bridge, _ = start_bridge(transport=backend, max_queue_spans=5, retry_after=3)
    try:
        export(channels, bridge.grpc_target, otlp_protobuf(captured_spans("first")))
        assert backend.posting.wait(10)
        second = otlp_protobuf(captured_spans("second"))
        error = failure(lambda: export(channels, bridge.grpc_target, second))
    finally:
        backend.release.set()
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(error.trailing_metadata() or ())
    retry = RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
    assert retry.retry_delay.seconds == 3
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert status.details[0].Is(RetryInfo.DESCRIPTOR)


def test_a_draining_bridge_is_unavailable(start_bridge: StartBridge, channels: Any) -> None:
    bridge, _ = start_bridge()
    assert bridge.pipeline is not None
    bridge.pipeline.intake.close()
    body = otlp_protobuf(captured_spans())
    error = failure(lambda: export(channels, bridge.grpc_target, body))
    assert error.code() is grpc.StatusCode.UNAVAILABLE


def test_messages_over_the_limit_are_refused_compressed_or_not(
    start_bridge: StartBridge, channels: Any
) -> None:
    bridge, _ = start_bridge(max_body_bytes=2_000)
    big = otlp_protobuf(captured_spans())
    error = failure(lambda: export(channels, bridge.grpc_target, big))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    # A zero-filled string attribute compresses to almost nothing but inflates past the limit.
    padded = request_with(
        [
            {
                "traceId": "CvdlGRbNQ92ESOshHIAxnA==",
                "spanId": "t61rcWkgMzE=",
                "name": "\0" * 200_000,
            }
        ]
    ).SerializeToString()
    assert len(gzip.compress(padded)) < 2_000
    error = failure(
        lambda: export(channels, bridge.grpc_target, padded, compression=grpc.Compression.Gzip)
    )
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
