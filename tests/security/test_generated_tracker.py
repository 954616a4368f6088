"""Generated tracking calls: each raises ``ValidationError`` at the call or succeeds, and whatever
was tracked goes out as a body the local server accepts, and as spans OTLP can encode."""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentsight_otel._config import resolve_settings
from agentsight_otel.exceptions import ConfigurationError, ValidationError
from agentsight_otel.testing import TEST_API_KEY, AgentSightCapture, FakeBackend
from tests.security.wire import assert_bodies_valid

SECURITY = settings.get_profile("security")
# Every code point, surrogates and control characters included.
ANY_CHAR = st.characters(codec=None, categories=None, exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=40) | st.sampled_from(["", " ", "\t\n", "\u3000", "ok"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | ANY_TEXT
    | st.binary(max_size=16)
    | st.datetimes()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(ANY_TEXT | st.integers(), inner, max_size=4)
        | st.frozensets(st.integers() | st.text(max_size=4), max_size=3)
        | st.tuples(inner, inner)
    ),
    max_leaves=12,
)
METADATA = st.none() | st.dictionaries(ANY_TEXT, VALUES, max_size=5) | VALUES
# Integers past 64 bits and past what a float holds, too.
HUGE = st.integers(2**62, 2**64) | st.integers(10**300, 10**400) | st.integers(-(10**400), -1)
COUNTS = st.integers() | HUGE | st.booleans() | st.floats() | st.none() | st.text(max_size=3)
MOMENTS = st.none() | st.floats() | st.integers() | HUGE | st.datetimes() | ANY_TEXT
Op = Callable[[Any, str], object]


def _message(sender: str, text: Any, metadata: Any) -> Op:
    method = "track_human_message" if sender == "user" else "track_agent_message"
    return lambda t, cid: getattr(t, method)(text, metadata, conversation_id=cid)


def _button(event: Any, label: Any, value: Any, metadata: Any) -> Op:
    return lambda t, cid: t.track_button(event, label, value, cid, metadata)


def _action(name: Any, duration: Any, tools: Any, response: Any, error: Any, meta: Any) -> Op:
    return lambda t, cid: t.track_action(
        name,
        duration_ms=duration,
        tools_used=tools,
        response=response,
        error_msg=error,
        metadata=meta,
        conversation_id=cid,
    )


def _timed(started: Any, ended: Any, duration: Any) -> Op:
    return lambda t, cid: t.track_action(
        "timed", started_at=started, ended_at=ended, duration_ms=duration, conversation_id=cid
    )


def _usage(prompt: Any, completion: Any, total: Any, model: Any) -> Op:
    return lambda t, cid: t.track_token_usage(
        prompt, completion, total, model=model, conversation_id=cid
    )


def _fields(name: Any, customer: Any, environment: Any, metadata: Any) -> Op:
    return lambda t, cid: t.get_or_create_conversation(
        cid, name=name, customer_id=customer, environment=environment, metadata=metadata
    )


OPS = st.one_of(
    st.builds(_message, st.sampled_from(["user", "agent"]), ANY_TEXT | SCALARS, METADATA),
    st.builds(_button, ANY_TEXT | SCALARS, ANY_TEXT, ANY_TEXT | SCALARS, METADATA),
    st.builds(
        _action,
        ANY_TEXT | SCALARS,
        st.none() | st.floats() | st.integers() | HUGE,
        VALUES,
        VALUES,
        st.none() | ANY_TEXT | st.integers(),
        METADATA,
    ),
    st.builds(_usage, COUNTS, COUNTS, COUNTS, st.none() | ANY_TEXT | st.integers()),
    st.builds(_timed, MOMENTS, MOMENTS, st.none() | st.floats() | st.integers() | HUGE),
    st.builds(_fields, ANY_TEXT | SCALARS, ANY_TEXT, st.none() | ANY_TEXT | SCALARS, METADATA),
)


