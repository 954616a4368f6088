"""One INFO line per delivered ingest body (the bridge's), summed past one line a second."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from agentsight_otel._log import logger
from agentsight_otel._runtime import RUNTIME


class DeliveryLog:
    """Logs each delivery; deliveries within ``interval`` of the last line go into the next one."""

    def __init__(self, clock: Callable[[], float], interval: float = 1.0) -> None:
        self._clock = clock
        self._interval = interval
        self._lock = threading.Lock()
        self._last: float | None = None
        self._bodies = self._conversations = self._spans = 0
        self._status = 0
        RUNTIME.adopt(self, DeliveryLog._forked)

    def _forked(self) -> None:
        self._lock = threading.Lock()

    def delivered(self, conversations: int, spans: int, status: int) -> None:
        """Count one delivered body (``conversations`` 0 when unknown: a spooled body)."""
        now = self._clock()
        with self._lock:
            self._bodies += 1
            self._conversations += conversations
            self._spans += spans
            self._status = status
            if self._last is not None and now - self._last < self._interval:
                return
            self._last = now
            line = self._take()
        logger.log(logging.INFO, "%s", line)

    def flush(self) -> None:
        """Log what the last line has not told yet (at shutdown)."""
        with self._lock:
            line = self._take() if self._bodies else None
        if line is not None:
            logger.log(logging.INFO, "%s", line)

    def _take(self) -> str:
        """The line for what was counted since the last one; the counts start again."""
        bodies, conversations, spans = self._bodies, self._conversations, self._spans
        self._bodies = self._conversations = self._spans = 0
        what = f"{spans} span(s)"
        if conversations:
            what = f"{conversations} conversation(s), {what}"
        if bodies == 1:
            return f"delivered {what} to AgentSight: HTTP {self._status}"
        return f"delivered {bodies} batches, {what}, to AgentSight: last HTTP {self._status}"
