"""PII redaction field by field, on both routes, into the local server over real HTTP.

Every test plants a distinct e-mail address in one field a user can fill, next to a marker, and
searches everything the server stored (a dump of its database) for it: the marker must be there
with the address redacted, the address nowhere. The in-process route is the tracker with
``AGENTSIGHT_REDACT_PII=1`` and the AgentSight exporter on its provider; the bridge route is a
tracker without redaction sending through the real OTLP exporter to ``bridge --redact-pii``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode, Tracer

from agentsight_otel import (
    AgentSightSpanExporter,
    ConversationTracker,
    conversation,
    traced_action,
)
from agentsight_otel import _semconv as sc
from agentsight_otel._bridge.options import add_bridge_arguments, config_from_args
from agentsight_otel._bridge.runner import Bridge
from agentsight_otel._current import ensure_stamping
from agentsight_otel._mapping.redacted import (
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    GEN_AI_AGENT_NAME,
    GENAI_SPAN_NAME,
    KEPT,
    REDACTED,
    STATUS_DESCRIPTION,
)
from agentsight_otel._redaction import EMAIL_REPLACEMENT
from agentsight_otel.exceptions import NothingToSendError
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY, ScriptedTransport


@dataclass
class App:
    """What a plant uses: the tracker, a tracer on its provider, and the conversation's id."""

    tracker: ConversationTracker
    tracer: Tracer
    cid: str


Plant = Callable[[App, str], None]


def _messages(text: str, role: str = "user") -> str:
    """``gen_ai.*.messages`` as the official instrumentation writes them."""
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def _turn(app: App, name: str = "invoke_agent", **attributes: Any) -> Any:
    """An agent invocation span (a GenAI turn) under the conversation."""
    return app.tracer.start_as_current_span(
        name, attributes={"gen_ai.operation.name": "invoke_agent", **attributes}
    )


def _chat(app: App, said: str = "hello", answered: str = "hi") -> None:
    """A model call with its messages."""
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "test-model",
        "gen_ai.input.messages": _messages(said),
        "gen_ai.output.messages": _messages(answered, "assistant"),
    }
    with app.tracer.start_as_current_span("chat test-model", attributes=attributes):
        pass


def _tool(app: App, **attributes: Any) -> Any:
    """An ``execute_tool`` span."""
    own = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup", **attributes}
    return app.tracer.start_as_current_span("execute_tool lookup", attributes=own)


def _conversation_field(key: str) -> Plant:
    def plant(app: App, text: str) -> None:
        value: Any = {"note": text} if key == "metadata" else text
        app.tracker.get_or_create_conversation(app.cid, **{key: value})
        app.tracker.track_human_message("hello")

    return plant


def _visit_field(app: App, text: str) -> None:
    app.tracker.initialize_conversation(app.cid, name=text)


def _scoped_field(key: str) -> Plant:
    """A field given to ``conversation(...)``, reaching the server on a GenAI turn."""

    def plant(app: App, text: str) -> None:
        value: Any = {"note": text} if key == "metadata" else text
        with conversation(app.cid, **{key: value}), _turn(app):
            _chat(app)

    return plant


def _action(key: str) -> Plant:
    def plant(app: App, text: str) -> None:
        app.tracker.get_or_create_conversation(app.cid)
        values: dict[str, Any] = {
            "tools_used": {"to": text},
            "response": text,
            "error_msg": text,
            "metadata": {"note": text},
        }
        app.tracker.track_action("lookup", duration_ms=1.0, **{key: values[key]})

    return plant


def _traced(what: str) -> Plant:
    def plant(app: App, text: str) -> None:
        app.tracker.get_or_create_conversation(app.cid)

        @traced_action
        def lookup(query: str) -> str:
            if what == "message":
                raise LookupError(text)
            if what == "stacktrace":  # only the cause, printed in the stack trace, says it
                raise LookupError("not found") from ValueError(text)
            return text if what == "result" else "found"

        with contextlib.suppress(LookupError):  # re-raised untouched: the caller's to handle
            lookup(text if what == "arguments" else "order")

    return plant


def _button(key: str) -> Plant:
    def plant(app: App, text: str) -> None:
        app.tracker.get_or_create_conversation(app.cid)
        values: dict[str, Any] = {"label": "Refund", "value": "refund", "metadata": None}
        values[key] = {"note": text} if key == "metadata" else text
        app.tracker.track_button("choice", **values)

    return plant


FILE = {"filename": "receipt.txt", "data": "aGk="}


def _attachment(key: str) -> Plant:
    def plant(app: App, text: str) -> None:
        app.tracker.get_or_create_conversation(app.cid)
        if key == "metadata":
            app.tracker.track_attachments([FILE], metadata={"note": text})
        elif key == "filename":
            app.tracker.track_attachments([{**FILE, "filename": f"{text}.txt"}])
        else:  # files shared with a message
            app.tracker.track_human_message("see", attachments=[{**FILE, "filename": text}])

    return plant


