"""Identifiers in request paths, read from the path as sent (before percent-decoding)."""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import quote, unquote_to_bytes

from starlette.requests import Request


def split_reference(
    raw_path: bytes, prefix: bytes, resources: Collection[str] = ()
) -> tuple[str, str | None] | None:
    """(identifier, sub-resource or None) after prefix, up to the closing slash; None if none."""
    if not raw_path.startswith(prefix) or not raw_path.endswith(b"/"):
        return None
    # Split before decoding: an encoded slash (%2F) belongs to the id, a literal one does not.
    segments = raw_path[len(prefix) : -1].split(b"/")
    resource: str | None = None
    if len(segments) > 1 and segments[-1].decode("ascii", "replace") in resources:
        resource = segments.pop().decode("ascii")
    try:
        identifier = unquote_to_bytes(b"/".join(segments)).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return (identifier, resource) if identifier else None


def raw_path(request: Request) -> bytes:
    """The request path as sent, before percent-decoding."""
    raw = request.scope.get("raw_path")
    return raw if isinstance(raw, bytes) else quote(request.url.path).encode("ascii")
