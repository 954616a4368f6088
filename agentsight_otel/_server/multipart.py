"""Streaming multipart/form-data: a parser (bytes in, part events out) and the upload form.

Nothing is buffered beyond one chunk and a boundary's length, so a 25 MB file part goes to
disk as it streams; part headers are capped. (Starlette's ``request.form()`` needs
``python-multipart``, which this project does not depend on.)
"""

from __future__ import annotations

import email.message
import email.parser
import email.utils
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request

from agentsight_otel._attachments.limits import MAX_CALL_BYTES, MAX_FILE_BYTES, MAX_FILES, MIB
from agentsight_otel._server.blobs import OCTET_STREAM, BlobStore, IncomingFile
from agentsight_otel._server.body import DRAIN_FACTOR, BodyError, too_large

MAX_HEADER_BYTES = 16 * 1024
MULTIPART_BODY_LIMIT = MAX_CALL_BYTES + MIB  # the files, plus room for fields and framing
FIELD_LIMIT = 256 * 1024
_PREAMBLE, _AFTER_DELIMITER, _HEADERS, _BODY, _DONE = range(5)


@dataclass(frozen=True)
class PartStart:
    """A part begins: its form name, file name (for files) and declared type."""

    name: str
    filename: str | None
    content_type: str | None


@dataclass(frozen=True)
class PartData:
    """Some of the current part's bytes."""

    data: bytes


@dataclass(frozen=True)
class PartEnd:
    """The current part is complete."""


Event = PartStart | PartData | PartEnd


def boundary_of(content_type: str) -> bytes:
    """The boundary parameter of a multipart/form-data Content-Type, or BodyError(400)."""
    message = email.message.Message()
    message["content-type"] = content_type
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 0 < len(boundary) <= 70:
        raise BodyError(400, "The multipart body has no usable boundary.")
    return boundary.encode("latin-1")


class MultipartParser:
    """Feed chunks, get events; ``close`` checks the body ended properly."""

    def __init__(self, boundary: bytes) -> None:
        """Parse a body delimited by ``boundary``."""
        self._delimiter = b"--" + boundary
        self._separator = b"\r\n--" + boundary
        self._buffer = bytearray()
        self._state = _PREAMBLE

    def feed(self, data: bytes) -> list[Event]:
        """The events the new bytes complete."""
        self._buffer += data
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def close(self) -> None:
        """BodyError(400) unless the closing boundary was seen."""
        if self._state != _DONE:
            raise BodyError(400, "The multipart body is truncated.")

    def _step(self, events: list[Event]) -> bool:
        """Advance one state; False when more bytes are needed."""
        buffer = self._buffer
        if self._state == _BODY:
            return self._body(events)
        if self._state == _PREAMBLE:
            index = buffer.find(self._delimiter)
            if index < 0:
                del buffer[: max(0, len(buffer) - len(self._delimiter))]
                return False
            del buffer[: index + len(self._delimiter)]
            self._state = _AFTER_DELIMITER
            return True
        if self._state == _AFTER_DELIMITER:
            return self._after_delimiter()
        if self._state == _HEADERS:
            return self._headers(events)
        buffer.clear()  # the epilogue after the closing boundary is ignored
        return False

    def _after_delimiter(self) -> bool:
        """``--`` closes the body; otherwise optional padding and CRLF open a part."""
        buffer = self._buffer
        if len(buffer) < 2:
            return False
        if buffer[:2] == b"--":
            self._state = _DONE
            return True
        end = buffer.find(b"\r\n")
        if end < 0:
            if len(buffer) > 256:
                raise BodyError(400, "The multipart body is malformed.")
            return False
        if buffer[:end].strip(b" \t"):
            raise BodyError(400, "The multipart body is malformed.")
        del buffer[: end + 2]
        self._state = _HEADERS
        return True

    def _headers(self, events: list[Event]) -> bool:
        """A part's header block, up to the blank line."""
        buffer = self._buffer
        if buffer[:2] == b"\r\n":
            block, skip = b"", 2
        else:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEADER_BYTES:
                    raise BodyError(400, "A multipart part's headers are too large.")
                return False
            block, skip = bytes(buffer[:end]), end + 4
        del buffer[:skip]
        events.append(_part_start(block))
        self._state = _BODY
        return True

    def _body(self, events: list[Event]) -> bool:
        """Part bytes up to the next boundary; a possible boundary prefix is held back."""
        buffer = self._buffer
        index = buffer.find(self._separator)
        if index >= 0:
            if index:
                events.append(PartData(bytes(buffer[:index])))
            del buffer[: index + len(self._separator)]
            events.append(PartEnd())
            self._state = _AFTER_DELIMITER
            return True
        keep = len(self._separator) - 1
        if len(buffer) > keep:
            events.append(PartData(bytes(buffer[:-keep])))
            del buffer[:-keep]
        return False


