"""Viewer sessions: a fresh random token per login, held in memory, bounded, expiring."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from agentsight_otel._delivery.clock import Clock, SystemClock

IDLE_TIMEOUT_S = 12 * 3600
LIFETIME_S = 24 * 3600
MAX_SESSIONS = 1000


@dataclass
class _Session:
    """When a session began and when it was last used (monotonic seconds)."""

    started: float
    seen: float


class ViewerSessions:
    """Tokens minted at login; each ends at logout, after IDLE_TIMEOUT_S unused or LIFETIME_S.

    Only a hash of each token is kept, so the table holds nothing a browser could present.
    Past MAX_SESSIONS, the oldest session is dropped. A restart logs everyone out.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        idle_timeout: float = IDLE_TIMEOUT_S,
        lifetime: float = LIFETIME_S,
        limit: int = MAX_SESSIONS,
    ) -> None:
        self._clock = clock or SystemClock()
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime
        self._limit = limit
        self._sessions: OrderedDict[bytes, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def open(self) -> str:
        """A new session's token (random, unrelated to any key)."""
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._lock:
            while len(self._sessions) >= self._limit:
                self._sessions.popitem(last=False)
            self._sessions[_digest(token)] = _Session(now, now)
        return token

    def valid(self, token: str) -> bool:
        """Whether the token is a live session; using it restarts its idle clock."""
        if not token:
            return False
        now = self._clock.now()
        digest = _digest(token)
        with self._lock:
            session = self._sessions.get(digest)
            if session is None:
                return False
            if now - session.seen > self.idle_timeout or now - session.started > self.lifetime:
                del self._sessions[digest]
                return False
            session.seen = now
            return True

    def close(self, token: str) -> None:
        """End the session (logout); an unknown token is ignored."""
        with self._lock:
            self._sessions.pop(_digest(token), None)

    def __len__(self) -> int:
        """How many sessions are held (expired ones included until next seen)."""
        return len(self._sessions)


def _digest(token: str) -> bytes:
    """What the table is keyed by: a hash, so lookups reveal nothing about stored tokens."""
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()
