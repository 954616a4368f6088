"""The runtime's loops (issue 18): no thread until there is work, one thread for every duty,
late work after the exit stop still done, and a failing duty costs the others nothing."""

from __future__ import annotations

import math
import threading
import time

import pytest

from agentsight_otel._runtime import Loop


class Job:
    """A duty with work to do until it is done; it says when it ran."""

    def __init__(self, fail: bool = False) -> None:
        self.pending = 0
        self.fail = fail
        self.ran = threading.Event()
        self.threads: set[str] = set()

    def due(self, now: float) -> float:
        return 0.0 if self.pending else math.inf

    def work(self) -> None:
        self.pending -= 1
        self.threads.add(threading.current_thread().name)
        self.ran.set()
        if self.fail:
            raise RuntimeError("a duty broke")


def test_no_thread_before_work_and_one_thread_for_every_duty() -> None:
    loop = Loop("agentsight-test-loop")
    first, second = Job(), Job()
    loop.add(first)
    loop.add(second)
    assert not loop.running()
    first.pending = second.pending = 1
    loop.wake()
    assert first.ran.wait(10) and second.ran.wait(10)
    assert first.threads == second.threads == {"agentsight-test-loop"}
    loop.stop()


def test_work_that_comes_after_the_exit_stop_is_still_done() -> None:
    loop = Loop("agentsight-test-late")
    job = Job()
    loop.add(job)
    loop.stop()
    job.pending = 1
    loop.wake()  # an exit handler that runs after the runtime's
    assert job.ran.wait(10)


@pytest.mark.usefixtures("internal_errors_hidden")  # as in a user's process: logged, not raised
def test_a_failing_duty_does_not_end_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    loop = Loop("agentsight-test-fail")
    broken, healthy = Job(fail=True), Job()
    loop.add(broken)
    loop.add(healthy)
    broken.pending = 1
    loop.wake()
    assert broken.ran.wait(10)
    healthy.pending = 1
    loop.wake()
    assert healthy.ran.wait(10)
    assert "internal error while running background work" in caplog.text
    loop.stop()


class Later:
    """A duty due at a fixed time far ahead: the loop sleeps until then."""

    def __init__(self, at: float) -> None:
        self.at = at

    def due(self, now: float) -> float:
        return self.at - now

    def work(self) -> None:
        self.at = math.inf


def test_wake_by_wakes_a_loop_only_when_it_would_not_look_in_time() -> None:
    loop = Loop("agentsight-test-wake-by")
    wakes: list[None] = []
    real_wake = loop.wake

    def counted() -> None:
        wakes.append(None)
        real_wake()

    loop.wake = counted  # type: ignore[method-assign]
    job = Job()
    loop.add(job)
    loop.wake_by(time.monotonic() + 3600)  # no thread yet: started, whatever the deadline
    assert len(wakes) == 1
    later = Later(time.monotonic() + 30)
    loop.add(later)
    loop.wake()
    deadline = time.monotonic() + 10
    while loop._looks_by == math.inf and time.monotonic() < deadline:  # until it sleeps
        time.sleep(0.001)
    wakes.clear()
    loop.wake_by(time.monotonic() + 3600)  # it looks within 30 s anyway
    loop.wake_by(later.at)  # at the very time it looks: no wake either (sends in one window)
    assert wakes == []
    job.pending = 1
    loop.wake_by(time.monotonic())  # work for now: the sleeping loop is woken for it
    assert len(wakes) == 1 and job.ran.wait(10)
    loop.stop()