class GeneratedRunner:
    """One tracker for all examples, with the OTLP encoding of its spans checked too."""

    def __init__(self, backend: FakeBackend) -> None:
        self.backend = backend
        self.memory = InMemorySpanExporter()
        backend.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.ids = (f"generated-{n}" for n in itertools.count())
        self.calls = self.raised = 0

    def run(self, ops: list[Op]) -> None:
        """Each op raises ValidationError or succeeds; whatever was tracked then goes out."""
        cid, seen = next(self.ids), len(self.backend.transport.requests)
        tracked = False
        for op in ops:
            self.calls += 1
            try:
                op(self.backend.tracker, cid)
                tracked = True
            except ValidationError:
                self.raised += 1
        if tracked and self.backend.tracker.get_tracked_data_summary(cid)["summary"]["total"]:
            result = self.backend.tracker.send_tracked_data(conversation_id=cid)
            assert result["status"] == "delivered", result
        new = self.backend.transport.requests[seen:]
        assert_bodies_valid(_Only(new))  # type: ignore[arg-type]
        with _otel_errors() as errors:
            encode_spans(self.memory.get_finished_spans()).SerializeToString()
        assert errors == []  # the OTLP encoder drops (and logs) attributes it cannot encode
        self.memory.clear()


@contextlib.contextmanager
def _otel_errors() -> Iterator[list[str]]:
    """What OpenTelemetry logs at WARNING or above meanwhile."""
    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    otel = logging.getLogger("opentelemetry")
    otel.addHandler(handler)
    try:
        yield seen
    finally:
        otel.removeHandler(handler)


class _Only:
    """A transport view holding only the given requests."""

    def __init__(self, requests: list[Any]) -> None:
        self.requests = requests


@pytest.fixture(scope="module")
def runner() -> Iterator[GeneratedRunner]:
    """A fake backend shared by every example of the module."""
    with AgentSightCapture() as capture:
        yield GeneratedRunner(capture.backend)


@pytest.mark.slow
@settings(SECURITY, max_examples=300)
@given(ops=st.lists(OPS, min_size=1, max_size=5))
def test_generated_calls_raise_only_validation_errors_and_send_valid_bodies(
    runner: GeneratedRunner, ops: list[Op]
) -> None:
    runner.run(ops)


@settings(SECURITY, max_examples=100)
@given(ops=st.lists(OPS, min_size=1, max_size=4))
def test_the_same_with_pii_redaction_on(redacting_runner: GeneratedRunner, ops: list[Op]) -> None:
    redacting_runner.run(ops)


@pytest.fixture(scope="module")
def redacting_runner() -> Iterator[GeneratedRunner]:
    """A fake backend whose tracker redacts, with a user hook added to the built-in rules."""
    with AgentSightCapture() as capture:
        capture.tracker.configure(redact=lambda text: text.replace("secret", "[hidden]"))
        yield GeneratedRunner(capture.backend)


def test_examples_ran_both_ways(runner: GeneratedRunner) -> None:
    # Runs after the generated test in file order: both outcomes were exercised.
    if runner.calls == 0:
        pytest.skip("counts the examples of the generated test, which did not run")
    assert runner.calls >= 300 and 0 < runner.raised < runner.calls


SETTING_NAMES = st.sampled_from(
    ["api_key", "endpoint", "environment", "log_level", "compression", "request_timeout",
     "export_deadline", "send_timeout", "max_body_bytes", "verify_tls", "redact"]
)  # fmt: skip


@settings(SECURITY, max_examples=300)
@given(st.dictionaries(SETTING_NAMES, SCALARS | HUGE | st.just(math.inf), max_size=4))
def test_generated_settings_raise_only_configuration_errors(values: dict[str, Any]) -> None:
    try:
        resolved = resolve_settings(**values)
    except ConfigurationError as error:
        assert TEST_API_KEY[4:36] not in str(error)
        return
    assert isinstance(resolved.verify_tls, bool)
