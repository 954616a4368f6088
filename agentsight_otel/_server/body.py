"""Request bodies under a size cap: bounded reads and bounded gzip decompression."""

from __future__ import annotations

import zlib

from starlette.requests import ClientDisconnect, Request

# Past the limit the rest of the body is still read (and dropped) up to this multiple, so a
# client that is still sending gets to read the 413 instead of a connection reset.
DRAIN_FACTOR = 4
_IDENTITY = frozenset({"", "identity"})
_GZIP = frozenset({"gzip", "x-gzip"})


class BodyError(Exception):
    """A request body that cannot be accepted, with the status and detail to answer."""

    def __init__(self, status: int, detail: str) -> None:
        """Keep the HTTP status and the human detail."""
        super().__init__(detail)
        self.status = status
        self.detail = detail


def too_large(limit: int) -> BodyError:
    """The 413 for a body over the limit."""
    return BodyError(413, f"Request body exceeds the limit of {limit} bytes.")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, or BodyError(413) once it passes limit bytes."""
    drain_cap = max(limit, 1024 * 1024) * DRAIN_FACTOR
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > drain_cap:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > drain_cap:
                break
            if size <= limit:
                chunks.append(chunk)
    except ClientDisconnect as exc:
        raise BodyError(400, "The client disconnected before sending the whole body.") from exc
    if size > limit:
        raise too_large(limit)
    return b"".join(chunks)


def decode_body(raw: bytes, encoding: str | None, *, gzip_allowed: bool, limit: int) -> bytes:
    """Undo the Content-Encoding, never producing more than limit bytes."""
    name = (encoding or "").strip().lower()
    if name in _IDENTITY:
        return raw
    if name not in _GZIP:
        raise BodyError(415, "Unsupported Content-Encoding; use gzip or none.")
    if not gzip_allowed:
        detail = "gzip bodies are not accepted: this server does not advertise 'gzip-ingest'."
        raise BodyError(415, detail)
    return gunzip_capped(raw, limit)


def gunzip_capped(data: bytes, limit: int) -> bytes:
    """Decompress every gzip member of data, stopping with 413 past limit bytes of output."""
    output = bytearray()
    rest = data
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            _inflate_member(inflater, rest, output, limit)
        except zlib.error as exc:
            raise BodyError(400, "The body is not valid gzip.") from exc
        if not inflater.eof:
            raise BodyError(400, "The gzip body is truncated.")
        # Zero padding after the last member is tolerated, as the gzip module does.
        rest = inflater.unused_data.lstrip(b"\x00")
        if not rest:
            return bytes(output)


def _inflate_member(inflater: zlib._Decompress, data: bytes, output: bytearray, limit: int) -> None:
    """Inflate one member into output, a bounded chunk at a time."""
    pending = data
    while not inflater.eof:
        chunk = inflater.decompress(pending, limit - len(output) + 1)
        output += chunk
        if len(output) > limit:
            raise BodyError(413, f"Decompressed body exceeds the limit of {limit} bytes.")
        if not chunk and not inflater.unconsumed_tail:
            return
        pending = inflater.unconsumed_tail
