"""OTLP/HTTP: ``POST /v1/traces`` and ``POST /v1/logs`` (protobuf or JSON, gzip or not)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentsight_otel._bodies import BodyError, content_encoding, inflate, read_capped, too_large
from agentsight_otel._bridge.auth import authorized
from agentsight_otel._bridge.config import BridgeConfig
from agentsight_otel._bridge.decode import MalformedRequest, decode_json, decode_protobuf
from agentsight_otel._bridge.decode_logs import decode_logs_json, decode_logs_protobuf
from agentsight_otel._bridge.intake import Admission
from agentsight_otel._bridge.pipeline import BridgePipeline
from agentsight_otel._bridge.responses import (
    CONTENT_TYPES,
    MEDIA_TYPES,
    Encoding,
    error_body,
    logs_success_body,
    success_body,
)
from agentsight_otel._host_guard import LoopbackHostGuard
from agentsight_otel._loopback import is_loopback

TRACES_PATH = "/v1/traces"
LOGS_PATH = "/v1/logs"
_COMPRESSIONS = ("gzip", "x-gzip", "deflate")


class _Refusal(Exception):
    """An OTLP error answer: status, message and extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


@dataclass(frozen=True)
class _Signal:
    """What differs between the trace and the log endpoint: decoding, admission, the answer."""

    protobuf: Callable[[bytes], Any]
    json: Callable[[bytes], Any]
    submit: Callable[[BridgePipeline, Any, int], Any]
    success: Callable[[Any, Encoding], bytes]


_TRACES = _Signal(decode_protobuf, decode_json, BridgePipeline.submit, success_body)
_LOGS = _Signal(
    decode_logs_protobuf, decode_logs_json, BridgePipeline.submit_logs, logs_success_body
)


def create_bridge_app(pipeline: BridgePipeline, config: BridgeConfig) -> Starlette:
    """The bridge's HTTP side: traces and GenAI log records in, a health probe beside."""
    receiver = _TraceReceiver(pipeline, config)
    logs = _TraceReceiver(pipeline, config, _LOGS)
    routes = [
        Route(TRACES_PATH, receiver.export, methods=["POST"]),
        Route(LOGS_PATH, logs.export, methods=["POST"]),
        Route("/health", receiver.health, methods=["GET"]),
    ]
    # On loopback, only loopback Host names: a web page must not reach it by DNS rebinding.
    address = config.http_address
    loopback = address is not None and is_loopback(address.host)
    guards = [Middleware(LoopbackHostGuard)] if loopback else []
    return Starlette(
        routes=routes, exception_handlers={HTTPException: _http_error}, middleware=guards
    )


class _TraceReceiver:
    """One OTLP/HTTP endpoint (traces, or logs) over one pipeline."""

    def __init__(
        self, pipeline: BridgePipeline, config: BridgeConfig, signal: _Signal = _TRACES
    ) -> None:
        self._pipeline = pipeline
        self._config = config
        self._signal = signal
        self._retry_after = str(config.retry_after)

    async def export(self, request: Request) -> Response:
        """Check, read, decode and admit one request; answer as OTLP says."""
        encoding = _encoding_of(request)
        reply: Encoding = encoding or "json"
        try:
            raw, compression, known = await self._receive(request, encoding)
            decoded = await run_in_threadpool(self._admit, raw, compression, known)
        except _Refusal as refusal:
            body = error_body(refusal.status, str(refusal), reply)
            return Response(body, refusal.status, refusal.headers, CONTENT_TYPES[reply])
        body = self._signal.success(decoded, reply)
        return Response(body, 200, media_type=CONTENT_TYPES[reply])

    async def _receive(
        self, request: Request, encoding: Encoding | None
    ) -> tuple[bytes, str, Encoding]:
        """Authorize, check the headers, read the body within the limit."""
        if not authorized(request.headers.get("authorization"), self._config.token):
            raise _Refusal(401, "missing or wrong bridge token", {"WWW-Authenticate": "Bearer"})
        if encoding is None:
            raise _Refusal(415, "Content-Type must be application/x-protobuf or application/json")
        limit = self._config.max_body_bytes
        try:
            compression = content_encoding(request.headers.get("content-encoding"), _COMPRESSIONS)
            if _declared_length(request) > limit:
                raise too_large(limit)
            return await read_capped(request.stream(), limit), compression, encoding
        except BodyError as exc:
            raise _Refusal(exc.status, str(exc)) from None

    def _admit(self, raw: bytes, compression: str, encoding: Encoding) -> Any:
        """Decompress, decode and offer to the pipeline (on a worker thread: CPU work)."""
        try:
            with self._pipeline.decode_slots:
                body = inflate(raw, compression, self._config.max_body_bytes)
                signal = self._signal
                decoded = (signal.protobuf if encoding == "protobuf" else signal.json)(body)
        except BodyError as exc:
            raise _Refusal(exc.status, str(exc)) from None
        except MalformedRequest as exc:
            raise _Refusal(400, str(exc)) from None
        admission = self._signal.submit(self._pipeline, decoded, len(body))
        if admission is Admission.FULL:
            raise _Refusal(429, "the bridge's queue is full", {"Retry-After": self._retry_after})
        if admission is Admission.CLOSED:
            raise _Refusal(503, "the bridge is shutting down", {"Retry-After": self._retry_after})
        return decoded

    async def health(self, request: Request) -> Response:
        """200 while accepting spans, 503 once draining."""
        if self._pipeline.intake.closed:
            return JSONResponse({"status": "draining"}, 503)
        return JSONResponse({"status": "ok"})


def _declared_length(request: Request) -> int:
    """The Content-Length header, 0 when absent; a malformed one is a bad request."""
    header = request.headers.get("content-length") or "0"
    if not header.isdigit():
        raise BodyError(400, "malformed Content-Length")
    return int(header)


def _encoding_of(request: Request) -> Encoding | None:
    """The request's OTLP encoding from its Content-Type (parameters ignored)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return MEDIA_TYPES.get(media)


async def _http_error(request: Request, exc: Exception) -> Response:
    """404/405 and friends as OTLP Status bodies."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    encoding = _encoding_of(request) or "json"
    body = error_body(status, str(getattr(exc, "detail", "")) or "error", encoding)
    return Response(body, status, media_type=CONTENT_TYPES[encoding])
