"""A warning, once per endpoint, before an API key travels over plain http off this machine."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

from agentsight_otel._log import logger
from agentsight_otel._loopback import is_loopback
from agentsight_otel._runtime import RUNTIME


def exposes_key(endpoint: str) -> bool:
    """Whether a key sent to ``endpoint`` crosses a network in clear text."""
    parts = urlsplit(endpoint)
    return parts.scheme.lower() == "http" and not is_loopback(parts.hostname or "")


class PlaintextKeyWarning:
    """Logs the warning the first time a key is about to go to each plain-http endpoint."""

    def __init__(self) -> None:
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        RUNTIME.adopt(self, PlaintextKeyWarning._forked)

    def _forked(self) -> None:
        self._lock = threading.Lock()

    def check(self, endpoint: str) -> None:
        """Warn unless the endpoint is https, loopback, or was warned about already."""
        if not exposes_key(endpoint):
            return
        with self._lock:
            if endpoint in self._warned:
                return
            self._warned.add(endpoint)
        logger.warning(
            "the AgentSight API key is being sent over plain http to %s: anyone on the network "
            "path can read it; use an https:// endpoint",
            urlsplit(endpoint).hostname,
        )


# One per process: "once" means once, however many clients (exporter, uploader, bridge) send.
PLAINTEXT_KEY_WARNING = PlaintextKeyWarning()
