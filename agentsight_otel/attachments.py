"""Checking attachment input and describing files (name, size, type) for the span record."""

from __future__ import annotations

import base64
import binascii
import mimetypes
from collections.abc import Mapping, Sequence
from typing import Any

from agentsight_otel.exceptions import ValidationError

MODES = ("base64", "form_data")
MAX_FILES = 10


def describe_attachments(attachments: object, mode: str) -> list[dict[str, Any]]:
    """``{filename, size, mime_type}`` per file, or a ValidationError naming the problem."""
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if not isinstance(attachments, Sequence) or isinstance(attachments, (str, bytes)):
        raise ValidationError("attachments must be a list of dicts")
    if not attachments:
        raise ValidationError("attachments must not be empty")
    if len(attachments) > MAX_FILES:
        raise ValidationError(
            f"at most {MAX_FILES} attachments per call ({len(attachments)} given)"
        )
    return [_describe(item, index, mode) for index, item in enumerate(attachments)]


def _describe(item: object, index: int, mode: str) -> dict[str, Any]:
    """One file's descriptor."""
    if not isinstance(item, Mapping):
        raise ValidationError(f"attachments[{index}] must be a dict")
    if "data" not in item:
        raise ValidationError(f"attachments[{index}] has no 'data'")
    size = _size(item["data"], index, mode)
    filename = item.get("filename") or f"attachment-{index + 1}"
    if not isinstance(filename, str):
        raise ValidationError(f"attachments[{index}]['filename'] must be a string")
    mime = item.get("mime_type") or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return {"filename": filename, "size": size, "mime_type": mime}


def _size(data: object, index: int, mode: str) -> int:
    """Decoded size in bytes; base64 is checked strictly."""
    if mode == "base64":
        if not isinstance(data, str):
            raise ValidationError(f"attachments[{index}]['data'] must be a base64 string")
        try:
            return len(base64.b64decode(data, validate=True))
        except (binascii.Error, ValueError):
            raise ValidationError(f"attachments[{index}]['data'] is not valid base64") from None
    if isinstance(data, (bytes, bytearray, memoryview)):
        return len(data)
    raise ValidationError(f"attachments[{index}]['data'] must be bytes in form_data mode")
