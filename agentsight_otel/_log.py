"""The library logger and rate-limited warnings that count what they suppress."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger("agentsight_otel")


class RateLimitedLog:
    """At most one record per key per interval; the next one says how many were suppressed."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def log(self, level: int, key: str, message: str) -> None:
        """Log ``message`` unless ``key`` was logged within the interval."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            message = f"{message} ({suppressed} similar message(s) suppressed)"
        logger.log(level, "%s", message)
