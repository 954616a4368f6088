"""Where a spooled body may go: a fingerprint of the endpoint and API key it was accepted for.

A body is only ever sent to the endpoint, under the key, it was spooled for. The fingerprint is
the first 16 hex digits of SHA-256 over a fixed label, the normalised endpoint and the key: it
holds no part of the key, and the key's 128 random bits make recovering it from the hash
hopeless, yet two endpoints or two keys get different fingerprints.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from agentsight_otel._checks import ApiKey

_LABEL = b"agentsight-otel spool destination v1\0"
_DEFAULT_PORTS = {"http": 80, "https": 443}
LENGTH = 16


def normalized_endpoint(endpoint: str) -> str:
    """``scheme://host[:port]/path``: case, a default port and trailing slashes do not count."""
    parts = urlsplit(endpoint.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def destination_id(endpoint: str, api_key: ApiKey | None) -> str:
    """The fingerprint of an endpoint and key (no key: the endpoint's own)."""
    secret = api_key.reveal() if api_key is not None else ""
    digest = hashlib.sha256(_LABEL)
    digest.update(normalized_endpoint(endpoint).encode("utf-8"))
    digest.update(b"\0")
    digest.update(secret.encode("utf-8"))
    return digest.hexdigest()[:LENGTH]