def _message(key: str) -> Plant:
    def plant(app: App, text: str) -> None:
        app.tracker.get_or_create_conversation(app.cid)
        if key == "metadata":
            app.tracker.track_human_message("hello", metadata={"note": text})
        else:
            app.tracker.track_agent_message(text)

    return plant


def _genai(what: str) -> Plant:
    def plant(app: App, text: str) -> None:
        with conversation(app.cid):
            if what == "agent_name":
                with _turn(app, **{GEN_AI_AGENT_NAME: text}):
                    _chat(app)
            elif what == "span_name":
                with _turn(app, f"invoke_agent {text}"):
                    _chat(app)
            elif what == "turn_error":
                with _turn(app) as span:
                    _chat(app)
                    span.set_status(Status(StatusCode.ERROR, text))
            elif what == "input":
                with _turn(app):
                    _chat(app, said=text)
            elif what == "output":
                with _turn(app):
                    _chat(app, answered=text)
            else:
                with _turn(app):
                    _chat(app)
                    _genai_tool(app, what, text)

    return plant


def _genai_tool(app: App, what: str, text: str) -> None:
    """A tool span of a GenAI turn holding the text in its arguments, result or error."""
    if what == "tool_arguments":
        with _tool(app, **{sc.GEN_AI_TOOL_ARGUMENTS: json.dumps({"to": text})}):
            return
    if what == "tool_result":
        with _tool(app, **{sc.GEN_AI_TOOL_RESULT: text}):
            return
    with _tool(app) as span:
        if what == "tool_exception":
            span.record_exception(ValueError(text))
            span.set_status(Status(StatusCode.ERROR))
        else:
            span.set_status(Status(StatusCode.ERROR, text))


# Every field a user can fill, each with the table row (redacted.REDACTED) it is sent under.
PLANTS: dict[str, tuple[str, Plant]] = {
    "message": (sc.MESSAGE_CONTENT, _message("content")),
    "message_metadata": (sc.MESSAGE_METADATA, _message("metadata")),
    **{
        f"conversation_{key}": (sc.CONVERSATION_FIELDS[key], _conversation_field(key))
        for key in ("customer_id", "device", "source", "language", "name")
    },
    "conversation_metadata": (sc.CONVERSATION_METADATA, _conversation_field("metadata")),
    "visit_name": (sc.CONVERSATION_FIELDS["name"], _visit_field),
    **{
        f"scope_{key}": (
            sc.CONVERSATION_METADATA if key == "metadata" else sc.CONVERSATION_FIELDS[key],
            _scoped_field(key),
        )
        for key in ("customer_id", "device", "source", "language", "name", "metadata")
    },
    "action_tools_used": (sc.TOOL_ARGUMENTS, _action("tools_used")),
    "action_response": (sc.TOOL_RESPONSE, _action("response")),
    "action_error": (sc.TOOL_ERROR, _action("error_msg")),
    "action_metadata": (sc.METADATA, _action("metadata")),
    "traced_arguments": (sc.TOOL_ARGUMENTS, _traced("arguments")),
    "traced_result": (sc.TOOL_RESPONSE, _traced("result")),
    "traced_exception": (EXCEPTION_MESSAGE, _traced("message")),
    "traced_stacktrace": (EXCEPTION_STACKTRACE, _traced("stacktrace")),
    "button_label": (sc.BUTTON_LABEL, _button("label")),
    "button_value": (sc.BUTTON_VALUE, _button("value")),
    "button_metadata": (sc.METADATA, _button("metadata")),
    "attachment_filename": (sc.ATTACHMENT_FILES, _attachment("filename")),
    "attachment_metadata": (sc.METADATA, _attachment("metadata")),
    "message_attachment": (sc.ATTACHMENT_FILES, _attachment("message")),
    "genai_agent_name": (GEN_AI_AGENT_NAME, _genai("agent_name")),
    "genai_span_name": (GENAI_SPAN_NAME, _genai("span_name")),
    "genai_turn_error": (STATUS_DESCRIPTION, _genai("turn_error")),
    "genai_input": (sc.MESSAGE_CONTENT, _genai("input")),
    "genai_output": (sc.MESSAGE_CONTENT, _genai("output")),
    "genai_tool_arguments": (sc.TOOL_ARGUMENTS, _genai("tool_arguments")),
    "genai_tool_result": (sc.TOOL_RESPONSE, _genai("tool_result")),
    "genai_tool_error": (STATUS_DESCRIPTION, _genai("tool_error")),
    "genai_tool_exception": (sc.TOOL_ERROR, _genai("tool_exception")),
}


Flush = Callable[[], bool]


@dataclass
class Stored:
    """The module's local server and its database file."""

    server: LocalServer
    path: Path

    def dump(self) -> str:
        """Everything the server holds: its database as SQL (uploads' records included)."""
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) as db:
            return "\n".join(db.iterdump())


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    """One local server for the module: every test plants its own address and conversation."""
    path = tmp_path_factory.mktemp("pii") / "server.db"
    with LocalServer(path, api_keys=[TEST_API_KEY]) as running:
        yield Stored(running, path)


