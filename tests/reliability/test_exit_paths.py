"""Exit paths: whatever way the process ends, what was tracked is delivered.

Each script tracks one conversation it sends and one it leaves open, then ends its own way. The
sent one must arrive whole; the open one must arrive marked incomplete (``shutdown``).
"""

from __future__ import annotations

import signal
import subprocess
import threading

import pytest

from agentsight_otel import ConversationTracker, install_sigterm_handler
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY
from tests.reliability.helpers import (
    ServerView,
    assert_ended_at_exit,
    assert_exactly,
    report,
    run_script,
)

TRACK = """
import os, signal, sys, threading
from agentsight_otel import conversation_tracker as tracker, install_sigterm_handler
from tests.reliability.helpers import converse

converse(tracker, "{mode}-sent")
tracker.get_or_create_conversation("{mode}-open")
tracker.track_human_message("{mode}-open question")
"""

ENDINGS = {
    "normal": ("", 0),
    "sys-exit": ("sys.exit(3)", 3),
    "exception": ("raise RuntimeError('the application failed')", 1),
}

WAIT_FOR_SIGNAL = """
print("ready", flush=True)
threading.Event().wait(60)
"""


def _run(server: LocalServer, code: str) -> subprocess.Popen[str]:
    return run_script(code, AGENTSIGHT_API_KEY=TEST_API_KEY, AGENTSIGHT_API_ENDPOINT=server.url)


def _check(view: ServerView, mode: str) -> None:
    # The open one's question is read too, its turn marked incomplete (issue 17 item 8).
    assert_exactly(view, [f"{mode}-sent"], partial={f"{mode}-open": [f"{mode}-open question"]})
    assert_ended_at_exit(view, f"{mode}-open", f"{mode}-open question")


@pytest.mark.parametrize("mode", list(ENDINGS))
def test_exit_delivers_the_sent_and_the_open(
    mode: str, server: LocalServer, view: ServerView
) -> None:
    ending, code = ENDINGS[mode]
    process = _run(server, TRACK.format(mode=mode) + ending)
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    if mode == "exception":
        assert "RuntimeError: the application failed" in err
    _check(view, mode)
    report(f"exit: {mode}", returncode=process.returncode)


def _terminate(process: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM once the script says it is ready; its output."""
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=60)


def test_sigterm_without_a_handler_of_the_applications_delivers_then_dies_of_it(
    server: LocalServer, view: ServerView
) -> None:
    code = TRACK.format(mode="sigterm") + "tracker.configure(handle_sigterm=True)" + WAIT_FOR_SIGNAL
    process = _run(server, code)
    _, err = _terminate(process)
    assert process.returncode == -signal.SIGTERM, err
    _check(view, "sigterm")
    report("exit: SIGTERM (default action)", returncode=process.returncode)


def test_sigterm_chains_to_the_applications_own_handler(
    server: LocalServer, view: ServerView
) -> None:
    code = (
        TRACK.format(mode="chained")
        + "def stop(signum, frame):\n"
        + "    print('application handler ran', flush=True)\n"
        + "    sys.exit(0)\n"
        + "signal.signal(signal.SIGTERM, stop)\n"
        + "assert install_sigterm_handler()\n"
        + WAIT_FOR_SIGNAL
    )
    process = _run(server, code)
    out, err = _terminate(process)
    assert process.returncode == 0, err
    assert "application handler ran" in out
    _check(view, "chained")
    report("exit: SIGTERM (chained)", returncode=process.returncode)


def test_the_exit_hook_runs_before_the_applications_provider_shuts_down(
    server: LocalServer, view: ServerView
) -> None:
    # The application's provider registers its own exit handler first; ours must run before
    # it (atexit runs last registered first), or the open interaction would end too late.
    code = (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import BatchSpanProcessor\n"
        "from agentsight_otel import AgentSightSpanExporter\n"
        "provider = TracerProvider()\n"
        "provider.add_span_processor(BatchSpanProcessor(AgentSightSpanExporter()))\n"
        "trace.set_tracer_provider(provider)\n" + TRACK.format(mode="user-provider")
    )
    process = _run(server, code)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    _check(view, "user-provider")


def test_the_sigterm_handler_installs_once_and_only_from_the_main_thread() -> None:
    tracker = ConversationTracker(_ledger=DeliveryLedger())
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert install_sigterm_handler(tracker)
        installed = signal.getsignal(signal.SIGTERM)
        assert install_sigterm_handler(tracker)
        assert signal.getsignal(signal.SIGTERM) is installed  # not chained to itself
        result: list[bool] = []
        other = ConversationTracker(_ledger=DeliveryLedger())
        thread = threading.Thread(target=lambda: result.append(install_sigterm_handler(other)))
        thread.start()
        thread.join(10)
        assert result == [False]
    finally:
        signal.signal(signal.SIGTERM, previous)
