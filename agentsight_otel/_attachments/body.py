"""``POST /api/attachments/`` bodies, streamed: JSON with base64 data, or multipart/form-data.

A body is a list of parts (small byte strings and file streams) with a known total length;
iterating it again starts over, so a retry re-reads the sources instead of holding a copy.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from agentsight_otel._attachments.normalize import AttachmentFile
from agentsight_otel._attachments.sources import Base64Source, base64_length


@dataclass(frozen=True, slots=True)
class Stream:
    """A part read from a source when the body is sent."""

    length: int
    chunks: Callable[[], Iterator[bytes]]


Part = bytes | Stream


class LengthMismatch(OSError):
    """A source produced more or fewer bytes than the body announced."""


class UploadBody:
    """A re-iterable request body with a Content-Length and a Content-Type."""

    def __init__(self, parts: Sequence[Part], content_type: str) -> None:
        self.parts = list(parts)
        self.content_type = content_type
        self._length = sum(len(p) if isinstance(p, bytes) else p.length for p in self.parts)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        for part in self.parts:
            if isinstance(part, bytes):
                yield part
                continue
            sent = 0
            for chunk in part.chunks():
                sent += len(chunk)
                if sent > part.length:
                    raise LengthMismatch("a file grew while it was being uploaded")
                yield chunk
            if sent != part.length:
                raise LengthMismatch("a file shrank while it was being uploaded")


@dataclass(frozen=True, slots=True)
class Fields:
    """The form fields of one upload, as the contract names them."""

    conversation: str
    timestamp: str
    sender: str
    metadata: str  # a JSON object, as text
    message: str | None = None


def json_body(fields: Fields, files: Sequence[AttachmentFile]) -> UploadBody:
    """``{"conversation", "timestamp", "mode": "base64", "sender", "metadata", "attachments"}``."""
    head = {
        "conversation": fields.conversation,
        "timestamp": fields.timestamp,
        "mode": "base64",
        "sender": fields.sender,
    }
    if fields.message is not None:
        head["message"] = fields.message
    opening = json.dumps(head)[:-1] + f', "metadata": {fields.metadata}, "attachments": ['
    parts: list[Part] = [opening.encode("utf-8")]
    for index, file in enumerate(files):
        described = json.dumps(file.filename), json.dumps(file.mime_type)
        entry = '%s{"filename": %s, "mime_type": %s, "data": "' % (
            ", " if index else "",
            *described,
        )
        source = file.source
        length = (
            source.encoded_length
            if isinstance(source, Base64Source)
            else base64_length(source.size)
        )
        parts += [entry.encode("ascii"), Stream(length, source.base64_chunks), b'"}']
    parts.append(b"]}")
    return UploadBody(parts, "application/json")


def multipart_body(
    fields: Fields, files: Sequence[AttachmentFile], boundary: str | None = None
) -> UploadBody:
    """The older SDK's form: fields, ``mode=form_data``, then ``attachment_0..N`` file parts."""
    boundary = boundary or f"agentsight-{uuid.uuid4().hex}"
    values = {
        "conversation": fields.conversation,
        "timestamp": fields.timestamp,
        "mode": "form_data",
        "sender": fields.sender,
        "metadata": fields.metadata,
    }
    if fields.message is not None:
        values["message"] = fields.message
    parts: list[Part] = []
    for name, value in values.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode("utf-8")
            + b"\r\n"
        )
    for index, file in enumerate(files):
        header = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="attachment_{index}"; '
            f'filename="{quote(file.filename)}"\r\nContent-Type: {file.mime_type}\r\n\r\n'
        )
        parts += [header.encode("utf-8"), Stream(file.size, file.source.raw_chunks), b"\r\n"]
    parts.append(f"--{boundary}--\r\n".encode())
    return UploadBody(parts, f"multipart/form-data; boundary={boundary}")


def quote(filename: str) -> str:
    """A file name inside a quoted header parameter (names never hold control characters)."""
    return filename.replace("\\", "\\\\").replace('"', '\\"')