@pytest.fixture(scope="module")
def bridge(stored: Stored) -> Iterator[Bridge]:
    """``agentsight-otel bridge --redact-pii`` delivering to the local server."""
    parser = argparse.ArgumentParser()
    add_bridge_arguments(parser)
    flags = ["--redact-pii", "--http", "127.0.0.1:0", "--grpc", "off", "--spool-dir", "off"]
    flags += ["--api-key", TEST_API_KEY, "--endpoint", stored.server.url]
    config, settings = config_from_args(parser.parse_args(flags))
    assert settings.redact is not None
    with Bridge(config, settings=settings) as running:
        yield running


def _in_process(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[TracerProvider, ConversationTracker, Flush]:
    """The tracker and the AgentSight exporter on one provider, redacting by the variable."""
    monkeypatch.setenv("AGENTSIGHT_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("AGENTSIGHT_API_ENDPOINT", server.url)
    monkeypatch.setenv("AGENTSIGHT_REDACT_PII", "1")
    exporter = AgentSightSpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracker = ConversationTracker(tracer_provider=provider)
    return provider, tracker, lambda: exporter.force_flush(10_000)


def _seen_by_other_exporters(provider: TracerProvider) -> InMemorySpanExporter:
    """An exporter beside AgentSight's: what a Collector or any other route would receive."""
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


def _texts(memory: InMemorySpanExporter) -> str:
    """Every name, status text and attribute of the spans an exporter received."""
    return json.dumps(
        [
            [s.name, s.status.description, dict(s.attributes or {})]
            + [[e.name, dict(e.attributes or {})] for e in s.events]
            for s in memory.get_finished_spans()
        ]
    )


def _through_bridge(bridge: Bridge) -> tuple[TracerProvider, ConversationTracker, Flush]:
    """A tracker without redaction whose spans go to the bridge over OTLP/HTTP.

    Attachment bytes never pass the bridge (the application's tracker uploads them), so its
    uploads go to a scripted backend here: the bridge's part is the record on the span.
    """
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{bridge.http_url}/v1/traces"))
    )
    tracker = ConversationTracker(
        tracer_provider=provider, api_key=TEST_API_KEY, _transport=ScriptedTransport()
    )
    return provider, tracker, lambda: bridge.flush(10)


@pytest.mark.parametrize("field", sorted(PLANTS))
@pytest.mark.parametrize("route", ["in_process", "bridge"])
def test_no_planted_address_is_stored(
    route: str,
    field: str,
    stored: Stored,
    bridge: Bridge,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address = f"{field}.{route}@pii.example.com"
    other: InMemorySpanExporter | None = None
    if route == "in_process":
        provider, tracker, flush = _in_process(stored.server, monkeypatch)
        other = _seen_by_other_exporters(provider)
    else:
        provider, tracker, flush = _through_bridge(bridge)
    ensure_stamping(provider)
    app = App(tracker, provider.get_tracer("app"), f"pii-{route}-{field}")
    try:
        PLANTS[field][1](app, f"ref-{field} {address}")
        with contextlib.suppress(NothingToSendError):  # GenAI spans only, or a visit
            tracker.send_tracked_data(timeout=10)
        assert tracker._files.flush(10)
        assert flush()
    finally:
        tracker.shutdown()
        provider.shutdown()
    if other is not None and not field.startswith("genai_"):
        # Redacted at the call: not only AgentSight's exporter sees the redacted text.
        assert address not in _texts(other) and EMAIL_REPLACEMENT in _texts(other)
    dump = stored.dump()
    assert f"ref-{field} {EMAIL_REPLACEMENT}" in dump  # it arrived, redacted
    assert address not in dump


def test_every_redacted_field_is_planted() -> None:
    assert {row for row, _ in PLANTS.values()} == {f.key for f in REDACTED}


def test_the_table_covers_every_wire_key() -> None:
    # Every attribute and event key the library names, and the wire span's own keys.
    named = {
        value
        for name, value in vars(sc).items()
        if name.isupper() and isinstance(value, str) and "." in value
    }
    named |= set(sc.CONVERSATION_FIELDS.values()) | set(sc.WIRE_SPAN_KEYS)
    event_names = {sc.MESSAGE_EVENT, sc.BUTTON_EVENT, sc.ATTACHMENT_EVENT, sc.USAGE_EVENT}
    event_names.add(sc.OPERATION_DETAILS_EVENT)
    redacted = {f.key for f in REDACTED}
    assert not redacted & KEPT.keys()
    assert named - event_names <= redacted | KEPT.keys()


def test_the_docs_name_every_redacted_field() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "security.md"
    section = page.read_text(encoding="utf-8").split("### PII redaction", 1)[1].split("\n## ", 1)[0]
    for field in REDACTED:
        shown = "invoke_agent <agent name>" if field.key == GENAI_SPAN_NAME else field.key
        assert f"{shown}" in section, field.key
