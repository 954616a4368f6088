"""The library logger, rate-limited records, and the one way to report an internal failure."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

logger = logging.getLogger("agentsight_otel")

# Set (to 1) by this project's own test suite: internal failures then re-raise, so a library bug
# fails our tests loudly while users only ever see the log record.
RAISE_INTERNAL_ERRORS_ENV = "_AGENTSIGHT_OTEL_RAISE_INTERNAL_ERRORS"

P = ParamSpec("P")
R = TypeVar("R")


class RateLimitedLog:
    """At most one record per key per interval; the next one says how many were suppressed."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()
        _ALL.add(self)

    def log(self, level: int, key: str, message: str, *, exc_info: bool = False) -> None:
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
        logger.log(level, "%s", message, exc_info=exc_info)


def forked() -> None:
    """In a forked child (from the runtime's fork hook): every log's lock afresh."""
    for log in list(_ALL):
        log._lock = threading.Lock()


# Every rate-limited log, for ``forked`` (the runtime imports this module, not the reverse).
_ALL: weakref.WeakSet[RateLimitedLog] = weakref.WeakSet()
_INTERNAL = RateLimitedLog()


def raising_internal_errors() -> bool:
    """True while this project's own tests run (they set the variable)."""
    return os.environ.get(RAISE_INTERNAL_ERRORS_ENV) == "1"


def log_internal_error(what: str) -> None:
    """In an ``except`` block: log once per ``what`` with traceback; re-raise under our tests."""
    _INTERNAL.log(
        logging.ERROR,
        what,
        f"agentsight_otel internal error while {what}; your application is unaffected",
        exc_info=True,
    )
    if raising_internal_errors():
        raise  # noqa: PLE0704 - always called from inside an except block


@contextmanager
def internal_errors(what: str) -> Iterator[None]:
    """Swallow (and report) any failure of the library's own inside the block."""
    try:
        yield
    except Exception:
        log_internal_error(what)


def guarded(what: str, default: R) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: the function's internal failures are reported and ``default`` returned."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return function(*args, **kwargs)
            except Exception:
                log_internal_error(what)
                return default

        return wrapper

    return decorate
