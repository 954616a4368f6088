"""OTLP response bodies: ``ExportTraceServiceResponse``, or ``google.rpc.Status`` for errors."""

from __future__ import annotations

import json
from typing import Literal

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from agentsight_otel._bridge.decode import Decoded
from agentsight_otel._bridge.decode_logs import DecodedLogs

Encoding = Literal["protobuf", "json"]
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MEDIA_TYPES: dict[str, Encoding] = {PROTOBUF: "protobuf", JSON: "json"}
CONTENT_TYPES: dict[Encoding, str] = {"protobuf": PROTOBUF, "json": JSON}

# The gRPC code that says the same as each HTTP error the bridge sends.
_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    404: code_pb2.NOT_FOUND,
    405: code_pb2.UNIMPLEMENTED,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    503: code_pb2.UNAVAILABLE,
}


def export_response(decoded: Decoded) -> ExportTraceServiceResponse:
    """Success, with ``partial_success`` only when spans were rejected."""
    if not decoded.rejected:
        return ExportTraceServiceResponse()
    return ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(
            rejected_spans=decoded.rejected, error_message=decoded.error_message
        )
    )


def logs_export_response(decoded: DecodedLogs) -> ExportLogsServiceResponse:
    """Success, with ``partial_success`` only when log records were rejected."""
    if not decoded.rejected:
        return ExportLogsServiceResponse()
    return ExportLogsServiceResponse(
        partial_success=ExportLogsPartialSuccess(
            rejected_log_records=decoded.rejected, error_message=decoded.error_message
        )
    )


def success_body(decoded: Decoded, encoding: Encoding) -> bytes:
    """The 200 body in the request's encoding."""
    return _encode(export_response(decoded), encoding)


def logs_success_body(decoded: DecodedLogs, encoding: Encoding) -> bytes:
    """The 200 body of a logs request in its encoding."""
    return _encode(logs_export_response(decoded), encoding)


def error_body(status: int, message: str, encoding: Encoding) -> bytes:
    """A 4xx/5xx body: a ``google.rpc.Status`` in the request's encoding."""
    code = _CODES.get(status, code_pb2.UNKNOWN)
    return _encode(status_pb2.Status(code=code, message=message), encoding)


def _encode(
    message: ExportTraceServiceResponse | ExportLogsServiceResponse | status_pb2.Status,
    encoding: Encoding,
) -> bytes:
    """Binary protobuf, or compact JSON with lowerCamelCase names."""
    if encoding == "protobuf":
        data: bytes = message.SerializeToString()
        return data
    document = json_format.MessageToDict(message)
    return json.dumps(document, separators=(",", ":")).encode("utf-8")
