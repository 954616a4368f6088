"""API-key authentication: parse the Authorization header and judge the key, never echoing it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SCHEME = "api-key"
_KEY = re.compile(r"ags_[0-9a-f]{32}_[0-9a-f]{6}", re.IGNORECASE)


@dataclass(frozen=True)
class AuthFailure:
    """Why a request was refused; detail never contains the key."""

    status: int
    detail: str


def is_valid_key(key: str) -> bool:
    """Whether a key has the AgentSight shape: ags_ + 32 hex + _ + 6 hex, any case."""
    return _KEY.fullmatch(key) is not None


def accepted_keys(keys: Iterable[str] | None) -> frozenset[str] | None:
    """The configured keys, lower-cased; None means any well-formed key is accepted."""
    if keys is None:
        return None
    normalized = frozenset(key.strip().lower() for key in keys)
    if not all(is_valid_key(key) for key in normalized):
        raise ValueError("api_keys: every key must look like ags_<32 hex>_<6 hex>")
    return normalized


def check_authorization(header: str | None, accepted: frozenset[str] | None) -> AuthFailure | None:
    """None when the header carries an acceptable key, otherwise the refusal to send."""
    parts = (header or "").split()
    if not parts:
        return AuthFailure(401, "Authentication credentials were not provided.")
    # Auth schemes are case-insensitive (RFC 9110 section 11.1).
    if parts[0].lower() != SCHEME:
        return AuthFailure(401, "Use the 'Authorization: Api-Key <key>' scheme.")
    if len(parts) != 2:
        return AuthFailure(401, "Invalid Api-Key header: expected exactly one key.")
    key = parts[1].lower()
    if not is_valid_key(key):
        return AuthFailure(403, "Malformed API key.")
    if accepted is not None and key not in accepted:
        return AuthFailure(403, "Unknown API key.")
    return None
