"""The library's process-wide runtime: what its parts must redo in a forked child, in one hook.

Only the forking thread survives a fork (the gunicorn and Celery worker pattern): a lock another
thread held at that moment stays held in the child, and that thread is gone. Every part that
owns locks or threads is adopted here; the one ``os.register_at_fork`` hook gives each a fresh
start in the child, in the order they were adopted. No part checks its process id itself.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Runtime:
    """The parts to reset in a forked child, held weakly so a dropped part is not kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[tuple[weakref.ref[Any], Callable[[Any], None]]] = []
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forked)

    def adopt(self, owner: T, reset: Callable[[T], None]) -> T:
        """Call ``reset(owner)`` in every forked child, for as long as ``owner`` lives."""
        with self._lock:
            self._parts = [part for part in self._parts if part[0]() is not None]
            self._parts.append((weakref.ref(owner), reset))
        return owner

    def _forked(self) -> None:
        """In the child: a fresh lock here, then every live part resets, in adoption order."""
        self._lock = threading.Lock()
        for ref, reset in self._parts:
            owner = ref()
            if owner is not None:
                try:
                    reset(owner)
                except Exception:  # one part's failure must not leave the others as they were
                    # The logger _log.py writes to (_log adopts its locks here: no import of it).
                    logging.getLogger("agentsight_otel").exception("resetting after a fork")


RUNTIME = Runtime()


class ForkSafeLock:
    """A module-level lock that a forked child gets afresh (a holder the runtime resets)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        RUNTIME.adopt(self, ForkSafeLock._forked)

    def _forked(self) -> None:
        self.lock = threading.Lock()

    def __enter__(self) -> None:
        self.lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self.lock.release()
