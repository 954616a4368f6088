"""What the backend says it supports (``GET /api/me/``), asked again until it answers."""

from __future__ import annotations

from agentsight_otel._delivery.client import IngestClient
from agentsight_otel._mapping.payload import DEFAULT_ENVIRONMENTS

RETRY_INTERVAL_S = 300.0


class BackendCapabilities:
    """Gzip support and the backend's environment slugs, learned once it answers."""

    def __init__(self, client: IngestClient) -> None:
        self._client = client
        self.gzip = client.settings.compression == "gzip"
        self.environments = DEFAULT_ENVIRONMENTS
        self._learned = False
        self._next_try: float | None = None

    def refresh(self) -> None:
        """Ask ``/api/me/`` unless it already answered; after a failure, wait before asking."""
        now = self._client.clock.now()
        if self._learned or (self._next_try is not None and now < self._next_try):
            return
        me = self._client.get_json("/api/me/")
        if not isinstance(me, dict):
            self._next_try = now + RETRY_INTERVAL_S
            return
        self._learned = True
        capabilities = me.get("capabilities")
        if self._client.settings.compression == "auto" and isinstance(capabilities, list):
            self.gzip = "gzip-ingest" in capabilities
        environments = me.get("environments")
        if isinstance(environments, list):
            self.environments = DEFAULT_ENVIRONMENTS | _slugs(environments)


def _slugs(rows: list[object]) -> set[str]:
    """Environment slugs from ``/api/me/``: plain strings or rows shaped ``{"slug": ...}``."""
    slugs = set()
    for row in rows:
        slug = row.get("slug") if isinstance(row, dict) else row
        if isinstance(slug, str) and slug.strip():
            slugs.add(slug.strip().lower())
    return slugs
