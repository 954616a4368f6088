"""The local server's request bodies: drained past the cap, gzip only where advertised."""

from __future__ import annotations

from starlette.requests import Request

from agentsight_otel._bodies import (
    DRAIN_FACTOR,
    BodyError,
    content_encoding,
    inflate,
    read_capped,
    too_large,
)

_GZIP = ("gzip", "x-gzip")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, or BodyError(413) once it passes limit bytes."""
    drain_cap = max(limit, 1024 * 1024) * DRAIN_FACTOR
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > drain_cap:
        raise too_large(limit)
    return await read_capped(request.stream(), limit, drain_to=drain_cap)


def decode_body(raw: bytes, encoding: str | None, *, gzip_allowed: bool, limit: int) -> bytes:
    """Undo the Content-Encoding, never producing more than limit bytes."""
    name = content_encoding(encoding, _GZIP)
    if name and name != "identity" and not gzip_allowed:
        detail = "gzip bodies are not accepted: this server does not advertise 'gzip-ingest'."
        raise BodyError(415, detail)
    return inflate(raw, name, limit, zero_padding=True)
