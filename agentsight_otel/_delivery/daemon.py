"""The library's threads never take SIGINT or SIGTERM (the runtime's loops, the servers')."""

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
