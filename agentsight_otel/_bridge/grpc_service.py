"""OTLP/gRPC: the ``TraceService/Export`` and ``LogsService/Export`` RPCs on a thread-pool
gRPC server."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

import grpc
from google.protobuf.any_pb2 import Any as AnyMessage
from google.rpc import status_pb2
from google.rpc.error_details_pb2 import RetryInfo

from agentsight_otel._bridge.auth import authorized
from agentsight_otel._bridge.config import Address, BridgeConfig
from agentsight_otel._bridge.decode import MalformedRequest, decode_protobuf
from agentsight_otel._bridge.decode_logs import decode_logs_protobuf
from agentsight_otel._bridge.intake import Admission
from agentsight_otel._bridge.pipeline import BridgePipeline
from agentsight_otel._bridge.responses import export_response, logs_export_response

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"


class TraceService:
    """Export: authorize, decode, admit; errors as the OTLP/gRPC spec lists them.

    The same for the logs service, given its decoder, admission and response.
    """

    def __init__(
        self,
        pipeline: BridgePipeline,
        config: BridgeConfig,
        decode: Callable[[bytes], Any] = decode_protobuf,
        submit: Callable[[BridgePipeline, Any, int], Admission] = BridgePipeline.submit,
        respond: Callable[[Any], Any] = export_response,
    ) -> None:
        self._pipeline = pipeline
        self._config = config
        self._decode = decode
        self._submit = submit
        self._respond = respond

    def export(self, request: bytes, context: Any) -> bytes:
        """One Export call; the request arrives undecoded so bad bytes get INVALID_ARGUMENT."""
        metadata = dict(context.invocation_metadata())
        if not authorized(metadata.get("authorization"), self._config.token):
            _abort(context, grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bridge token")
        try:
            with self._pipeline.decode_slots:
                decoded = self._decode(request)
        except MalformedRequest as exc:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        admission = self._submit(self._pipeline, decoded, len(request))
        if admission is Admission.FULL:
            self._abort_retry(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "the queue is full")
        if admission is Admission.CLOSED:
            self._abort_retry(context, grpc.StatusCode.UNAVAILABLE, "the bridge is shutting down")
        data: bytes = self._respond(decoded).SerializeToString()
        return data

    def _abort_retry(self, context: Any, code: Any, message: str) -> NoReturn:
        """Abort with RetryInfo, which makes RESOURCE_EXHAUSTED retryable for OTLP clients."""
        retry = RetryInfo()
        retry.retry_delay.FromSeconds(self._config.retry_after)
        detail = AnyMessage()
        detail.Pack(retry)
        status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
        # The Go exporters read the status details; the Python one reads retryinfo-bin.
        context.set_trailing_metadata(
            (
                ("grpc-status-details-bin", status.SerializeToString()),
                ("google.rpc.retryinfo-bin", retry.SerializeToString()),
            )
        )
        _abort(context, code, message)


def _abort(context: Any, code: Any, message: str) -> NoReturn:
    """End the RPC with an error status (``abort`` raises to unwind the handler)."""
    context.abort(code, message)
    raise AssertionError("grpc's abort returned")


def start_grpc_server(
    pipeline: BridgePipeline, config: BridgeConfig, address: Address
) -> tuple[Any, int]:
    """A started server for the trace and logs services, and the port it bound (0 picks one)."""
    traces = TraceService(pipeline, config)
    logs = TraceService(
        pipeline, config, decode_logs_protobuf, BridgePipeline.submit_logs, logs_export_response
    )
    handlers = tuple(
        grpc.method_handlers_generic_handler(
            name,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    service.export,
                    request_deserializer=bytes,
                    response_serializer=bytes,
                )
            },
        )
        for name, service in ((SERVICE, traces), (LOGS_SERVICE, logs))
    )
    # gRPC enforces the limit on the decompressed message too, so gzip bombs stop there.
    limit = config.max_body_bytes
    server = grpc.server(
        ThreadPoolExecutor(max_workers=config.grpc_workers, thread_name_prefix="agentsight-grpc"),
        handlers=handlers,
        options=(
            ("grpc.max_receive_message_length", limit),
            # A client that opens a connection must finish its handshake in time, and the
            # server holds at most max_connections' worth of streams at once.
            ("grpc.server_handshake_timeout_ms", int(config.head_timeout * 1000)),
            ("grpc.max_concurrent_streams", 100),
        ),
        maximum_concurrent_rpcs=config.max_connections,
    )
    port = server.add_insecure_port(str(address))
    server.start()
    return server, int(port)