def _part_start(block: bytes) -> PartStart:
    """Name, file name and type from a part's headers (RFC 7578; quoted names unescaped)."""
    headers = email.parser.HeaderParser().parsestr(block.decode("utf-8", "replace"))
    disposition = headers.get("content-disposition")
    if disposition is None or disposition.split(";", 1)[0].strip().lower() != "form-data":
        raise BodyError(400, "Every multipart part needs Content-Disposition: form-data.")
    name = headers.get_param("name", header="content-disposition")
    if name is None:
        raise BodyError(400, "A multipart part has no name.")
    filename = headers.get_filename()
    declared = headers.get("content-type")
    return PartStart(
        email.utils.collapse_rfc2231_value(name),
        filename,
        headers.get_content_type() if declared else None,
    )


async def receive_form(
    request: Request, blobs: BlobStore, boundary: bytes
) -> tuple[dict[str, object], list[IncomingFile]]:
    """Fields and files of a multipart body, files streamed to disk as they arrive."""
    drain_cap = MULTIPART_BODY_LIMIT * DRAIN_FACTOR
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > drain_cap:
        raise too_large(MULTIPART_BODY_LIMIT)
    parser, form = MultipartParser(boundary), _Form(blobs)
    received, failure = 0, None
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if failure is None and received > MULTIPART_BODY_LIMIT:
                failure = too_large(MULTIPART_BODY_LIMIT)
            if failure is not None:
                # Read (and drop) the rest so the client gets the answer, not a reset.
                if received > drain_cap:
                    break
                continue
            try:
                for event in parser.feed(chunk):
                    form.handle(event)
            except BodyError as exc:
                failure = exc
        if failure is None:
            parser.close()
    except ClientDisconnect as exc:
        failure = BodyError(400, "The client disconnected before sending the whole body.")
        failure.__cause__ = exc
    except BaseException:  # cleanup, then re-raised untouched
        form.discard()
        raise
    if failure is not None:
        form.discard()
        raise failure
    return form.fields, form.files


class _Form:
    """Collects a multipart body's fields (capped) and files (to disk, capped)."""

    def __init__(self, blobs: BlobStore) -> None:
        """Nothing received yet."""
        self._blobs = blobs
        self.fields: dict[str, object] = {}
        self.files: list[IncomingFile] = []
        self._field: tuple[str, bytearray] | None = None
        self._file: IncomingFile | None = None
        self._total = 0

    def handle(self, event: PartStart | PartData | PartEnd) -> None:
        """Route one parser event."""
        if isinstance(event, PartStart):
            self._start(event)
        elif isinstance(event, PartData):
            self._data(event.data)
        else:
            self._end()

    def _start(self, part: PartStart) -> None:
        """A file part opens a blob; any other part collects a small field."""
        if part.filename is None:
            self._field = (part.name, bytearray())
            return
        if len(self.files) >= MAX_FILES:
            raise BodyError(413, f"At most {MAX_FILES} files per request.")
        name = part.filename.strip() or f"attachment-{len(self.files) + 1}"
        self._file = IncomingFile(name, part.content_type or OCTET_STREAM, self._blobs.writer())
        self.files.append(self._file)

    def _data(self, data: bytes) -> None:
        """Bytes of the open part, against the limits."""
        if self._file is not None:
            self._total += len(data)
            if self._file.writer.size + len(data) > MAX_FILE_BYTES:
                raise BodyError(413, f"Files are limited to {MAX_FILE_BYTES} bytes.")
            if self._total > MAX_CALL_BYTES:
                raise BodyError(413, f"Files exceed {MAX_CALL_BYTES} bytes per request.")
            self._file.writer.write(data)
        elif self._field is not None:
            self._field[1].extend(data)
            if len(self._field[1]) > FIELD_LIMIT:
                raise BodyError(413, f"Form field {self._field[0]!r} is too large.")

    def _end(self) -> None:
        """Close the open part."""
        if self._file is not None:
            self._file.writer.finish()
            if not self._file.writer.size:
                raise BodyError(400, "The submitted file is empty.")
            self._file = None
        elif self._field is not None:
            name, value = self._field
            try:
                self.fields[name] = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BodyError(400, f"Form field {name!r} is not UTF-8.") from exc
            self._field = None

    def discard(self) -> None:
        """Drop every file received."""
        for file in self.files:
            file.writer.discard()
