"""The library's process-wide runtime: its two threads and its one fork hook.

Every background task of the library runs on one of two daemon threads, started on first use:
``io`` (deliveries and uploads: the network) and ``timer`` (request deadlines, the idle sweep,
flush requests: it must run while ``io`` waits on a slow peer, to cut it off). A user's own
``BatchSpanProcessor`` keeps its thread; the private pipeline's span queue needs none.

Only the forking thread survives a fork (the gunicorn and Celery worker pattern): a lock another
thread held at that moment stays held in the child, and that thread is gone. Every part that
owns locks or background work is adopted here; the one ``os.register_at_fork`` hook gives each
a fresh start in the child, in the order they were adopted. No part checks its process id.
"""

from __future__ import annotations

import atexit
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from agentsight_otel import _log
from agentsight_otel._delivery.daemon import daemon_thread
from agentsight_otel._log import log_internal_error

T = TypeVar("T")


class Duty(Protocol):
    """Background work a loop runs: ``work`` once it is due, one unit at a time."""

    def due(self, now: float) -> float:
        """Seconds until there is work (zero or less: now; ``inf``: none until woken)."""
        ...

    def work(self) -> None:
        """One unit of work (a delivery round, an upload, a sweep); never raises."""
        ...


# How late past a wake_by() deadline a look may come: the loop's next look is reckoned as
# ``now + due(now)``, which rounding may put a hair past the time the duty holds.
_LOOK_SLACK = 0.001


class Loop:
    """One daemon thread, started on first use, that runs its duties' work as it comes due.

    Duties call ``wake`` when work arrives; the loop holds no lock of its own while it asks a
    duty whether it is due or runs it, so a duty may wake the loop under its own lock.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._wake = threading.Event()
        self._duties: list[Duty | weakref.ref[Duty]] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._lock = threading.Lock()
        # When the sleeping thread will look at its duties next (monotonic); inf while it is
        # looking, not running, or sleeping until woken: then only a wake makes it look.
        self._looks_by = math.inf

    def add(self, duty: Duty, *, weak: bool = False) -> None:
        """Run ``duty`` from now on (held weakly: only while something else holds it).

        The thread starts at the first ``wake``, when some duty has work: never at import.
        """
        with self._lock:
            self._duties.append(weakref.ref(duty) if weak else duty)
        if self._thread is not None:
            self._wake.set()

    def remove(self, duty: Duty) -> None:
        """Run ``duty`` no more."""
        with self._lock:
            self._duties = [d for d in self._duties if _alive(d) not in (duty, None)]

    def wake(self) -> None:
        """Look at the duties now; starts the thread if it is not running (again, after exit
        stopped it: work that comes later, from a late exit handler, is still done)."""
        self._wake.set()  # before the look at the thread: see _run's exit
        with self._lock:
            thread = self._thread
            if thread is None or not thread.is_alive():
                self._thread = daemon_thread(self._run, self._name)
                self._thread.start()

    def wake_by(self, when: float) -> None:
        """Make sure the duties are looked at by ``when`` (monotonic); wakes only if they'd not be.

        A request's deadline on a loop that ticks anyway costs no wake (a wake is a system call
        on both threads).
        """
        if self._looks_by > when + _LOOK_SLACK:
            self.wake()

    def running(self) -> bool:
        """Whether the thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def stop(self) -> None:
        """End the thread once nothing is due (at exit, after the parts' own exit handlers)."""
        self._stopping = True
        self._wake.set()

    def forked(self) -> None:
        """In a forked child: the thread is gone; the duties (reset by their owners) stay."""
        self._wake, self._thread, self._lock = threading.Event(), None, threading.Lock()
        self._looks_by = math.inf

    def _run(self) -> None:
        """Run what is due, then sleep until the next duty is due or the loop is woken."""
        next_at = -math.inf  # look at once
        while True:
            wait = None if next_at == math.inf else max(0.0, next_at - time.monotonic())
            self._wake.wait(wait)
            self._wake.clear()  # before looking: work that arrives later wakes the loop again
            self._looks_by = math.inf  # a duty added while looking may be missed: wake for it
            next_at, ran = self._run_due()
            if self._stopping and not ran:
                with self._lock:  # a wake() since the clear() sees this thread, or none
                    if not self._wake.is_set():
                        self._thread = None
                        return
            self._looks_by = next_at

    def _run_due(self) -> tuple[float, bool]:
        """Run every duty that is due; when the next one is (monotonic), and whether any ran."""
        next_at = math.inf
        ran = False
        with self._lock:
            self._duties = [d for d in self._duties if _alive(d) is not None]  # drop the gone
            duties = [d for d in (_alive(d) for d in self._duties) if d is not None]
        for duty in duties:
            try:
                if duty.due(time.monotonic()) <= 0:
                    ran = True
                    duty.work()
                now = time.monotonic()
                # The time the duty names, as it names it: wake_by() compares against it.
                at = now + duty.due(now)
            except Exception:  # a duty's failure must not end the loop the others need
                log_internal_error("running background work")
                continue
            next_at = min(next_at, at)
        return next_at, ran


# Of a stop's time budget, the part a duty gets to finish on its own before its waits are
# interrupted (the rest lets an interrupted request unwind).
_GRACE_SHARE = 0.8


def wait_stopped(
    cond: threading.Condition,
    stopped: Callable[[], bool],
    timeout: float,
    interrupt: threading.Event,
) -> bool:
    """Wait for a duty's last work within ``timeout``, interrupting its waits near the end."""
    with cond:
        if cond.wait_for(stopped, max(0.0, timeout * _GRACE_SHARE)):
            return True
    interrupt.set()
    with cond:
        return cond.wait_for(stopped, max(0.0, timeout * (1 - _GRACE_SHARE)))


def _alive(duty: Duty | weakref.ref[Duty]) -> Duty | None:
    """The duty, or None when it was held weakly and is gone."""
    return duty() if isinstance(duty, weakref.ref) else duty


class Runtime:
    """The two loops, and the parts to reset in a forked child (held weakly: a dropped part
    is not kept)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[tuple[weakref.ref[Any], Callable[[Any], None]]] = []
        self.io = Loop("agentsight-io")
        self.timer = Loop("agentsight-timer")
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forked)
        # Registered first, so it runs last: after every part's own exit handler delivered.
        atexit.register(self._stop)

    def _stop(self) -> None:
        """At exit: both threads end once idle."""
        self.io.stop()
        self.timer.stop()

    def adopt(self, owner: T, reset: Callable[[T], None]) -> T:
        """Call ``reset(owner)`` in every forked child, for as long as ``owner`` lives."""
        with self._lock:
            self._parts = [part for part in self._parts if part[0]() is not None]
            self._parts.append((weakref.ref(owner), reset))
        return owner

    def _forked(self) -> None:
        """In the child: fresh loops and lock here, then every live part, in adoption order."""
        self._lock = threading.Lock()
        _log.forked()
        self.io.forked()
        self.timer.forked()
        for ref, reset in self._parts:
            owner = ref()
            if owner is not None:
                try:
                    reset(owner)
                except Exception:  # one part's failure must not leave the others as they were
                    log_internal_error("resetting after a fork")


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
