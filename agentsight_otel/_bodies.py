"""Request bodies under a size cap, read and inflated in bounded steps (server and bridge)."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, AsyncIterator, Collection

from starlette.requests import ClientDisconnect

# Past the limit the server still reads (and drops) the rest up to this multiple of it, so a
# client that is still sending gets to read the 413 instead of a connection reset.
DRAIN_FACTOR = 4
IDENTITY = frozenset({"", "identity"})
# 31: a gzip header; 47: zlib or gzip, detected (HTTP "deflate" is zlib-wrapped in practice).
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 47}


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


def content_encoding(header: str | None, accepted: Collection[str]) -> str:
    """The normalised Content-Encoding: identity, one of ``accepted``, or BodyError(415)."""
    name = (header or "").strip().lower()
    if name in IDENTITY or (name in accepted and name in _WBITS):
        return name
    raise BodyError(415, f"Unsupported Content-Encoding {name!r}; use gzip or none.")


async def capped_chunks(
    chunks: AsyncIterable[bytes], limit: int, *, drain_to: int = 0
) -> AsyncIterator[bytes]:
    """The body's chunks within ``limit`` bytes; past it the rest is dropped up to ``drain_to``,
    then BodyError(413). A client that goes away is a BodyError(400)."""
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size <= limit:
                yield chunk
            elif size > drain_to:
                break
    except ClientDisconnect as exc:
        raise BodyError(400, "The client disconnected before sending the whole body.") from exc
    if size > limit:
        raise too_large(limit)


async def read_capped(chunks: AsyncIterable[bytes], limit: int, *, drain_to: int = 0) -> bytes:
    """The whole body, or BodyError(413) once it passes ``limit`` bytes."""
    return b"".join([chunk async for chunk in capped_chunks(chunks, limit, drain_to=drain_to)])


def inflate(data: bytes, encoding: str, limit: int, *, zero_padding: bool = False) -> bytes:
    """Every member of a gzip/deflate body, inflated at most ``limit`` + 1 bytes at a time.

    Past ``limit`` bytes of output: BodyError(413); corrupt or truncated: BodyError(400).
    ``zero_padding`` tolerates zeros after the last member, as Python's gzip module does.
    """
    wbits = _WBITS.get(encoding)
    if wbits is None:
        return data
    label = "deflate" if encoding == "deflate" else "gzip"
    output = bytearray()
    pending = data
    while pending:
        inflater = zlib.decompressobj(wbits)
        try:
            _inflate_member(inflater, pending, output, limit)
        except zlib.error as exc:
            raise BodyError(400, f"The body is not valid {label}.") from exc
        if not inflater.eof:
            raise BodyError(400, f"The {label} body is truncated.")
        pending = inflater.unused_data
        if zero_padding:
            pending = pending.lstrip(b"\x00")
    return bytes(output)


def _inflate_member(inflater: zlib._Decompress, data: bytes, output: bytearray, limit: int) -> None:
    """Inflate one member into output, a bounded chunk at a time, until its end or the data's."""
    pending = data
    while not inflater.eof:
        # Never 0: zlib reads max_length=0 as "no limit".
        chunk = inflater.decompress(pending, limit - len(output) + 1)
        output += chunk
        if len(output) > limit:
            raise BodyError(413, f"Decompressed body exceeds the limit of {limit} bytes.")
        pending = inflater.unconsumed_tail
        if not chunk and not pending:
            return
