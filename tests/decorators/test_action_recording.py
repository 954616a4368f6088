"""What an action records: timing, arguments, result, errors, and what stays out."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import traceback
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from agentsight_otel import _semconv as sc
from agentsight_otel import traced_action
from agentsight_otel._sanitize import MAX_TEXT, TRUNCATION_MARKER, to_text

from .helpers import Rig, arguments, attrs


class Refused(Exception):
    pass


def test_start_end_duration_and_status_are_the_calls_own(rig: Rig) -> None:
    @traced_action
    def work(n: int, *, scale: float = 1.0) -> float:
        return n * scale

    rig.tracker.get_or_create_conversation("timing")
    rig.tracker.track_human_message("go")
    assert work(2) == 2.0
    span = rig.span("work")
    assert span.start_time is not None and span.end_time is not None
    assert span.start_time <= span.end_time
    assert span.status.status_code is StatusCode.OK
    [tool] = [s for s in rig.send("timing")["spans"] if s["kind"] == "tool"]
    assert tool["status"] == "ok"
    assert tool["duration_ms"] == round((span.end_time - span.start_time) / 1e6, 3)
    assert json.loads(tool["attributes"][sc.TOOL_ARGUMENTS]) == {"n": 2, "scale": 1.0}
    assert tool["attributes"][sc.TOOL_RESPONSE] == "2.0"


def test_arguments_are_bound_by_name_with_defaults_varargs_and_keywords(rig: Rig) -> None:
    @traced_action
    def search(
        query: str, /, limit: int = 10, *tags: str, exact: bool = False, **filters: Any
    ) -> int:
        return limit

    rig.tracker.get_or_create_conversation("binding")
    search("shoes")
    search("hats", 3, "red", "wool", exact=True, size="M")
    search("caps", limit=5)
    first, second, third = [arguments(s) for s in rig.spans("search")]
    assert first == {"query": "shoes", "limit": 10, "tags": [], "exact": False, "filters": {}}
    assert second == {
        "query": "hats",
        "limit": 3,
        "tags": ["red", "wool"],
        "exact": True,
        "filters": {"size": "M"},
    }
    assert third == {"query": "caps", "limit": 5, "tags": [], "exact": False, "filters": {}}
    assert list(first) == ["query", "limit", "tags", "exact", "filters"]


def test_values_json_cannot_encode_are_converted_and_long_ones_truncated(rig: Rig) -> None:
    @traced_action
    def store(when: dt.date, blob: bytes, ratio: float, text: str) -> str:
        return text * 2

    rig.tracker.get_or_create_conversation("convert")
    store(dt.date(2026, 1, 2), b"\x00\x01", math.nan, "y" * MAX_TEXT)
    span = rig.span("store")
    recorded = arguments(span)
    assert recorded["when"] == "2026-01-02"
    assert recorded["blob"] == "AAE="
    assert recorded["ratio"] == "nan"
    assert len(str(attrs(span)[sc.TOOL_ARGUMENTS])) <= 16_384
    response = attrs(span)[sc.TOOL_RESPONSE]
    assert response == "y" * MAX_TEXT + TRUNCATION_MARKER


def test_results_are_text_strings_as_they_are_the_rest_as_json(rig: Rig) -> None:
    @traced_action
    def echo(value: Any) -> Any:
        return value

    class Order:
        def __str__(self) -> str:
            return "order #5"

    rig.tracker.get_or_create_conversation("results")
    for value in ("plain", 7, True, {"a": [1, 2]}, None, Order(), [1.5, "x" * MAX_TEXT]):
        echo(value)
    responses = [attrs(s).get(sc.TOOL_RESPONSE) for s in rig.spans("echo")]
    assert responses[:3] == ["plain", "7", "true"]
    assert json.loads(str(responses[3])) == {"a": [1, 2]}
    assert responses[4] is None
    assert json.loads(str(responses[5])) == "order #5"
    assert str(responses[6]).startswith('[1.5,"xxx')
    assert str(responses[6]).endswith(TRUNCATION_MARKER)
    # Exactly what the tracker's own conversion gives (track_action uses the same).
    assert responses[3] == to_text({"a": [1, 2]})


def test_an_exception_is_recorded_once_and_re_raised_untouched(rig: Rig) -> None:
    @traced_action
    def fragile(x: int) -> int:
        raise Refused(f"no {x}")

    def undecorated(x: int) -> int:
        raise Refused(f"no {x}")

    rig.tracker.get_or_create_conversation("errors")
    with pytest.raises(Refused) as plain:
        undecorated(1)
    with pytest.raises(Refused) as raised:
        fragile(1)
    error = raised.value
    assert error.__context__ is None and error.__cause__ is None
    assert getattr(error, "__notes__", None) is None
    # Past the wrapper's own frame, the traceback is the one an undecorated call gets.
    ours = [
        (f.name, f.line)
        for f in traceback.extract_tb(error.__traceback__)
        if "agentsight_otel" not in f.filename
    ]
    theirs = [(f.name, f.line) for f in traceback.extract_tb(plain.value.__traceback__)]
    assert ours[-1] == ("fragile", 'raise Refused(f"no {x}")') == ("fragile", theirs[-1][1])
    assert len(ours) == len(theirs)
    span = rig.span("fragile")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "Refused: no 1"
    assert attrs(span)[sc.TOOL_ERROR] == "Refused: no 1"
    assert sc.TOOL_RESPONSE not in attrs(span)
    exception_events = [e for e in span.events if e.name == "exception"]
    assert len(exception_events) == 1
    assert exception_events[0].attributes is not None
    assert exception_events[0].attributes["exception.type"].endswith("Refused")
    [tool] = [s for s in rig.send("errors")["spans"] if s["kind"] == "tool"]
    assert tool["status"] == "error"
    assert tool["attributes"][sc.TOOL_ERROR] == "Refused: no 1"


def test_the_same_exception_object_comes_back_even_when_raised_from_elsewhere(rig: Rig) -> None:
    original = Refused("stored")
    try:
        raise original
    except Refused:
        pass
    before = traceback.extract_tb(original.__traceback__)

    @traced_action
    def rethrow() -> None:
        raise original

    rig.tracker.get_or_create_conversation("same-object")
    with pytest.raises(Refused) as raised:
        rethrow()
    assert raised.value is original
    after = traceback.extract_tb(original.__traceback__)
    assert [(f.name, f.lineno) for f in after[-len(before) :]] == [
        (f.name, f.lineno) for f in before
    ]


def test_a_cancelled_async_action_is_an_error_named_cancelled(rig: Rig) -> None:
    @traced_action
    async def wait_forever() -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        rig.tracker.get_or_create_conversation("cancel")
        task = asyncio.ensure_future(wait_forever())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    span = rig.span("wait_forever")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "cancelled"
    assert attrs(span)[sc.TOOL_ERROR] == "cancelled"
    assert len([e for e in span.events if e.name == "exception"]) == 1


def test_redact_decides_what_arguments_are_recorded(rig: Rig) -> None:
    seen: list[dict[str, Any]] = []

    def hide(arguments: dict[str, Any]) -> dict[str, Any]:
        seen.append(dict(arguments))
        return {**arguments, "password": "***"}

    @traced_action(redact=hide)
    def login(user: str, password: str) -> bool:
        return True

    @traced_action(redact=lambda arguments: None)
    def rotate(token: str) -> str:
        return "ok"

    rig.tracker.get_or_create_conversation("redact")
    login("ann", "hunter2")
    rotate("tok-123")
    assert seen == [{"user": "ann", "password": "hunter2"}]
    assert arguments(rig.span("login")) == {"user": "ann", "password": "***"}
    assert sc.TOOL_ARGUMENTS not in attrs(rig.span("rotate"))
    body = json.dumps(rig.send("redact"))
    assert "hunter2" not in body and "tok-123" not in body


def test_capture_flags_keep_arguments_and_results_out(rig: Rig) -> None:
    @traced_action(capture_arguments=False, capture_result=False)
    def issue_token(secret: str) -> str:
        return "token-xyz"

    @traced_action(capture_result=False)
    def stream_secrets() -> Any:
        yield "s3cr3t"

    rig.tracker.get_or_create_conversation("capture")
    assert issue_token("pa55") == "token-xyz"
    assert list(stream_secrets()) == ["s3cr3t"]
    for name in ("issue_token", "stream_secrets"):
        assert sc.TOOL_RESPONSE not in attrs(rig.span(name))
    assert sc.TOOL_ARGUMENTS not in attrs(rig.span("issue_token"))
    body = json.dumps(rig.send("capture"))
    assert "pa55" not in body and "token-xyz" not in body and "s3cr3t" not in body
