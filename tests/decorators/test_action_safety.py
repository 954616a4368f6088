"""Never in the way: tracing failures, recursion, re-entrancy, and decoration without setup."""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import StatusCode

from agentsight_otel import _semconv as sc
from agentsight_otel import traced_action

from .helpers import Rig, arguments, attrs, logged, of_kind, parent_id, span_id

calls: list[int] = []


@traced_action
def counted(x: int) -> int:
    calls.append(x)
    return x * 2


class Explodes(SpanProcessor):
    """A broken span processor."""

    def __init__(self, on: str) -> None:
        self.on = on

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.on == "start" and span.name == "counted":
            raise RuntimeError("processor broke on start")

    def on_end(self, span: ReadableSpan) -> None:
        if self.on == "end" and span.name == "counted":
            raise RuntimeError("processor broke on end")


@pytest.mark.usefixtures("internal_errors_hidden")
@pytest.mark.parametrize("on", ["start", "end"])
def test_a_failing_pipeline_never_stops_the_call(
    rig: Rig, on: str, library_warnings: list[logging.LogRecord]
) -> None:
    calls.clear()
    rig.backend.provider.add_span_processor(Explodes(on))
    rig.tracker.get_or_create_conversation("broken-pipeline")
    assert counted(21) == 42
    assert calls == [21]  # ran exactly once
    assert len(library_warnings) == 1
    assert "processor broke" in logged(library_warnings[0])


@pytest.mark.usefixtures("internal_errors_hidden")
def test_a_failing_tracker_lookup_runs_the_call_untraced(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, library_warnings: list[logging.LogRecord]
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("tracker broke")

    calls.clear()
    rig.tracker.get_or_create_conversation("broken-tracker")
    monkeypatch.setattr(rig.tracker._recording, "action_parent", broken)  # renamed (issue 18)
    assert counted(2) == 4
    assert calls == [2]
    assert rig.spans("counted") == []
    assert "tracker broke" in logged(library_warnings[0])


def test_failing_argument_and_result_conversion_still_ends_the_span(
    rig: Rig, library_warnings: list[logging.LogRecord]
) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise ValueError("cannot print")

    @traced_action
    def handle(thing: Any) -> Any:
        return thing

    def bad_redact(arguments: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("redact broke")

    @traced_action(redact=bad_redact)
    def guarded(secret: str) -> str:
        return "fine"

    rig.tracker.get_or_create_conversation("conversions")
    thing = Unprintable()
    assert handle(thing) is thing
    assert guarded("hunter2") == "fine"
    span = rig.span("handle")
    assert span.status.status_code is StatusCode.OK
    # A value whose __str__ fails is recorded as a placeholder naming its type.
    assert attrs(span)[sc.TOOL_ARGUMENTS] == '{"thing":"<unprintable Unprintable>"}'
    assert attrs(span)[sc.TOOL_RESPONSE] == '"<unprintable Unprintable>"'
    assert sc.TOOL_ARGUMENTS not in attrs(rig.span("guarded"))  # a failing redact leaks nothing
    messages = " ".join(logged(r) for r in library_warnings)
    assert "redact broke" in messages


def test_an_exception_that_cannot_be_printed_is_still_raised_and_recorded(rig: Rig) -> None:
    class Odd(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    @traced_action
    def odd() -> None:
        raise Odd()

    rig.tracker.get_or_create_conversation("odd-error")
    with pytest.raises(Odd):
        odd()
    span = rig.span("odd")
    assert attrs(span)[sc.TOOL_ERROR] == "Odd"
    [event] = [e for e in span.events if e.name == "exception"]
    assert event.attributes is not None and str(event.attributes["exception.type"]).endswith("Odd")


def test_recursion_nests_each_call_under_its_caller(rig: Rig) -> None:
    @traced_action
    def factorial(n: int) -> int:
        return 1 if n <= 1 else n * factorial(n - 1)

    rig.tracker.get_or_create_conversation("recursion")
    assert factorial(5) == 120
    spans = sorted(rig.spans("factorial"), key=lambda s: arguments(s)["n"])
    assert [arguments(s)["n"] for s in spans] == [1, 2, 3, 4, 5]
    for inner, outer in itertools.pairwise(spans):
        assert parent_id(inner) == span_id(outer)
    wire = rig.send("recursion")
    assert len(of_kind(wire, "tool")) == 5


def test_decorated_calls_made_by_the_tracing_itself_run_untraced(rig: Rig) -> None:
    class Calls(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            counted(1)  # a processor that uses an instrumented helper

    @traced_action(redact=lambda arguments: {"n": counted(arguments["n"])})
    def outer(n: int) -> int:
        return n

    calls.clear()
    rig.backend.provider.add_span_processor(Calls())
    rig.tracker.get_or_create_conversation("reentrant")
    assert outer(3) == 3
    assert arguments(rig.span("outer")) == {"n": 6}
    assert rig.spans("counted") == []  # ran, untraced: no endless recursion, no deadlock
    assert calls == [3, 1]


def test_threads_recording_into_one_conversation_lose_nothing(rig: Rig) -> None:
    rig.tracker.get_or_create_conversation("threads")
    rig.tracker.track_human_message("go")
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(contextvars.copy_context().run, counted, i) for i in range(200)]
        assert sorted(f.result() for f in futures) == [2 * i for i in range(200)]
    wire = rig.send("threads")
    [turn] = of_kind(wire, "turn")
    tools = of_kind(wire, "tool")
    assert sorted(arguments(t)["x"] for t in tools) == list(range(200))
    assert {t["parent_span_id"] for t in tools} == {turn["span_id"]}


def test_decorating_and_calling_at_import_time_needs_no_configuration(tmp_path: Any) -> None:
    script = textwrap.dedent("""
        import socket
        def no_network(*args, **kwargs):
            raise AssertionError("network used")
        socket.socket.connect = no_network
        from agentsight_otel import conversation_tracker, traced_action

        @traced_action(name="lookup", conversation_id=None)
        def lookup(x):
            return x + 1

        assert lookup(1) == 2
        assert conversation_tracker._wiring.recorder is None, "the tracker was set up"
        print("ok")
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTSIGHT_", "OTEL_"))}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert done.stderr == ""


@pytest.mark.usefixtures("internal_errors_hidden")
def test_the_library_log_is_rate_limited(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, library_warnings: list[logging.LogRecord]
) -> None:
    monkeypatch.setattr(rig.tracker._recording, "action_parent", lambda *a: 1 / 0)
    rig.tracker.get_or_create_conversation("noisy")
    for i in range(50):
        counted(i)
    assert len(library_warnings) == 1
