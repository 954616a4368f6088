"""A total deadline per request: sockets of a request that outlives it, or is cancelled, are shut.

``requests`` bounds each socket read, not the request, so a peer answering a byte at a time
holds the io thread for as long as it likes. The watchdog shuts such a request's sockets from
the runtime's timer thread; the blocked read then fails at once and the request counts as a
network error (retried, spooled or reported by the caller).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import socket
import threading
import time
from collections.abc import Iterator

from agentsight_otel._runtime import RUNTIME

# The cancel event of the request the current thread is sending: set by the retrying client
# (shutdown, a full queue), it ends the request as its deadline would.
CANCEL: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "agentsight_otel.request_cancel", default=None
)
_TICK_S = 0.05


class Watch:
    """One request under watch: its deadline, its cancel event and the sockets it uses."""

    __slots__ = ("cancel", "deadline", "expired", "sockets")

    def __init__(self, deadline: float, cancel: threading.Event | None) -> None:
        self.deadline = deadline
        self.cancel = cancel
        self.sockets: list[socket.socket] = []
        self.expired = False

    def due(self, now: float) -> bool:
        """Whether the request must end now."""
        return now >= self.deadline or (self.cancel is not None and self.cancel.is_set())


_current: contextvars.ContextVar[Watch | None] = contextvars.ContextVar(
    "agentsight_otel.request_watch", default=None
)


def adopt(sock: socket.socket | None) -> None:
    """Put a socket the current request opened or reuses under its watch."""
    watch = _current.get()
    if watch is not None and sock is not None and sock not in watch.sockets:
        watch.sockets.append(sock)
        if watch.expired:
            _shut(sock)


class Watchdog:
    """Ends watched requests at their deadline, from the runtime's timer thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: set[Watch] = set()
        self._next = 0.0
        RUNTIME.adopt(self, Watchdog._forked)
        RUNTIME.timer.add(self)

    def _forked(self) -> None:
        """In a forked child: its lock may be held; the parent's requests are not ours."""
        self._lock, self._watches = threading.Lock(), set()

    @contextlib.contextmanager
    def watching(self, timeout: float) -> Iterator[Watch]:
        """Watch the request sent inside the block; it is cut off after ``timeout`` seconds."""
        watch = Watch(time.monotonic() + timeout, CANCEL.get())
        with self._lock:
            self._watches.add(watch)
        RUNTIME.timer.wake_by(time.monotonic() + _TICK_S)  # the cancel event's next poll
        token = _current.set(watch)
        try:
            yield watch
        finally:
            _current.reset(token)
            with self._lock:
                self._watches.discard(watch)

    def due(self, now: float) -> float:
        """A look every tick while requests are watched (cancel events are polled)."""
        return self._next - now if self._watches else math.inf

    def work(self) -> None:
        """Shut the sockets of requests that are late or cancelled."""
        now = time.monotonic()
        self._next = now + _TICK_S
        with self._lock:
            late = [w for w in self._watches if not w.expired and w.due(now)]
            for watch in late:
                watch.expired = True
        for watch in late:
            for sock in list(watch.sockets):
                _shut(sock)


# One for the process: every transport's requests are watched by the timer thread.
WATCHDOG = Watchdog()


def _shut(sock: socket.socket) -> None:
    """Shut a socket down both ways; a blocked read or write on it fails at once."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
