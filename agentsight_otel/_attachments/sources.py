"""Where a file's bytes are read from at upload time, without copying them whole.

Each source can be read again from its start (a retry re-sends the same bytes) in bounded
chunks, raw or base64-encoded, and knows its size up front (the request's Content-Length).
"""

from __future__ import annotations

import abc
import base64
import binascii
import os
import re
import stat
import threading
from collections.abc import Iterator

# Multiples of 3 (raw) and 4 (base64), so chunks encode and decode independently.
RAW_CHUNK = 3 * 256 * 1024
TEXT_CHUNK = 4 * 256 * 1024
_BASE64_BODY = re.compile(r"[A-Za-z0-9+/]*")
_BASE64_TAIL = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class SourceChanged(OSError):
    """A file changed between the tracking call and its upload."""


def base64_length(size: int) -> int:
    """Characters of base64 for ``size`` bytes (with padding)."""
    return 4 * ((size + 2) // 3)


def strict_base64_size(text: str) -> tuple[int, bytes]:
    """The decoded size and first bytes of strict base64 text; ValueError when it is not.

    Checked a chunk at a time, so a 30 MB string is never decoded (or re-encoded) whole.
    """
    if len(text) % 4:
        raise ValueError("its length is not a multiple of 4")
    size, head = 0, b""
    for start in range(0, len(text), TEXT_CHUNK):
        piece = text[start : start + TEXT_CHUNK]
        final = start + TEXT_CHUNK >= len(text)
        if not (_BASE64_TAIL if final else _BASE64_BODY).fullmatch(piece):
            raise ValueError("it holds characters outside the base64 alphabet or early padding")
        try:
            raw = binascii.a2b_base64(piece)
        except binascii.Error as exc:
            raise ValueError(str(exc)) from None
        head = head or raw[:512]
        size += len(raw)
    return size, head


class Source(abc.ABC):
    """Bytes of one file; subclasses say where they live."""

    size: int

    @abc.abstractmethod
    def raw_chunks(self) -> Iterator[bytes]:
        """The bytes from the start, in bounded chunks (a multiple of 3 long but the last)."""

    def head(self, limit: int = 512) -> bytes:
        """The first bytes, for content sniffing."""
        for chunk in self.raw_chunks():
            return chunk[:limit]
        return b""

    def base64_chunks(self) -> Iterator[bytes]:
        """The bytes base64-encoded, in bounded chunks."""
        for chunk in self.raw_chunks():
            yield base64.b64encode(chunk)

    def check(self) -> None:  # noqa: B027 (bytes in memory cannot change: most sources)
        """Raise ``SourceChanged`` when the bytes can no longer be read as tracked."""

    def close(self) -> None:  # noqa: B027 (most sources hold nothing to release)
        """Release what the source holds (a file descriptor); safe to call twice."""


class BytesSource(Source):
    """Bytes the caller passed: referenced, never copied whole."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def raw_chunks(self) -> Iterator[bytes]:
        """Slices of the caller's bytes."""
        data = self.data
        for start in range(0, len(data), RAW_CHUNK):
            yield data[start : start + RAW_CHUNK]

    def close(self) -> None:
        """Drop the reference so the caller's bytes can be freed."""
        self.data = b""


class Base64Source(Source):
    """Base64 text the caller passed (base64 mode): sent as it is, decoded only for multipart."""

    def __init__(self, text: str, size: int, head: bytes = b"") -> None:
        self.text = text
        self.size = size
        self.encoded_length = len(text)
        self._head = head

    def head(self, limit: int = 512) -> bytes:
        """The first bytes, decoded when the text was checked."""
        return self._head[:limit] if self._head else super().head(limit)

    def raw_chunks(self) -> Iterator[bytes]:
        """The decoded bytes, a chunk of text at a time."""
        text = self.text
        for start in range(0, len(text), TEXT_CHUNK):
            yield binascii.a2b_base64(text[start : start + TEXT_CHUNK])

    def base64_chunks(self) -> Iterator[bytes]:
        """The caller's text itself, as ASCII, a chunk at a time."""
        text = self.text
        for start in range(0, len(text), TEXT_CHUNK):
            yield text[start : start + TEXT_CHUNK].encode("ascii")

    def close(self) -> None:
        """Drop the reference to the caller's text."""
        self.text = ""


class FileSource(Source):
    """A regular file read through our own descriptor with ``pread``, never whole.

    The descriptor is ours (opened from a path, or duplicated from the caller's file object),
    so the caller may close its file right after the tracking call.
    """

    def __init__(self, fd: int, offset: int, label: str) -> None:
        info = os.fstat(fd)
        self._fd: int | None = fd
        self._lock = threading.Lock()
        self.offset = offset
        self.size = max(0, info.st_size - offset)
        self.label = label
        self._mtime = info.st_mtime_ns

    def raw_chunks(self) -> Iterator[bytes]:
        """Exactly ``size`` bytes from ``offset``; SourceChanged if the file shrank."""
        position, end = self.offset, self.offset + self.size
        while position < end:
            chunk = self._read(position, min(RAW_CHUNK, end - position))
            position += len(chunk)
            yield chunk

    def check(self) -> None:
        """The file must still be there, as large, and unmodified."""
        with self._lock:
            if self._fd is None:
                raise SourceChanged(f"{self.label} was closed before its upload")
            info = os.fstat(self._fd)
        if info.st_mtime_ns != self._mtime or info.st_size < self.offset + self.size:
            raise SourceChanged(f"{self.label} changed after it was tracked")

    def close(self) -> None:
        """Close our descriptor once."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _read(self, position: int, length: int) -> bytes:
        """``length`` bytes at ``position`` (pread may return less; loop until done)."""
        parts: list[bytes] = []
        wanted = length
        while wanted:
            with self._lock:
                if self._fd is None:
                    raise SourceChanged(f"{self.label} was closed before its upload")
                part = _pread(self._fd, wanted, position)
            if not part:
                raise SourceChanged(f"{self.label} is shorter than when it was tracked")
            parts.append(part)
            position += len(part)
            wanted -= len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)


def _pread(fd: int, length: int, position: int) -> bytes:
    """``os.pread``; where it is missing (Windows), a seek and a read under the source's lock."""
    if hasattr(os, "pread"):
        return os.pread(fd, length, position)
    os.lseek(fd, position, os.SEEK_SET)  # pragma: no cover - Windows only
    return os.read(fd, length)  # pragma: no cover - Windows only


def open_regular(path: str | bytes) -> int:
    """A read-only descriptor on a regular file; OSError otherwise."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
    except BaseException:  # cleanup, then re-raised untouched
        os.close(fd)
        raise
    return fd
