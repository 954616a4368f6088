"""Paths and file objects as sources: a regular file by our own descriptor, a stream read once."""

from __future__ import annotations

import io
import os
import stat
import tempfile
from typing import Any

from agentsight_otel._attachments.limits import MAX_FILE_BYTES, megabytes
from agentsight_otel._attachments.sources import BytesSource, FileSource, Source, open_regular
from agentsight_otel.exceptions import ValidationError

_BYTES_LIKE = (bytes, bytearray, memoryview)


def path_source(path: str | os.PathLike[Any], where: str) -> tuple[Source, str]:
    """A file named by a path, opened now so an unreadable one fails at the call."""
    raw = os.fspath(path)
    try:
        fd = open_regular(raw)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValidationError(f"{where}: cannot read {raw!r}: {reason}") from None
    name = os.path.basename(os.fsdecode(raw))
    return FileSource(fd, 0, f"file {name!r}"), name


def file_object_source(handle: Any, where: str) -> tuple[Source, str | None]:
    """A binary file object: a real file by our own descriptor, anything else read once."""
    if isinstance(handle, io.TextIOBase):
        raise ValidationError(f"{where} is a text file object: open the file in binary mode")
    try:
        readable = handle.readable() if hasattr(handle, "readable") else True
    except ValueError:
        raise ValidationError(f"{where} is a closed file object") from None
    if not readable:
        raise ValidationError(f"{where} is a file object not opened for reading")
    name = _object_name(handle)
    real = handle.file if isinstance(handle, tempfile._TemporaryFileWrapper) else handle
    if _is_plain_file(real):
        try:
            if real.writable():
                real.flush()  # bytes still in its write buffer are part of the file
            fd = os.dup(real.fileno())
            offset = real.tell()
        except (OSError, ValueError) as exc:
            raise ValidationError(f"{where}: cannot read the file object: {exc}") from None
        try:
            return FileSource(fd, offset, f"file {name or where!r}"), name
        except OSError as exc:
            os.close(fd)
            raise ValidationError(f"{where}: cannot read the file object: {exc}") from None
    return BytesSource(_read_capped(handle, where)), name


def _is_plain_file(handle: object) -> bool:
    """A file whose bytes are exactly what its descriptor reads (not gzip, not a socket)."""
    raw = handle.raw if isinstance(handle, (io.BufferedReader, io.BufferedRandom)) else handle
    if not isinstance(raw, io.FileIO) or raw.closed:
        return False
    try:
        return stat.S_ISREG(os.fstat(raw.fileno()).st_mode)
    except OSError:
        return False


def _read_capped(handle: Any, where: str) -> bytes:
    """Everything left in a stream, read once (exactly sized when known), within the limit."""
    try:
        known = _remaining(handle)
        if known is not None and known > MAX_FILE_BYTES:
            raise ValidationError(
                f"{where} is {megabytes(known)}, over the limit of "
                f"{megabytes(MAX_FILE_BYTES)} per file"
            )
        budget = MAX_FILE_BYTES + 1 if known is None else known
        parts: list[bytes] = []
        size = 0
        while size < budget:
            part = handle.read(budget - size)
            if isinstance(part, str):
                raise ValidationError(f"{where} returned text: open the file in binary mode")
            if not part:
                break
            if not isinstance(part, _BYTES_LIKE):
                raise ValidationError(f"{where}.read() returned {type(part).__name__}, not bytes")
            parts.append(part if isinstance(part, bytes) else bytes(part))
            size += len(part)
    except ValidationError:
        raise
    except (OSError, ValueError) as exc:
        raise ValidationError(f"{where}: cannot read the file object: {exc}") from None
    if size > MAX_FILE_BYTES:
        raise ValidationError(f"{where} is over the limit of {megabytes(MAX_FILE_BYTES)} per file")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _remaining(handle: object) -> int | None:
    """Bytes left in an in-memory or buffered stream whose seek is cheap; None otherwise.

    Knowing the size lets one read allocate exactly once (a read of "up to 25 MB" would
    allocate 25 MB first); a gzip stream is not asked, its seek would decompress it all.
    """
    if type(handle) not in (io.BytesIO, io.BufferedReader, io.BufferedRandom):
        return None
    stream: Any = handle
    position = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(position)
    return max(0, int(end) - int(position))


def _object_name(handle: object) -> str | None:
    """The base name of a file object's ``name`` when it is a path."""
    name = getattr(handle, "name", None)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if not isinstance(name, str) or not name or name.startswith("<"):
        return None
    return os.path.basename(name) or None
