"""Stored file bytes as a response: shown inline only when a raster image, else downloaded."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.responses import FileResponse

from agentsight_otel._attachments.mime import OCTET_STREAM, essence, shown_inline, suffix_for

MAX_FILENAME = 200
# Path separators and what Windows refuses in a name; a browser saving the file sees none.
_RESERVED = re.compile(r'[/\\<>:"|?*]')


def file_response(path: Path, record: Mapping[str, Any]) -> FileResponse:
    """The bytes at path under record's name: inline for a raster image, an attachment otherwise.

    The sender's media type is never echoed: an image goes out as its essence, anything else
    as application/octet-stream, so no declared type can make a browser run the file.
    """
    declared = str(record.get("mime_type") or "")
    inline = shown_inline(declared)
    return FileResponse(
        path,
        media_type=essence(declared) if inline else OCTET_STREAM,
        filename=safe_filename(str(record.get("filename") or ""), declared),
        content_disposition_type="inline" if inline else "attachment",
    )


def safe_filename(name: str, mime: str) -> str:
    """name's last path part without control, format or reserved characters; never empty."""
    last = re.split(r"[/\\]", name)[-1]
    kept = "".join(c for c in last if c == " " or unicodedata.category(c)[0] not in "CZ")
    cleaned = _RESERVED.sub("_", kept).strip(" .")[:MAX_FILENAME]
    return cleaned or f"file{suffix_for(mime)}"
