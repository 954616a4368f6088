"""Request bodies within a size limit, on the wire and once decompressed (gzip bombs stop early)."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable

# 31: a gzip header; 47: zlib or gzip, detected (HTTP "deflate" is zlib-wrapped in practice).
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 47}
IDENTITY = ("", "identity")


class BodyError(Exception):
    """A body the bridge will not decode; ``status`` is the HTTP answer."""

    status = 400


class BodyTooLarge(BodyError):
    """Over the size limit, compressed or not."""

    status = 413


class UnsupportedEncoding(BodyError):
    """A Content-Encoding the bridge cannot decode."""

    status = 415


def check_encoding(header: str | None) -> str:
    """The normalised Content-Encoding, or UnsupportedEncoding."""
    encoding = (header or "").strip().lower()
    if encoding in IDENTITY or encoding in _WBITS:
        return encoding
    raise UnsupportedEncoding(f"unsupported Content-Encoding {encoding!r}; use gzip or none")


async def read_capped(chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """The whole body, failing as soon as it passes ``limit`` bytes."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(f"request body over {limit} bytes")
    return bytes(body)


def decompress(data: bytes, encoding: str, limit: int) -> bytes:
    """The decoded body, inflated at most ``limit`` + 1 bytes at a time."""
    wbits = _WBITS.get(encoding)
    if wbits is None:
        return data
    out = bytearray()
    pending = data
    try:
        while pending:
            inflater = zlib.decompressobj(wbits)
            pending = _inflate_member(inflater, pending, out, limit)
    except zlib.error as exc:
        raise BodyError(f"corrupt {encoding} body: {exc}") from None
    return bytes(out)


def _inflate_member(inflater: zlib._Decompress, data: bytes, out: bytearray, limit: int) -> bytes:
    """Inflate one gzip member into ``out``; what follows it (another member) is returned."""
    pending = data
    while True:
        # Never 0: zlib reads max_length=0 as "no limit".
        out += inflater.decompress(pending, limit + 1 - len(out))
        if len(out) > limit:
            raise BodyTooLarge(f"decompressed request body over {limit} bytes")
        pending = inflater.unconsumed_tail
        if inflater.eof:
            return inflater.unused_data
        if not pending:
            raise BodyError("truncated compressed body")
