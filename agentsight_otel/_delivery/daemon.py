"""A background loop's thread: started on demand, forgotten in a forked child, stopped in time."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

# Process signals go to the main thread, where Python runs their handlers: a signal the kernel
# hands to one of our threads instead would wait there until the main thread next wakes up
# (a main thread blocked in Event.wait() could sleep through SIGTERM).
_SHIELDED = {signal.SIGINT, signal.SIGTERM}


def daemon_thread(target: Callable[[], None], name: str) -> threading.Thread:
    """An unstarted daemon thread of the library's: it never takes SIGINT or SIGTERM."""

    def run() -> None:
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, _SHIELDED)
        target()

    return threading.Thread(target=run, name=name, daemon=True)


# Of a stop's time budget, the part the loop gets to finish on its own before its waits are
# interrupted (the rest lets an interrupted request unwind).
_GRACE_SHARE = 0.8


class DaemonThread:
    """One daemon thread running ``target``; its owner forgets it in a forked child."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        self._target = target
        self._name = name
        self._thread: threading.Thread | None = None

    def running(self) -> bool:
        """Whether the thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Start the thread (call when ``running()`` is false)."""
        self._thread = daemon_thread(self._target, self._name)
        self._thread.start()

    def forget(self) -> None:
        """Drop a thread inherited from the parent process (it does not run in a child)."""
        self._thread = None

    def stop(self, timeout: float, interrupt: threading.Event) -> bool:
        """Wait for the loop to end within ``timeout``, interrupting its waits near the end."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(max(0.0, timeout * _GRACE_SHARE))
        if thread.is_alive():
            interrupt.set()
            thread.join(max(0.0, timeout * (1 - _GRACE_SHARE)))
        return not thread.is_alive()
