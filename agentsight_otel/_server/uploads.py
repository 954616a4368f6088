"""``POST /api/attachments/``: files in JSON (base64) or multipart, to disk under hard limits.

The limits are AgentSight's (25 MiB a file, 10 files and 40 MiB a request; past them 413),
checked on the bytes received, never on sizes the client declares. A multipart file is
hashed and written to disk as it streams; a JSON body is read whole (it is capped) and decoded
strictly. Files move to their content address only once the whole request is accepted.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agentsight_otel._attachments.limits import MAX_CALL_BYTES, MAX_FILE_BYTES, MAX_FILES, MIB
from agentsight_otel._bodies import BodyError
from agentsight_otel._semconv import MESSAGE_ID
from agentsight_otel._server.blobs import OCTET_STREAM, BlobStore, IncomingFile
from agentsight_otel._server.body import read_body
from agentsight_otel._server.multipart import boundary_of, receive_form
from agentsight_otel._server.numbers import SQLITE_MAX, whole_number
from agentsight_otel._server.validation import loads_strict, parse_timestamp

if TYPE_CHECKING:
    from agentsight_otel._server.store import Store

# Room for the fields and JSON punctuation around 40 MiB of files.
JSON_BODY_LIMIT = 4 * ((MAX_CALL_BYTES + 2) // 3) + MIB
SENDERS = ("end_user", "agent")


@dataclass(frozen=True)
class NewUpload:
    """A validated upload, ready to store."""

    conversation: int
    message: int | None
    message_ref: str | None
    sender: str
    mode: str
    metadata: dict[str, Any]
    timestamp: str


class UnknownReference(LookupError):
    """The conversation or message an upload names does not exist (where it must)."""

    def __init__(self, field: str) -> None:
        """Name the field."""
        super().__init__(field)
        self.field = field


async def receive_upload(request: Request, store: Store) -> Response:
    """Receive, validate and store one upload; 201 with what was stored."""
    encoding = (request.headers.get("content-encoding") or "").strip().lower()
    if encoding not in ("", "identity"):
        raise BodyError(415, "Attachment uploads must not be Content-Encoded.")
    declared = request.headers.get("content-type") or "application/json"
    media = declared.split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        fields, files = await receive_form(request, store.blobs, boundary_of(declared))
        mode = "form_data"
    elif media == "application/json":
        raw = await read_body(request, JSON_BODY_LIMIT)
        fields, files = await run_in_threadpool(_json_upload, raw, store.blobs)
        mode = "base64"
    else:
        raise BodyError(415, "Content-Type must be application/json or multipart/form-data.")
    try:
        upload, errors = validated(fields, mode)
        if upload is None:
            return JSONResponse({"detail": "Invalid upload.", "errors": errors}, 400)
        record = await run_in_threadpool(store.add_upload, upload, files)
    except UnknownReference as missing:
        if missing.field == "message":
            return JSONResponse({"detail": "Message not found."}, 404)
        errors = {"conversation": [f'Invalid pk "{fields.get("conversation")}" - no such object.']}
        return JSONResponse({"detail": "Invalid upload.", "errors": errors}, 400)
    finally:
        for file in files:
            file.writer.discard()  # a no-op for committed files
    return JSONResponse(record, 201)


def validated(
    fields: Mapping[str, object], mode: str
) -> tuple[NewUpload | None, dict[str, list[str]]]:
    """The upload the fields describe, or the field errors (DRF's shape)."""
    errors: dict[str, list[str]] = {}
    conversation = _pk(fields.get("conversation"))
    if conversation is None:
        errors["conversation"] = ["A conversation pk is required."]
    sender = fields.get("sender")
    if sender not in SENDERS:
        errors["sender"] = [f'"{sender}" is not a valid choice.']
    if fields.get("mode", mode) != mode:
        errors["mode"] = [f"This body can only carry mode {mode!r}."]
    metadata = _metadata(fields.get("metadata"), errors)
    stamp = fields.get("timestamp")
    when = datetime.now(timezone.utc) if stamp in (None, "") else parse_timestamp(stamp)
    if when is None:
        errors["timestamp"] = ["Not an ISO-8601 timestamp with a UTC offset."]
    message = fields.get("message")
    message_pk = None if message in (None, "") else _pk(message)
    if message not in (None, "") and message_pk is None:
        errors["message"] = ["A message pk is expected."]
    if errors or conversation is None or when is None:
        return None, errors
    reference = metadata.get(MESSAGE_ID)
    return NewUpload(
        conversation,
        message_pk,
        reference if isinstance(reference, str) else None,
        str(sender),
        mode,
        metadata,
        when.isoformat(),
    ), {}


def _pk(value: object) -> int | None:
    """A positive integer pk SQLite can hold, given as an int or a string of digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 < value <= SQLITE_MAX else None
    if isinstance(value, str):
        return whole_number(value.strip()) or None
    return None


def _metadata(value: object, errors: dict[str, list[str]]) -> dict[str, Any]:
    """An object, given as one (JSON) or as JSON text (multipart)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = loads_strict(value)
        except ValueError:
            value = None
    if not isinstance(value, dict):
        errors["metadata"] = ["A JSON object is expected."]
        return {}
    return value


def _json_upload(raw: bytes, blobs: BlobStore) -> tuple[dict[str, object], list[IncomingFile]]:
    """Fields and decoded files of a JSON body."""
    try:
        body = loads_strict(raw)
    except ValueError as exc:
        raise BodyError(400, "The body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise BodyError(400, "The body must be a JSON object.")
    items = body.get("attachments")
    if not isinstance(items, list) or not items:
        raise BodyError(400, "attachments: a non-empty list of files is required.")
    if len(items) > MAX_FILES:
        raise BodyError(413, f"At most {MAX_FILES} files per request.")
    files: list[IncomingFile] = []
    try:
        total = 0
        for index, item in enumerate(items):
            data = _decoded(item, index)
            total += len(data)
            if total > MAX_CALL_BYTES:
                raise BodyError(413, f"Files exceed {MAX_CALL_BYTES} bytes per request.")
            writer = blobs.writer()
            files.append(
                IncomingFile(item["filename"], item.get("mime_type") or OCTET_STREAM, writer)
            )
            writer.write(data)
            writer.finish()
    except BaseException:  # cleanup, then re-raised untouched
        for file in files:
            file.writer.discard()
        raise
    return {k: v for k, v in body.items() if k != "attachments"}, files


def _decoded(item: object, index: int) -> bytes:
    """One JSON file's bytes, strictly decoded and within the per-file limit."""
    where = f"attachments[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("data"), str):
        raise BodyError(400, f"{where}: an object with base64 'data' is required.")
    if not isinstance(item.get("filename"), str) or not item["filename"].strip():
        raise BodyError(400, f"{where}: a filename is required.")
    if not isinstance(item.get("mime_type", ""), str):
        raise BodyError(400, f"{where}: mime_type must be a string.")
    text: str = item["data"]
    if len(text) > 4 * ((MAX_FILE_BYTES + 2) // 3):
        raise BodyError(413, f"{where}: files are limited to {MAX_FILE_BYTES} bytes.")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BodyError(400, f"{where}: data is not valid base64.") from exc
    if len(data) > MAX_FILE_BYTES:
        raise BodyError(413, f"{where}: files are limited to {MAX_FILE_BYTES} bytes.")
    if not data:
        raise BodyError(400, f"{where}: the submitted file is empty.")
    return data
