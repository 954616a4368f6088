"""Streaming multipart/form-data: python-multipart frames the parts; events out, the upload form.

python-multipart (Starlette's own form parser) finds the boundaries as bytes stream past, so a
25 MB file part goes to disk as it arrives. Kept here: the preamble before the first boundary,
RFC 7578 part headers (RFC 2231 names too, which python-multipart ignores), a cap on each part's
header block, and the upload's limits per file, per request and on the number of files.
"""

from __future__ import annotations

import email.message
import email.parser
import email.utils
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser as _Framing
from starlette.requests import Request

from agentsight_otel._attachments.limits import MAX_CALL_BYTES, MAX_FILE_BYTES, MAX_FILES, MIB
from agentsight_otel._bodies import DRAIN_FACTOR, BodyError, capped_chunks, too_large
from agentsight_otel._server.blobs import OCTET_STREAM, BlobStore, IncomingFile

MAX_HEADER_BYTES = 16 * 1024
MULTIPART_BODY_LIMIT = MAX_CALL_BYTES + MIB  # the files, plus room for fields and framing
FIELD_LIMIT = 256 * 1024


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
        self._preamble: bytearray | None = bytearray()  # None once the first delimiter is seen
        self._events: list[Event] = []
        self._name, self._value, self._block = bytearray(), bytearray(), bytearray()
        self._done = False
        callbacks = {
            "on_part_begin": self._block.clear,
            "on_header_field": lambda data, start, end: self._header(self._name, data[start:end]),
            "on_header_value": lambda data, start, end: self._header(self._value, data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": lambda: self._events.append(PartEnd()),
            "on_end": self._end,
        }
        # The block cap is ours (below); the framing's own header caps never bite before it.
        self._framing = _Framing(
            boundary,
            callbacks,  # type: ignore[arg-type]
            max_header_count=MAX_HEADER_BYTES,
            max_header_size=MAX_HEADER_BYTES,
        )

    def feed(self, data: bytes) -> list[Event]:
        """The events the new bytes complete."""
        if self._preamble is not None:
            data = self._past_preamble(data)
        try:
            self._framing.write(data)
        except MultipartParseError as exc:
            raise BodyError(400, "The multipart body is malformed.") from exc
        events, self._events = self._events, []
        return events

    def close(self) -> None:
        """BodyError(400) unless the closing boundary was seen."""
        if not self._done:
            raise BodyError(400, "The multipart body is truncated.")

    def _past_preamble(self, data: bytes) -> bytes:
        """The bytes from the first delimiter on (empty until it arrives)."""
        assert self._preamble is not None
        buffer = self._preamble
        buffer += data
        index = buffer.find(self._delimiter)
        if index < 0:
            del buffer[: max(0, len(buffer) - len(self._delimiter))]
            return b""
        self._preamble = None
        return bytes(buffer[index:])

    def _header(self, into: bytearray, data: bytes) -> None:
        """Part of a header's name or value; the part's header block is capped."""
        into += data
        if len(self._block) + len(self._name) + len(self._value) > MAX_HEADER_BYTES:
            raise BodyError(400, "A multipart part's headers are too large.")

    def _header_end(self) -> None:
        """A header line is complete."""
        self._block += self._name + b": " + self._value + b"\r\n"
        self._name.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        """The part's headers are all in: the part starts."""
        self._events.append(_part_start(bytes(self._block)))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        """Some of the part's bytes."""
        self._events.append(PartData(data[start:end]))

    def _end(self) -> None:
        """The closing boundary."""
        self._done = True


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
    failure: BodyError | None = None
    chunks = capped_chunks(request.stream(), MULTIPART_BODY_LIMIT, drain_to=drain_cap)
    try:
        async for chunk in chunks:
            if failure is not None:
                continue  # read (and drop) the rest so the client gets the answer, not a reset
            try:
                for event in parser.feed(chunk):
                    form.handle(event)
            except BodyError as exc:
                failure = exc
        if failure is None:
            parser.close()
    except BodyError as exc:
        failure = failure or exc
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
