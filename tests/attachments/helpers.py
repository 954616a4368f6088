"""Shared helpers: sample files, parsed upload requests, descriptor counts."""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentsight_otel._server.multipart import (
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_of,
)
from agentsight_otel.testing import RecordedRequest, ScriptedTransport

UPLOADS = "/api/attachments/"
UPSERTS = "/api/conversations/"


def pdf_bytes(size: int = 4000) -> bytes:
    """A small PDF-looking file (the signature is what matters), deterministic."""
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + _filler(size, 1)


def png_bytes(size: int = 6000) -> bytes:
    """A PNG signature and an IHDR chunk, then deterministic bytes."""
    ihdr = b"\x00\x00\x00\x0dIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + ihdr + _filler(size, 2)


def _filler(size: int, seed: int) -> bytes:
    """Deterministic binary bytes (a repeated checksum stream)."""
    out = bytearray()
    value = seed
    while len(out) < size:
        value = zlib.crc32(value.to_bytes(4, "little"))
        out += value.to_bytes(4, "little")
    return bytes(out[:size])


def sparse_file(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that costs no disk or memory (a hole), starting with %PDF."""
    with open(path, "wb") as handle:
        handle.write(b"%PDF-1.4\n")
        handle.truncate(size)
    return path


def open_fds() -> int:
    """How many file descriptors this process holds (Linux)."""
    return len(os.listdir("/proc/self/fd"))


@dataclass
class Upload:
    """One parsed POST /api/attachments/ request."""

    content_type: str
    fields: dict[str, Any]
    files: list[dict[str, Any]] = field(default_factory=list)


def parse_upload(request: RecordedRequest) -> Upload:
    """A recorded upload, JSON or multipart, as fields and files (bytes decoded)."""
    content_type = request.headers["Content-Type"]
    body = request.body or b""
    if content_type == "application/json":
        import base64

        document = json.loads(body)
        files = [
            {**f, "data": base64.b64decode(f["data"], validate=True)}
            for f in document.pop("attachments")
        ]
        return Upload(content_type, document, files)
    return parse_multipart(body, content_type)


def parse_multipart(body: bytes, content_type: str, step: int = 65536) -> Upload:
    """A multipart body through the local server's streaming parser, ``step`` bytes at a time."""
    parser = MultipartParser(boundary_of(content_type))
    upload = Upload(content_type, {})
    current: dict[str, Any] | None = None
    for start in range(0, len(body), step):
        for event in parser.feed(body[start : start + step]):
            if isinstance(event, PartStart):
                current = {
                    "name": event.name,
                    "filename": event.filename,
                    "mime_type": event.content_type,
                    "data": bytearray(),
                }
            elif isinstance(event, PartData):
                assert current is not None
                current["data"] += event.data
            elif isinstance(event, PartEnd):
                assert current is not None
                current["data"] = bytes(current["data"])
                if current["filename"] is None:
                    upload.fields[current["name"]] = current["data"].decode()
                else:
                    upload.files.append(current)
                current = None
    parser.close()
    return upload


def uploads(transport: ScriptedTransport) -> list[Upload]:
    """Every upload request the transport saw, parsed."""
    return [parse_upload(r) for r in transport.requests if r.path == UPLOADS]


def paths(transport: ScriptedTransport) -> list[str]:
    """The request paths in order, without the capability check."""
    return [r.path for r in transport.requests if r.path != "/api/me/"]
