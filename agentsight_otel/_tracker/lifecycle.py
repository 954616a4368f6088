"""Exit paths: what a tracker holds is delivered at interpreter exit and, opt-in, on SIGTERM.

At exit every open turn is ended marked incomplete (reason ``shutdown``) and everything
ended is delivered within a deadline. The exit hook is registered each time a tracker builds
its pipeline, so it runs before the exit handlers registered earlier (``atexit`` runs last
registered first), among them the ``TracerProvider`` the application built before tracking.

SIGTERM's default action kills the process without running exit handlers, hence the opt-in
handler: it delivers, then hands the signal on.
"""

from __future__ import annotations

import atexit
import os
import signal
import weakref
from collections.abc import Callable
from time import monotonic
from types import FrameType
from typing import TYPE_CHECKING, Any

from agentsight_otel._log import log_internal_error, logger
from agentsight_otel._tracker.registry import shared_registry

if TYPE_CHECKING:
    from agentsight_otel._attachments.tracking import FileTracking
    from agentsight_otel._tracker.core import Recording
    from agentsight_otel._tracker.setup import Wiring
    from agentsight_otel._tracker.tracker import ConversationTracker

SHUTDOWN_REASON = "shutdown"  # agentsight.turn.incomplete_reason of turns open at exit
EXIT_TIMEOUT_S = 10.0
SIGTERM_TIMEOUT_S = 5.0
Handler = Callable[[int, FrameType | None], Any] | int | None


class Lifetime:
    """A tracker's ends: shutdown, the exit path and a flush that lets tracking go on."""

    def __init__(
        self, wiring: Wiring, recording: Recording, files: FileTracking, exit_hook: ExitHook
    ) -> None:
        self._wiring = wiring
        self._recording = recording
        self._files = files
        self._exit_hook = exit_hook

    def close(self, timeout: float, reason: str | None = None) -> None:
        """Deliver and shut down within ``timeout``, reporting what is lost for ``reason``
        (the exporter's default)."""
        end = monotonic() + timeout
        self._exit_hook.unregister()
        recorder = self._wiring.recorder
        if recorder is not None:
            recorder.pipeline.shutdown(int(timeout * 1000), reason)
        self._files.shutdown(max(0.0, end - monotonic()))

    def exit(self, timeout: float) -> None:
        """The exit path: open turns end incomplete (``shutdown``), all is delivered."""
        end = monotonic() + timeout
        try:
            recorder = self._wiring.recorder
            if recorder is not None:
                self._recording.end_open(SHUTDOWN_REASON)
                recorder.pipeline.flush_delivery(int(timeout * 1000))
            # The deadline is the README's ("Exit, SIGTERM and forked workers"): say it was hit.
            self.close(max(0.0, end - monotonic()), f"the {timeout:g} s exit deadline passed")
        except Exception:
            log_internal_error("delivering at exit")

    def flush(self, timeout: float) -> None:
        """Deliver what has ended within ``timeout`` seconds; tracking goes on."""
        recorder = self._wiring.recorder
        if recorder is not None:
            recorder.pipeline.flush_delivery(int(timeout * 1000))


class ExitHook:
    """A tracker's exit handler; holds the tracker weakly, so a dropped tracker is not kept."""

    def __init__(self, tracker: ConversationTracker) -> None:
        self._tracker = weakref.ref(tracker)

    def register(self) -> None:
        """Register (again), so this runs before exit handlers registered until now."""
        atexit.unregister(self)
        atexit.register(self)

    def unregister(self) -> None:
        """No longer run at exit."""
        atexit.unregister(self)

    def __call__(self) -> None:
        """End open turns as incomplete and deliver, within the exit deadline."""
        tracker = self._tracker()
        if tracker is not None:
            tracker._lifetime.exit(EXIT_TIMEOUT_S)


class SigtermHandler:
    """Delivers what a tracker holds on SIGTERM, then does what the signal did before."""

    def __init__(self, tracker: ConversationTracker, previous: Handler, timeout: float) -> None:
        self.tracker = tracker
        self.previous = previous
        self.timeout = timeout

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        """The application's handler runs after delivery; without one the process dies of it."""
        previous = self.previous
        if callable(previous):
            # The application decides how to stop; its exit still runs the exit hook, which
            # ends the turns that are open by then.
            self.tracker._lifetime.flush(self.timeout)
            previous(signum, frame)
            return
        if previous == signal.SIG_IGN:
            self.tracker._lifetime.flush(self.timeout)
            return
        self.tracker._lifetime.exit(self.timeout)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def install_sigterm_handler(
    tracker: ConversationTracker | None = None, *, timeout: float = SIGTERM_TIMEOUT_S
) -> bool:
    """Deliver on SIGTERM: chains to the handler in place, else exits as SIGTERM does.

    Call from the main thread (Python handles signals there only), after the application
    installed its own handler. With no handler of the application's, open turns are
    ended marked incomplete (``shutdown``), everything is delivered within ``timeout`` seconds
    and the process then dies of SIGTERM as it would have. With one, what was ended is
    delivered and the application's handler runs; the exit hook covers the rest at exit.
    False (and logged) when it cannot be installed.
    """
    if tracker is None:
        tracker = shared_registry().owner  # agentsight_otel.conversation_tracker
        if tracker is None:
            return False
    try:
        current = signal.getsignal(signal.SIGTERM)
        if isinstance(current, SigtermHandler) and current.tracker is tracker:
            return True
        signal.signal(signal.SIGTERM, SigtermHandler(tracker, current, timeout))
    except (ValueError, OSError) as exc:  # not the main thread, or no SIGTERM here
        logger.error("cannot install the AgentSight SIGTERM handler: %s", exc)
        return False
    return True
