"""Checking ``track_attachments`` input in both seed modes and turning it into file sources.

Every check happens here, at the call: limits, strict base64, types, readable paths. What
passes holds references (or our own descriptors), not copies, until the uploader sends it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from agentsight_otel._attachments import mime
from agentsight_otel._attachments.limits import (
    MAX_CALL_BYTES,
    MAX_FILE_BYTES,
    MAX_FILENAME,
    MAX_FILES,
    MODES,
    megabytes,
)
from agentsight_otel._attachments.readers import file_object_source, path_source
from agentsight_otel._attachments.sources import (
    Base64Source,
    BytesSource,
    Source,
    strict_base64_size,
)
from agentsight_otel.exceptions import ValidationError

if TYPE_CHECKING:
    from agentsight_otel._redaction import Redactor

_BYTES_LIKE = (bytes, bytearray, memoryview)


@dataclass(frozen=True, slots=True)
class AttachmentFile:
    """One checked file: its name, type, size and where its bytes are."""

    filename: str
    mime_type: str
    size: int
    source: Source

    def descriptor(self) -> dict[str, Any]:
        """``{filename, size, mime_type}``: what the span record carries."""
        return {"filename": self.filename, "size": self.size, "mime_type": self.mime_type}


class Batch:
    """The files of one call; closes their sources unless the uploader took them over."""

    def __init__(self, mode: str, files: list[AttachmentFile]) -> None:
        self.mode = mode
        self.files = files
        self.handed_off = False

    @property
    def descriptors(self) -> list[dict[str, Any]]:
        """Every file's descriptor."""
        return [f.descriptor() for f in self.files]

    @property
    def size(self) -> int:
        """Total bytes."""
        return sum(f.size for f in self.files)

    def close(self) -> None:
        """Release every source."""
        close_all(f.source for f in self.files)

    @contextmanager
    def guard(self) -> Iterator[Batch]:
        """Close the sources when the call fails before the uploader owns them."""
        try:
            yield self
        except BaseException:  # cleanup, then re-raised untouched
            if not self.handed_off:
                self.close()
            raise


def prepare(attachments: object, mode: str, redactor: Redactor | None = None) -> Batch:
    """Check a call's attachments; a ValidationError names the first problem.

    With a PII redactor the file names are redacted, for the record and the upload alike.
    """
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if not isinstance(attachments, Sequence) or isinstance(attachments, (str, *_BYTES_LIKE)):
        raise ValidationError("attachments must be a list of dicts, paths or file objects")
    if not attachments:
        raise ValidationError("attachments must not be empty")
    if len(attachments) > MAX_FILES:
        raise ValidationError(
            f"at most {MAX_FILES} attachments per call ({len(attachments)} given)"
        )
    files: list[AttachmentFile] = []
    try:
        for index, item in enumerate(attachments):
            files.append(_file(item, index, mode))
        total = sum(f.size for f in files)
        if total > MAX_CALL_BYTES:
            raise ValidationError(
                f"attachments total {megabytes(total)}, over the limit of "
                f"{megabytes(MAX_CALL_BYTES)} per call"
            )
    except BaseException:  # cleanup, then re-raised untouched
        close_all(f.source for f in files)
        raise
    if redactor is not None:
        files = [replace(f, filename=redactor.text(f.filename)) for f in files]
    return Batch(mode, files)


def describe_attachments(attachments: object, mode: str) -> list[dict[str, Any]]:
    """``{filename, size, mime_type}`` per file, after every check (sources are released)."""
    batch = prepare(attachments, mode)
    batch.close()
    return batch.descriptors


def close_all(sources: Iterator[Source] | Sequence[Source]) -> None:
    """Close sources, each even when another fails."""
    for source in sources:
        with suppress(OSError):
            source.close()


def _file(item: object, index: int, mode: str) -> AttachmentFile:
    """One item: a dict in the seed's shape, a path, or a binary file object."""
    where = f"attachments[{index}]"
    if isinstance(item, Mapping):
        if "data" not in item:
            raise ValidationError(f"{where} has no 'data'")
        filename = _filename(item.get("filename"), where)
        mime_type = _mime_type(item.get("mime_type"), where)
        source, name = _data_source(item["data"], f"{where}['data']", mode)
        filename = filename or name
    elif isinstance(item, (str, os.PathLike)):
        mime_type = None
        source, filename = path_source(item, where)
    elif hasattr(item, "read"):
        mime_type = None
        source, filename = file_object_source(item, where)
    else:
        raise ValidationError(
            f"{where} must be a dict with 'data', a path or a binary file object, "
            f"not {type(item).__name__}"
        )
    try:
        return _finish(source, filename, mime_type, index, where)
    except BaseException:  # cleanup, then re-raised untouched
        source.close()
        raise


def _finish(
    source: Source, filename: str | None, mime_type: str | None, index: int, where: str
) -> AttachmentFile:
    """Size checks, then the missing type and name filled in."""
    if source.size > MAX_FILE_BYTES:
        raise ValidationError(
            f"{where} is {megabytes(source.size)}, over the limit of "
            f"{megabytes(MAX_FILE_BYTES)} per file"
        )
    if source.size == 0:
        raise ValidationError(f"{where} is empty (0 bytes)")
    if mime_type is None:
        mime_type = mime.detect(filename, source.head(mime.SNIFF_BYTES))
    if not filename:
        filename = f"attachment-{index + 1}{mime.suffix_for(mime_type)}"
    return AttachmentFile(filename, mime_type, source.size, source)


def _data_source(data: object, where: str, mode: str) -> tuple[Source, str | None]:
    """A source for a dict's ``data`` and the file name it implies, if any."""
    if isinstance(data, str):
        if mode != "base64":
            raise ValidationError(
                f"{where} is a str: with mode='form_data' it must be bytes or a binary file "
                "object (use mode='base64' for base64 text, or a pathlib.Path for a file)"
            )
        try:
            size, head = strict_base64_size(data)
        except ValueError as exc:
            raise ValidationError(f"{where} is not valid base64: {exc}") from None
        return Base64Source(data, size, head), None
    if isinstance(data, _BYTES_LIKE):
        if mode != "form_data":
            raise ValidationError(
                f"{where} is bytes: with mode='base64' it must be a base64 str "
                "(or use mode='form_data' to send raw bytes)"
            )
        # bytes are referenced; a mutable buffer is copied once so the caller keeps control.
        return BytesSource(data if isinstance(data, bytes) else bytes(data)), None
    if isinstance(data, os.PathLike):
        return path_source(data, where)
    if hasattr(data, "read"):
        return file_object_source(data, where)
    raise ValidationError(
        f"{where} must be {'a base64 str' if mode == 'base64' else 'bytes'}, a pathlib.Path "
        f"or a binary file object, not {type(data).__name__}"
    )


def _filename(value: object, where: str) -> str | None:
    """A caller's file name: a short single-line string, or None to generate one."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{where}['filename'] must be a string, not {type(value).__name__}")
    name = value.strip()
    if len(name) > MAX_FILENAME:
        raise ValidationError(f"{where}['filename'] is longer than {MAX_FILENAME} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValidationError(f"{where}['filename'] must not contain control characters")
    return name or None


def _mime_type(value: object, where: str) -> str | None:
    """A caller's media type (``type/subtype``), or None to detect it."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not mime.is_media_type(value.strip()):
        raise ValidationError(f"{where}['mime_type'] must look like 'type/subtype', not {value!r}")
    return value.strip()
