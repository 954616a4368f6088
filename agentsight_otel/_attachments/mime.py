"""Media types: from the file's first bytes (magic numbers), from its name, and back to a suffix."""

from __future__ import annotations

import mimetypes
import re

SNIFF_BYTES = 512
OCTET_STREAM = "application/octet-stream"
TEXT = "text/plain"
ZIP = "application/zip"

_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", ZIP),
    (b"PK\x05\x06", ZIP),
    (b"PK\x07\x08", ZIP),
)
_SUFFIXES = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    ZIP: ".zip",
    TEXT: ".txt",
    "application/json": ".json",
    "text/csv": ".csv",
    "text/markdown": ".md",
    OCTET_STREAM: ".bin",
}
# The only types a browser is asked to show: raster images, which cannot carry script.
_INLINE = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"}
)
_OPENXML = "application/vnd.openxmlformats-officedocument"
_BY_SUFFIX = {suffix: mime for mime, suffix in _SUFFIXES.items()} | {
    ".jpeg": "image/jpeg",
    ".text": TEXT,
    ".log": TEXT,
    # ZIP containers Python's built-in table does not know.
    ".docx": f"{_OPENXML}.wordprocessingml.document",
    ".xlsx": f"{_OPENXML}.spreadsheetml.sheet",
    ".pptx": f"{_OPENXML}.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".epub": "application/epub+zip",
}
# Only Python's built-in table, so detection does not depend on the machine's mime.types.
_BUILTIN = mimetypes.MimeTypes(filenames=())
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
_TOKEN = r"[A-Za-z0-9][\w!#$&^.+-]{0,126}"
_MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|\"[^\"\\\x00-\x1f\x7f]*\"))*",
    re.ASCII,
)


def sniff(head: bytes) -> str | None:
    """The type the first bytes announce: a magic number, else plain text; None when unsure."""
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return TEXT if head and _looks_like_text(head) else None


def from_name(filename: str | None) -> str | None:
    """The type a file name's suffix implies, if any."""
    if not filename:
        return None
    dot = filename.rfind(".")
    if dot >= 0 and filename[dot:].lower() in _BY_SUFFIX:
        return _BY_SUFFIX[filename[dot:].lower()]
    return _BUILTIN.guess_type(filename, strict=False)[0]


def detect(filename: str | None, head: bytes) -> str:
    """A missing media type from the name and the content.

    A binary signature wins over the name (a PNG named ``.jpg`` is a PNG), except that ZIP
    containers (docx, xlsx, epub ...) keep the more specific type their name gives; text
    content takes the name's type (``.csv``, ``.json``) and is ``text/plain`` otherwise.
    """
    content, named = sniff(head), from_name(filename)
    if content is not None and content not in (TEXT, ZIP):
        return content
    if named is not None:
        return named
    return content or OCTET_STREAM


def essence(mime: str) -> str:
    """A media type without parameters or whitespace, lower-cased: ``image/png``."""
    return "".join(mime.split(";", 1)[0].split()).lower()


def shown_inline(mime: str) -> bool:
    """Whether a stored file may be displayed by a browser (raster images) or only downloaded."""
    return essence(mime) in _INLINE


def suffix_for(mime: str) -> str:
    """The file suffix for a media type, ``.bin`` when there is no usual one."""
    base = essence(mime)
    return _SUFFIXES.get(base) or _BUILTIN.guess_extension(base, strict=False) or ".bin"


def is_media_type(value: str) -> bool:
    """Whether a caller's ``mime_type`` looks like ``type/subtype`` (no header injection)."""
    return len(value) <= 255 and bool(_MEDIA_TYPE.fullmatch(value))


def _looks_like_text(head: bytes) -> bool:
    """UTF-8 (a sequence cut at the end of the window allowed) without control characters."""
    if _CONTROL.search(head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character split by the sniff window is still text.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True
