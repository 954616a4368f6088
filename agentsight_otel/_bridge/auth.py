"""The bridge token: ``Authorization: Bearer <token>`` on HTTP, the same metadata on gRPC."""

from __future__ import annotations

import hmac


def authorized(header: str | None, token: str | None) -> bool:
    """Whether a request may pass: always without a configured token, else a matching Bearer."""
    if token is None:
        return True
    if not header:
        return False
    scheme, _, presented = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Constant time, so the token cannot be guessed byte by byte from response times.
    return hmac.compare_digest(presented.strip().encode("utf-8"), token.encode("utf-8"))
