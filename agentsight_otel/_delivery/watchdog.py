"""A total deadline per request: sockets of a request that outlives it, or is cancelled, are shut.

``requests`` bounds each socket read, not the request, so a peer answering a byte at a time
holds a delivery thread for as long as it likes. The watchdog shuts such a request's sockets
from its own thread; the blocked read then fails at once and the request counts as a network
error (retried, spooled or reported by the caller).
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
from collections.abc import Iterator

from agentsight_otel._delivery.daemon import daemon_thread
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
    """One daemon thread that ends watched requests at their deadline; idle, it sleeps."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watches: set[Watch] = set()
        self._started = False
        RUNTIME.adopt(self, Watchdog._forked)

    def _forked(self) -> None:
        """In a forked child: the thread is gone and its lock may be held; start afresh."""
        self._cond, self._watches, self._started = threading.Condition(), set(), False

    @contextlib.contextmanager
    def watching(self, timeout: float) -> Iterator[Watch]:
        """Watch the request sent inside the block; it is cut off after ``timeout`` seconds."""
        watch = Watch(time.monotonic() + timeout, CANCEL.get())
        with self._cond:
            if not self._started:
                self._started = True
                daemon_thread(self._run, "agentsight-watchdog").start()
            self._watches.add(watch)
            self._cond.notify()
        token = _current.set(watch)
        try:
            yield watch
        finally:
            _current.reset(token)
            with self._cond:
                self._watches.discard(watch)

    def _run(self) -> None:
        """While requests are watched, shut the sockets of those late or cancelled."""
        cond = self._cond
        with cond:
            while cond is self._cond:
                cond.wait(_TICK_S if self._watches else None)
                now = time.monotonic()
                for watch in self._watches:
                    if not watch.expired and watch.due(now):
                        watch.expired = True
                        for sock in watch.sockets:
                            _shut(sock)


def _shut(sock: socket.socket) -> None:
    """Shut a socket down both ways; a blocked read or write on it fails at once."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
