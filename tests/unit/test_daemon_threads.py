"""The library's threads never take SIGINT or SIGTERM: the kernel hands process signals to the
main thread, where Python runs their handlers (a main thread blocked in ``Event.wait()`` would
otherwise sleep through a SIGTERM that one of our threads took)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from agentsight_otel._delivery.daemon import daemon_thread


def _blocked_signals(native_id: int) -> set[int]:
    """The signals a thread blocks, from /proc."""
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    mask = int(
        next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16
    )
    return {number for number in range(1, 65) if mask & (1 << (number - 1))}


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_library_threads_block_sigint_and_sigterm_and_the_caller_keeps_its_mask() -> None:
    seen: dict[str, set[int]] = {}
    ready, done = threading.Event(), threading.Event()

    def body() -> None:
        seen["blocked"] = _blocked_signals(threading.get_native_id())
        ready.set()
        done.wait(10)

    thread = daemon_thread(body, "agentsight-test")
    assert thread.daemon and thread.name == "agentsight-test"
    thread.start()
    assert ready.wait(10)
    done.set()
    thread.join(10)
    assert {signal.SIGINT, signal.SIGTERM} <= seen["blocked"]
    assert signal.SIGTERM not in _blocked_signals(threading.get_native_id())
