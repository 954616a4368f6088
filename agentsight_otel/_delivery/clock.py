"""Time as the export machinery sees it, injectable so tests never really sleep."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time and interruptible waits."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def wait(self, seconds: float, interrupt: threading.Event) -> bool:
        """Wait up to ``seconds``; True when ``interrupt`` was set."""
        ...


class SystemClock:
    """The real monotonic clock; waits end early when interrupted."""

    def now(self) -> float:
        """Seconds on ``time.monotonic``."""
        return time.monotonic()

    def wait(self, seconds: float, interrupt: threading.Event) -> bool:
        """Block on the event for at most ``seconds``."""
        return interrupt.wait(max(0.0, seconds))
