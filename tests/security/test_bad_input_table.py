"""The bad-input table: each row is a documented outcome, and none loses what was tracked.

Tracker, decorator and configuration rows run on a fake backend: a message and a button are
tracked first, then the bad call, then another message and a send; both messages and the button
must arrive, and every body must pass the local server's validation. Bridge rows post a valid
conversation first, then the bad request; the valid conversation must still be delivered.
``docs/bad-input.md`` is rendered from ``ROWS`` (``python -m tests.security.table``).
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import json
import logging
import math
import socket
import types
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from agentsight_otel import AgentSightSpanExporter, traced_action
from agentsight_otel import _semconv as sc
from agentsight_otel._config import DEFAULT_ENDPOINT, resolve_settings
from agentsight_otel._redaction import Redactor
from agentsight_otel._sanitize import MAX_JSON, MAX_TEXT, TRUNCATION_MARKER
from agentsight_otel.exceptions import ConfigurationError, InvalidApiKeyError, ValidationError
from agentsight_otel.testing import TEST_API_KEY, FakeBackend, ScriptedTransport
from tests.bridge.helpers import captured_spans, otlp_protobuf
from tests.security.conftest import BRIDGE_TOKEN, BridgeRig
from tests.security.table import (
    DOC,
    END,
    START,
    UNIT_END,
    UNIT_START,
    Answers,
    Becomes,
    Case,
    Raises,
    Row,
    render,
    render_unit,
    section,
)
from tests.security.wire import (
    KEEP,
    assert_bodies_valid,
    conversation_ids,
    keep_block,
    message_metadata,
    middle_message,
    tool_attributes,
)
from tests.unit.helpers import wire_spans

GOOD_B64 = "aGVsbG8="
KEY_BODY = TEST_API_KEY[4:-7]
TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


class Unprintable:
    """An object whose ``__str__`` and ``__repr__`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("cannot print")

    __repr__ = __str__


class Text(str):
    """A ``str`` subclass."""


def _cyclic_dict() -> dict[str, Any]:
    value: dict[str, Any] = {"a": 1}
    value["self"] = value
    return value


def _cyclic_list() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


def _deep_list(depth: int) -> list[Any]:
    return functools.reduce(lambda inner, _: [inner], range(depth), [])


@traced_action
def echo(value: Any) -> Any:
    """A tool that returns its argument."""
    return value


@traced_action
def explode(value: Any) -> Any:
    """A tool that raises the application's own exception."""
    raise ValueError(f"tool failed on {type(value).__name__}")


def _failing_redact(arguments: dict[str, Any]) -> dict[str, Any]:
    raise KeyError("the hook broke")


@traced_action(redact=_failing_redact)
def guarded(secret: str) -> str:
    """A tool whose argument-redaction hook raises."""
    return "fine"


# -- checks -------------------------------------------------------------------------------------


def _middle_is(expected: str) -> Callable[[Case], None]:
    return lambda c: _equal(middle_message(c.backend.transport), expected)


def _metadata_is(expected: Any) -> Callable[[Case], None]:
    return lambda c: _equal(message_metadata(c.backend.transport), expected)


def _tool(key: str, expected: Any, *, decode: bool = False) -> Callable[[Case], None]:
    def check(c: Case) -> None:
        value = tool_attributes(c.backend.transport).get(key)
        _equal(json.loads(value) if decode and value is not None else value, expected)

    return check


def _equal(actual: Any, expected: Any) -> None:
    assert actual == expected, (actual, expected)


def _logged(c: Case, text: str) -> bool:
    return any(text in r.getMessage() for r in c.logs)


def _deep_placeholder(c: Case) -> None:
    text = json.dumps(message_metadata(c.backend.transport))
    assert "<too deep>" in text and len(text) <= MAX_JSON


def _no_customer_id(c: Case) -> None:
    assert "customer_id" not in keep_block(c.backend.transport)


def _unknown_environment(c: Case) -> None:
    assert "environment" not in keep_block(c.backend.transport)
    assert _logged(c, "staging")


def _own_conversation_delivered(cid: str) -> Callable[[Case], None]:
    def check(c: Case) -> None:
        assert c.result["status"] == "delivered"
        assert cid in conversation_ids(c.backend.transport)

    return check


def _traversal_name_kept(c: Case) -> None:
    [span] = wire_spans(c.backend.transport, "attachment", KEEP)
    files = json.loads(span["attributes"][sc.ATTACHMENT_FILES])
    assert files[0]["filename"] == "../../etc/passwd"


def _label_clipped(c: Case) -> None:
    [_, button] = wire_spans(c.backend.transport, "button", KEEP)
    assert button["name"] == "l" * 255


def _settings_from_env(check: Callable[[Any], bool], logged: str | None) -> Callable[[Case], None]:
    def verify(c: Case) -> None:
        assert check(c.result), c.result
        if logged is not None:
            assert _logged(c, logged)
        assert not any(KEY_BODY in r.getMessage() for r in c.logs)

    return verify


def _enormous_result(c: Case) -> None:
    attributes = tool_attributes(c.backend.transport)
    assert attributes[sc.TOOL_RESPONSE] == "r" * MAX_TEXT + TRUNCATION_MARKER
    assert len(attributes[sc.TOOL_ARGUMENTS]) <= MAX_JSON


def _no_arguments(c: Case) -> None:
    assert c.result == "fine"
    assert sc.TOOL_ARGUMENTS not in tool_attributes(c.backend.transport)
    assert _logged(c, "the hook broke")


def _send(c: Case, timeout: Any) -> Any:
    return c.t.send_tracked_data(conversation_id=KEEP, timeout=timeout)


def _track_in(cid: str) -> Callable[[Case], Any]:
    def run(c: Case) -> Any:
        c.t.track_human_message("x", conversation_id=cid)
        return c.t.send_tracked_data(conversation_id=cid)

    return run


# -- the rows: tracker, decorator, configuration ----------------------------------------------

MSG = "track_human_message(text)"
META = "track_human_message('m', metadata=...)"
ACTION = "track_action('a', ...)"
TRACKER_ROWS = [
    Row("message-lone-surrogate", "tracker", MSG, "`'a\\ud800b'`, a lone surrogate",
        Becomes("kept, the surrogate replaced by U+FFFD (at the call, for every exporter)",
                _middle_is("a\ufffdb")),
        lambda c: c.t.track_human_message("a\ud800b")),
    Row("message-control-characters", "tracker", MSG, "`'\\x00\\x1b[31mred\\x7f'`",
        Becomes("kept as given (JSON-escaped on the wire)", _middle_is("\x00\x1b[31mred\x7f")),
        lambda c: c.t.track_human_message("\x00\x1b[31mred\x7f")),
    Row("message-unicode-whitespace", "tracker", MSG, "em space, no-break space, ideographic "
        "space, newline", Raises(ValidationError),
        lambda c: c.t.track_human_message("\u2003\u00a0\u3000\n")),
    Row("message-zero-width-space", "tracker", MSG, "`'\\u200b'` (not whitespace to Python)",
        Becomes("kept as given", _middle_is("\u200b")),
        lambda c: c.t.track_human_message("\u200b")),
    Row("message-enormous", "tracker", MSG, "10,000,000 characters",
        Becomes("first 16,384 characters + `...[truncated]`",
                _middle_is("x" * MAX_TEXT + TRUNCATION_MARKER)),
        lambda c: c.t.track_human_message("x" * 10_000_000)),
    Row("message-nan", "tracker", MSG, "`float('nan')`", Raises(ValidationError),
        lambda c: c.t.track_human_message(math.nan)),
    Row("message-str-subclass", "tracker", MSG, "an instance of a `str` subclass",
        Becomes("kept as its text", _middle_is("sub")),
        lambda c: c.t.track_human_message(Text("sub"))),
    Row("message-non-utf8-bytearray", "tracker", MSG, "`bytearray(b'\\xff\\xfe')`",
        Raises(ValidationError), lambda c: c.t.track_human_message(bytearray(b"\xff\xfe"))),
    Row("metadata-lone-surrogates", "tracker", META, "`{'k\\udcff': 'v\\ud800'}`",
        Becomes("surrogates in keys and values replaced by U+FFFD",
                _metadata_is({"k\ufffd": "v\ufffd"})),
        lambda c: c.t.track_human_message("m", metadata={"k\udcff": "v\ud800"})),
    Row("metadata-deeply-nested", "tracker", META, "a list nested 5,000 deep",
        Becomes("cut at depth 32 with `<too deep>`", _deep_placeholder),
        lambda c: c.t.track_human_message("m", metadata={"l": _deep_list(5000)})),
    Row("metadata-cyclic-list", "tracker", META, "a list that contains itself",
        Becomes("the repeat becomes `<cycle>`", _metadata_is({"l": ["<cycle>"]})),
        lambda c: c.t.track_human_message("m", metadata={"l": _cyclic_list()})),
    Row("metadata-nan-infinities", "tracker", META, "`{'v': [nan, inf, -inf]}`",
        Becomes("each becomes JSON `null`", _metadata_is({"v": [None, None, None]})),
        lambda c: c.t.track_human_message("m", metadata={"v": [math.nan, math.inf, -math.inf]})),
    Row("metadata-unprintable-object", "tracker", META, "an object whose `__str__` raises",
        Becomes("`<unprintable TypeName>`", _metadata_is({"o": "<unprintable Unprintable>"})),
        lambda c: c.t.track_human_message("m", metadata={"o": Unprintable()})),
    Row("metadata-tuple-key", "tracker", META, "`{(1, 2): 'v'}`",
        Becomes("the key as its text", _metadata_is({"(1, 2)": "v"})),
        lambda c: c.t.track_human_message("m", metadata={(1, 2): "v"})),
    Row("metadata-huge-integer", "tracker", META, "`{'n': 2**200}`",
        Becomes("kept as an exact JSON number", _metadata_is({"n": 2**200})),
        lambda c: c.t.track_human_message("m", metadata={"n": 2**200})),
    Row("metadata-mapping-proxy", "tracker", META, "a read-only `MappingProxyType`",
        Becomes("accepted as a dict", _metadata_is({"a": 1})),
        lambda c: c.t.track_human_message("m", metadata=types.MappingProxyType({"a": 1}))),
    Row("metadata-non-utf8-bytes", "tracker", META, "`{'raw': b'\\xff\\xfe'}`",
        Becomes("base64 text", _metadata_is({"raw": "//4="})),
        lambda c: c.t.track_human_message("m", metadata={"raw": b"\xff\xfe"})),
    Row("metadata-mixed-set", "tracker", META, "`{'s': {1, 'a', None}}`",
        Becomes("a list, in the order of the members' repr", _metadata_is({"s": ["a", 1, None]})),
        lambda c: c.t.track_human_message("m", metadata={"s": {1, "a", None}})),
    Row("conversation-id-lone-surrogate", "tracker", "track_human_message('x', "
        "conversation_id=...)", "`'c\\ud800'`", Raises(ValidationError),
        lambda c: c.t.track_human_message("x", conversation_id="c\ud800")),
    Row("conversation-id-too-long", "tracker", "track_human_message('x', conversation_id=...)",
        "256 characters", Raises(ValidationError),
        lambda c: c.t.track_human_message("x", conversation_id="c" * 256)),
    Row("conversation-id-control-characters", "tracker", "track_human_message('x', "
        "conversation_id=...)", "`'line\\nbreak'`",
        Becomes("kept as given (an opaque id)", _own_conversation_delivered("line\nbreak")),
        _track_in("line\nbreak")),
    Row("customer-ip-invalid", "tracker", "get_or_create_conversation(customer_ip_address=...)",
        "`'999.1.1.1'`", Raises(ValidationError),
        lambda c: c.t.get_or_create_conversation(KEEP, customer_ip_address="999.1.1.1")),
    Row("customer-id-whitespace", "tracker", "get_or_create_conversation(customer_id=...)",
        "`'   '`", Becomes("treated as not given", _no_customer_id),
        lambda c: c.t.get_or_create_conversation(KEEP, customer_id="   ")),
    Row("environment-unknown", "tracker", "get_or_create_conversation(environment=...)",
        "`'staging'` (not listed by the backend)",
        Becomes("sent without an environment, with a warning", _unknown_environment),
        lambda c: c.t.get_or_create_conversation(KEEP, environment="staging")),
    Row("environment-int", "tracker", "get_or_create_conversation(environment=...)", "`7`",
        Raises(ValidationError), lambda c: c.t.get_or_create_conversation(KEEP, environment=7)),
    Row("conversation-name-int", "tracker", "get_or_create_conversation(name=...)", "`123`",
        Raises(ValidationError), lambda c: c.t.get_or_create_conversation(KEEP, name=123)),
    Row("conversation-metadata-cyclic", "tracker", "get_or_create_conversation(metadata=...)",
        "a dict that contains itself",
        Becomes("the repeat becomes `<cycle>`",
                lambda c: _equal(keep_block(c.backend.transport)["metadata"],
                                 {"a": 1, "self": "<cycle>"})),
        lambda c: c.t.get_or_create_conversation(KEEP, metadata=_cyclic_dict())),
    Row("tokens-bool", "tracker", "track_token_usage(prompt, completion)", "`True, 0`",
        Raises(ValidationError), lambda c: c.t.track_token_usage(True, 0)),
    Row("tokens-over-int64", "tracker", "track_token_usage(prompt, completion)", "`2**63, 0`",
        Raises(ValidationError), lambda c: c.t.track_token_usage(2**63, 0)),
    Row("tokens-string", "tracker", "track_token_usage(prompt, completion)", "`'10', 0`",
        Raises(ValidationError), lambda c: c.t.track_token_usage("10", 0)),
    Row("tokens-model-int", "tracker", "track_token_usage(1, 1, model=...)", "`5`",
        Raises(ValidationError), lambda c: c.t.track_token_usage(1, 1, model=5)),
    Row("action-duration-nan", "tracker", ACTION, "`duration_ms=nan`", Raises(ValidationError),
        lambda c: c.t.track_action("a", duration_ms=math.nan)),
    Row("action-duration-infinite", "tracker", ACTION, "`duration_ms=inf`",
        Raises(ValidationError), lambda c: c.t.track_action("a", duration_ms=math.inf)),
    Row("action-duration-enormous", "tracker", ACTION, "`duration_ms=1e300`",
        Raises(ValidationError), lambda c: c.t.track_action("a", duration_ms=1e300)),
    Row("action-duration-huge-int", "tracker", ACTION, "`duration_ms=10**400` (no float holds it)",
        Raises(ValidationError), lambda c: c.t.track_action("a", duration_ms=10**400)),
    Row("action-started-huge-int", "tracker", ACTION, "`started_at=10**400`",
        Raises(ValidationError), lambda c: c.t.track_action("a", started_at=10**400)),
    Row("action-started-far-future", "tracker", ACTION, "`started_at=1e20` (epoch seconds)",
        Raises(ValidationError), lambda c: c.t.track_action("a", started_at=1e20)),
    Row("action-started-year-1", "tracker", ACTION, "`started_at=datetime(1, 1, 1)`",
        Raises(ValidationError), lambda c: c.t.track_action("a", started_at=dt.datetime(1, 1, 1))),
    Row("action-kind-unknown", "tracker", ACTION, "`kind='agent'`", Raises(ValidationError),
        lambda c: c.t.track_action("a", kind="agent")),
    Row("action-tools-cyclic", "tracker", ACTION, "`tools_used=` a dict that contains itself",
        Becomes("the repeat becomes `<cycle>` (after one copy)", _tool(
            sc.TOOL_ARGUMENTS, {"a": 1, "self": {"a": 1, "self": "<cycle>"}}, decode=True)),
        lambda c: c.t.track_action("a", tools_used=_cyclic_dict())),
    Row("action-response-unprintable", "tracker", ACTION, "`response=` an object whose "
        "`__str__` raises", Becomes("`\"<unprintable TypeName>\"`",
                                    _tool(sc.TOOL_RESPONSE, '"<unprintable Unprintable>"')),
        lambda c: c.t.track_action("a", response=Unprintable())),
    Row("action-error-lone-surrogate", "tracker", ACTION, "`error_msg='boom\\ud800'`",
        Becomes("the surrogate replaced by U+FFFD", _tool(sc.TOOL_ERROR, "boom\ufffd")),
        lambda c: c.t.track_action("a", error_msg="boom\ud800")),
    Row("button-label-enormous", "tracker", "track_button(event, label, value)",
        "a 1,000,000-character label", Becomes("clipped to 255 characters", _label_clipped),
        lambda c: c.t.track_button("e", "l" * 1_000_000, "v")),
    Row("button-label-int", "tracker", "track_button(event, label, value)", "`label=5`",
        Raises(ValidationError), lambda c: c.t.track_button("e", 5, "v")),
    Row("attachment-filename-nul", "tracker", "track_attachments([...])",
        "`filename='a\\x00b'`", Raises(ValidationError),
        lambda c: c.t.track_attachments([{"filename": "a\x00b", "data": GOOD_B64}])),
    Row("attachment-filename-traversal", "tracker", "track_attachments([...])",
        "`filename='../../etc/passwd'`",
        Becomes("kept as a label (never used as a path)", _traversal_name_kept),
        lambda c: c.t.track_attachments([{"filename": "../../etc/passwd", "data": GOOD_B64}])),
    Row("message-attachments-not-list", "tracker", "track_human_message('x', attachments=...)",
        "`'a.pdf'`", Raises(ValidationError),
        lambda c: c.t.track_human_message("x", attachments="a.pdf")),
    Row("send-timeout-string", "tracker", "send_tracked_data(timeout=...)", "`'soon'`",
        Raises(ValidationError), lambda c: _send(c, "soon")),
    Row("send-timeout-nan", "tracker", "send_tracked_data(timeout=...)", "`nan`",
        Raises(ValidationError), lambda c: _send(c, math.nan)),
    Row("send-timeout-huge-int", "tracker", "send_tracked_data(timeout=...)", "`10**400`",
        Raises(ValidationError), lambda c: _send(c, 10**400)),
    Row("send-timeout-negative", "tracker", "send_tracked_data(timeout=...)", "`-5`",
        Becomes("treated as 0: returns at once",
                lambda c: _equal(c.result["status"] in ("delivered", "pending"), True)),
        lambda c: _send(c, -5)),
    Row("summary-blank-id", "tracker", "get_tracked_data_summary(conversation_id=...)",
        "`'  '`", Raises(ValidationError),
        lambda c: c.t.get_tracked_data_summary(conversation_id="  ")),
    Row("token-usage-int-id", "tracker", "get_token_usage(conversation_id=...)", "`5`",
        Raises(ValidationError), lambda c: c.t.get_token_usage(5)),
]  # fmt: skip

DECORATOR_ROWS = [
    Row("decorator-kind-unknown", "decorator", "@traced_action(kind=...)", "`'agent'`",
        Raises(ValidationError), lambda c: traced_action(kind="agent")),
    Row("decorator-name-blank", "decorator", "@traced_action(name=...)", "`'  '`",
        Raises(ValidationError), lambda c: traced_action(name="  ")),
    Row("decorator-redact-not-callable", "decorator", "@traced_action(redact=...)", "`'***'`",
        Raises(ValidationError), lambda c: traced_action(redact="***")),  # type: ignore[arg-type]
    Row("decorator-conversation-id-blank", "decorator", "@traced_action(conversation_id=...)",
        "`' '`", Raises(ValidationError), lambda c: traced_action(conversation_id=" ")),
    Row("decorator-not-callable", "decorator", "traced_action(target)", "`42`",
        Raises(ValidationError), lambda c: traced_action(42)),  # type: ignore[call-overload]
    Row("decorated-unprintable-argument", "decorator", "a decorated tool called with ...",
        "an object whose `__str__` raises",
        Becomes("the call returns it; recorded as `<unprintable TypeName>`",
                _tool(sc.TOOL_ARGUMENTS, {"value": "<unprintable Unprintable>"}, decode=True)),
        lambda c: echo(Unprintable())),
    Row("decorated-cyclic-argument", "decorator", "a decorated tool called with ...",
        "a list that contains itself",
        Becomes("recorded with `<cycle>`",
                _tool(sc.TOOL_ARGUMENTS, {"value": ["<cycle>"]}, decode=True)),
        lambda c: echo(_cyclic_list())),
    Row("decorated-nan-result", "decorator", "a decorated tool returning ...", "`nan`",
        Becomes("recorded as JSON `null`", _tool(sc.TOOL_RESPONSE, "null")),
        lambda c: echo(math.nan)),
    Row("decorated-surrogate-argument", "decorator", "a decorated tool called with ...",
        "`'a\\ud800'`", Becomes("recorded with U+FFFD",
                              _tool(sc.TOOL_ARGUMENTS, {"value": "a\ufffd"}, decode=True)),
        lambda c: echo("a\ud800")),
    Row("decorated-enormous-result", "decorator", "a decorated tool returning ...",
        "1,000,000 characters", Becomes("truncated to 16,384 + `...[truncated]`",
                                        _enormous_result),
        lambda c: echo("r" * 1_000_000)),
    Row("decorated-redact-hook-raises", "decorator", "@traced_action(redact=hook)",
        "a hook that raises", Becomes("the call runs; no arguments recorded; logged",
                                      _no_arguments),
        lambda c: guarded("hunter2")),
    Row("decorated-tool-raises", "decorator", "a decorated tool that raises", "`ValueError`",
        Raises(ValueError), lambda c: explode(1)),
]  # fmt: skip


def _exporter(**kwargs: Any) -> AgentSightSpanExporter:
    return AgentSightSpanExporter(api_key=TEST_API_KEY, _transport=ScriptedTransport(), **kwargs)


def _env(name: str, value: str) -> Callable[[Case], Any]:
    def run(c: Case) -> Any:
        c.env.setenv(name, value)
        return resolve_settings()

    return run


CONFIG = "tracker.configure(...)"
CONFIGURATION_ROWS = [
    Row("config-api-key-int", "configuration", CONFIG, "`api_key=123`",
        Raises(InvalidApiKeyError), lambda c: c.t.configure(api_key=123)),
    Row("config-api-key-newline", "configuration", CONFIG, "a key with a newline inside",
        Raises(InvalidApiKeyError), lambda c: c.t.configure(api_key=TEST_API_KEY[:20] + "\n"
                                                             + TEST_API_KEY[21:])),
    Row("config-api-key-fullwidth-digits", "configuration", CONFIG,
        "32 full-width digits (`'\\uff10'`)", Raises(InvalidApiKeyError),
        lambda c: c.t.configure(api_key="ags_" + "\uff10" * 32 + "_abcdef")),
    Row("config-endpoint-no-host", "configuration", CONFIG, "`endpoint='http://'`",
        Raises(ConfigurationError), lambda c: c.t.configure(endpoint="http://")),
    Row("config-endpoint-credentials", "configuration", CONFIG,
        "`endpoint='https://user:pw@host'`", Raises(ConfigurationError),
        lambda c: c.t.configure(endpoint="https://user:pw@host")),
    Row("config-endpoint-crlf", "configuration", CONFIG, "`endpoint='https://host\\r\\nX: y'`",
        Raises(ConfigurationError), lambda c: c.t.configure(endpoint="https://host\r\nX: y")),
    Row("config-endpoint-bad-port", "configuration", CONFIG, "`endpoint='https://host:99999'`",
        Raises(ConfigurationError), lambda c: c.t.configure(endpoint="https://host:99999")),
    Row("config-endpoint-query", "configuration", CONFIG, "`endpoint='https://host/?a=1'`",
        Raises(ConfigurationError), lambda c: c.t.configure(endpoint="https://host/?a=1")),
    Row("config-send-timeout-nan", "configuration", CONFIG, "`send_timeout=nan`",
        Raises(ConfigurationError), lambda c: c.t.configure(send_timeout=math.nan)),
    Row("config-send-timeout-bool", "configuration", CONFIG, "`send_timeout=True`",
        Raises(ConfigurationError), lambda c: c.t.configure(send_timeout=True)),
    Row("config-send-timeout-huge-int", "configuration", CONFIG, "`send_timeout=10**400`",
        Raises(ConfigurationError), lambda c: c.t.configure(send_timeout=10**400)),
    Row("config-compression-unknown", "configuration", CONFIG, "`compression='br'`",
        Raises(ConfigurationError), lambda c: c.t.configure(compression="br")),
    Row("config-log-level-unknown", "configuration", CONFIG, "`log_level='LOUD'`",
        Raises(ConfigurationError), lambda c: c.t.configure(log_level="LOUD")),
    Row("config-environment-blank", "configuration", CONFIG, "`environment='  '`",
        Raises(ConfigurationError), lambda c: c.t.configure(environment="  ")),
    Row("config-redact-junk", "configuration", CONFIG, "`redact='yes'`",
        Raises(ConfigurationError), lambda c: c.t.configure(redact="yes")),
    Row("config-redact-bad-pattern", "configuration", "Redactor(patterns=[...])",
        "`[('(', 'x')]`, an invalid regex", Raises(ConfigurationError),
        lambda c: Redactor(patterns=[("(", "x")])),
    Row("exporter-verify-tls-string", "configuration", "AgentSightSpanExporter(verify_tls=...)",
        "`'no'`", Raises(ConfigurationError), lambda c: _exporter(verify_tls="no")),
    Row("exporter-verify-tls-zero", "configuration", "AgentSightSpanExporter(verify_tls=...)",
        "`0`", Raises(ConfigurationError), lambda c: _exporter(verify_tls=0)),
    Row("exporter-max-body-fraction", "configuration",
        "AgentSightSpanExporter(max_body_bytes=...)", "`0.5`", Raises(ConfigurationError),
        lambda c: _exporter(max_body_bytes=0.5)),
    Row("exporter-request-timeout-infinite", "configuration",
        "AgentSightSpanExporter(request_timeout=...)", "`inf`", Raises(ConfigurationError),
        lambda c: _exporter(request_timeout=math.inf)),
    Row("env-api-key-malformed", "configuration", "AGENTSIGHT_API_KEY", "`'sk-live-…'`",
        Becomes("delivery off, the problem logged by the exporter (never the key)",
                _settings_from_env(lambda s: s.api_key is None and bool(s.key_problem), None)),
        _env("AGENTSIGHT_API_KEY", "sk-live-" + KEY_BODY)),
    Row("env-endpoint-not-a-url", "configuration", "AGENTSIGHT_API_ENDPOINT", "`'not a url'`",
        Becomes("ignored with an error log; the default endpoint",
                _settings_from_env(lambda s: s.endpoint == DEFAULT_ENDPOINT,
                                   "ignoring AGENTSIGHT_API_ENDPOINT")),
        _env("AGENTSIGHT_API_ENDPOINT", "not a url")),
    Row("env-endpoint-undecodable-bytes", "configuration", "AGENTSIGHT_API_ENDPOINT",
        "a non-UTF-8 byte in the host (`'\\udcff'` in `os.environ`)",
        Becomes("ignored with an error log; the default endpoint",
                _settings_from_env(lambda s: s.endpoint == DEFAULT_ENDPOINT,
                                   "ignoring AGENTSIGHT_API_ENDPOINT")),
        _env("AGENTSIGHT_API_ENDPOINT", "https://h\udcffost")),
    Row("env-log-level-unknown", "configuration", "AGENTSIGHT_LOG_LEVEL", "`'LOUD'`",
        Becomes("ignored with an error log", _settings_from_env(
            lambda s: s.log_level is None, "ignoring AGENTSIGHT_LOG_LEVEL")),
        _env("AGENTSIGHT_LOG_LEVEL", "LOUD")),
    Row("env-environment-blank", "configuration", "AGENTSIGHT_ENVIRONMENT", "`'   '`",
        Becomes("ignored: `production`",
                _settings_from_env(lambda s: s.environment == "production", None)),
        _env("AGENTSIGHT_ENVIRONMENT", "   ")),
    Row("env-redact-pii-junk", "configuration", "AGENTSIGHT_REDACT_PII", "`'maybe'`",
        Becomes("ignored with an error log; redaction stays off", _settings_from_env(
            lambda s: s.redact is None, "ignoring AGENTSIGHT_REDACT_PII")),
        _env("AGENTSIGHT_REDACT_PII", "maybe")),
]  # fmt: skip


# -- bridge rows -----------------------------------------------------------------------------

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON_TYPE = {"Content-Type": "application/json"}
AUTH = {"Authorization": f"Bearer {BRIDGE_TOKEN}"}


def _post(body: bytes | Callable[[], bytes], headers: dict[str, str]) -> Callable[[BridgeRig], int]:
    def run(rig: BridgeRig) -> int:
        data = body() if callable(body) else body
        return rig_post(rig, data, headers)

    return run


@functools.cache
def _valid(cid: str) -> bytes:
    return otlp_protobuf(captured_spans(cid))


def _truncated() -> bytes:
    return _valid("truncated")[:-7]


def _json_span(**extra: Any) -> bytes:
    span = {"traceId": TRACE, "spanId": SPAN, "name": "op", **extra}
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    return json.dumps(document).encode()


def _ends_before_start() -> bytes:
    attributes = [
        {"key": sc.CONVERSATION_ID, "value": {"stringValue": "backwards"}},
        {"key": sc.SPAN_KIND, "value": {"stringValue": "turn"}},
    ]
    return _json_span(
        traceId="0af7651916cd43dd8448eb211c80319d",
        startTimeUnixNano="2000000000000000000",
        endTimeUnixNano="1000000000000000000",
        attributes=attributes,
    )


def _zero_duration(rig: BridgeRig) -> None:
    [span] = wire_spans(rig.backend, "turn", "backwards")
    assert span["duration_ms"] == 0 and span["ended_at"] == span["started_at"]


def _raw_content_length(rig: BridgeRig) -> int:
    assert rig.bridge.http_url is not None
    host, port = rig.bridge.http_url.removeprefix("http://").rsplit(":", 1)
    request = (
        f"POST /v1/traces HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-protobuf\r\n"
        f"Authorization: Bearer {BRIDGE_TOKEN}\r\nContent-Length: abc\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


def _grpc(
    body: bytes | Callable[[], bytes], metadata: tuple[tuple[str, str], ...]
) -> Callable[[BridgeRig], Any]:
    def run(rig: BridgeRig) -> Any:
        assert rig.bridge.grpc_target is not None
        data = body() if callable(body) else body
        method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        with grpc.insecure_channel(rig.bridge.grpc_target) as channel:
            call = channel.unary_unary(method)
            try:
                call(data, timeout=10, metadata=metadata)
            except grpc.RpcError as error:
                return error.code()
        return grpc.StatusCode.OK

    return run


BRIDGE = "POST /v1/traces"
BRIDGE_ROWS = [
    Row("bridge-missing-token", "bridge", BRIDGE, "a valid body, no `Authorization`",
        Answers(401), _post(functools.partial(_valid, "no-token"), PROTOBUF)),
    Row("bridge-empty-bearer", "bridge", BRIDGE, "`Authorization: Bearer `", Answers(401),
        _post(b"", {**PROTOBUF, "Authorization": "Bearer "})),
    Row("bridge-non-ascii-token", "bridge", BRIDGE, "a token with a byte above 0x7f",
        Answers(401), _post(b"", {**PROTOBUF, "Authorization": "Bearer t\xf6k"})),
    Row("bridge-unauthenticated-oversize", "bridge", BRIDGE, "5 MB without a token",
        Answers(401, "refused before the body is read"), _post(b"\0" * 5_000_000, PROTOBUF)),
    Row("bridge-truncated-protobuf", "bridge", BRIDGE, "a valid request cut 7 bytes short",
        Answers(400), _post(_truncated, {**PROTOBUF, **AUTH})),
    Row("bridge-json-nan", "bridge", BRIDGE, "`NaN` as a double attribute",
        Answers(400), _post(_json_span(attributes=[{"key": "n", "value": {"doubleValue": 1}}])
                            .replace(b'"doubleValue": 1', b'"doubleValue": NaN'),
                            {**JSON_TYPE, **AUTH})),
    Row("bridge-json-deep-nesting", "bridge", BRIDGE, "arrays nested 100,000 deep",
        Answers(400), _post(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                            {**JSON_TYPE, **AUTH})),
    Row("bridge-json-non-utf8", "bridge", BRIDGE, "bytes `\\xff\\xfe` inside a JSON string",
        Answers(400), _post(b'{"resourceSpans": "\xff\xfe"}', {**JSON_TYPE, **AUTH})),
    Row("bridge-json-lone-surrogate", "bridge", BRIDGE, "`\"\\ud800\"` as a span name",
        Answers(200, "accepted, the surrogate replaced by U+FFFD (as protobuf and gRPC do)"),
        _post(_json_span(name="\ud800"), {**JSON_TYPE, **AUTH})),
    Row("bridge-json-wrong-shape", "bridge", BRIDGE, "`{\"resourceSpans\": \"x\"}`",
        Answers(400), _post(b'{"resourceSpans": "x"}', {**JSON_TYPE, **AUTH})),
    Row("bridge-json-int-overflow", "bridge", BRIDGE, "an `intValue` of 23 digits",
        Answers(400), _post(_json_span(attributes=[{"key": "n", "value": {
            "intValue": "99999999999999999999999"}}]), {**JSON_TYPE, **AUTH})),
    Row("bridge-deflate-bomb", "bridge", BRIDGE, "40 MB of zeros, deflated to 40 kB",
        Answers(413), _post(zlib.compress(b"\0" * 40_000_000),
                            {**PROTOBUF, **AUTH, "Content-Encoding": "deflate"})),
    Row("bridge-gzip-empty", "bridge", BRIDGE, "an empty body marked gzip",
        Answers(200, "an empty request"), _post(b"", {**PROTOBUF, **AUTH,
                                                      "Content-Encoding": "gzip"})),
    Row("bridge-gzip-garbage-tail", "bridge", BRIDGE, "a gzip member followed by junk",
        Answers(400), _post(gzip.compress(b"") + b"junk", {**PROTOBUF, **AUTH,
                                                           "Content-Encoding": "gzip"})),
    Row("bridge-unknown-content-type", "bridge", BRIDGE, "`Content-Type: application/xml`",
        Answers(415), _post(b"<x/>", {"Content-Type": "application/xml", **AUTH})),
    Row("bridge-malformed-content-length", "bridge", BRIDGE, "`Content-Length: abc`",
        Answers(400), _raw_content_length),
    Row("bridge-span-ends-before-start", "bridge", BRIDGE, "a turn span ending before it starts",
        Answers(200, "delivered ending when it started (duration 0)", _zero_duration),
        _post(_ends_before_start(), {**JSON_TYPE, **AUTH})),
    Row("grpc-truncated-protobuf", "bridge", "gRPC TraceService/Export",
        "a valid request cut 7 bytes short", Answers(grpc.StatusCode.INVALID_ARGUMENT),
        _grpc(_truncated, (("authorization", f"Bearer {BRIDGE_TOKEN}"),))),
    Row("grpc-basic-auth", "bridge", "gRPC TraceService/Export", "`authorization: Basic …`",
        Answers(grpc.StatusCode.UNAUTHENTICATED),
        _grpc(b"", (("authorization", f"Basic {BRIDGE_TOKEN}"),))),
]  # fmt: skip

IN_PROCESS_ROWS = TRACKER_ROWS + DECORATOR_ROWS + CONFIGURATION_ROWS
ROWS = IN_PROCESS_ROWS + BRIDGE_ROWS


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def case(backend: FakeBackend, monkeypatch: pytest.MonkeyPatch) -> Iterator[Case]:
    """A conversation with a message and a button already tracked; library logs collected."""
    made = Case(backend, monkeypatch)
    handler = _Collect(made.logs)
    library = logging.getLogger("agentsight_otel")
    library.addHandler(handler)
    backend.tracker.get_or_create_conversation(KEEP)
    backend.tracker.track_human_message("before")
    backend.tracker.track_button("ev", "Before", "b")
    yield made
    library.removeHandler(handler)


@pytest.mark.parametrize("row", IN_PROCESS_ROWS, ids=lambda row: row.id)
def test_in_process_row(row: Row, case: Case) -> None:
    outcome = row.outcome
    if isinstance(outcome, Raises):
        with pytest.raises(outcome.error):
            row.run(case)
    else:
        case.result = row.run(case)
    case.t.track_agent_message("after", conversation_id=KEEP)
    assert case.t.send_tracked_data(conversation_id=KEEP)["status"] == "delivered"
    transport = case.backend.transport
    assert [e for e in _contents(transport) if e in ("before", "after")] == ["before", "after"]
    assert "Before" in [s["name"] for s in wire_spans(transport, "button", KEEP)]
    assert_bodies_valid(transport)
    if isinstance(outcome, Becomes):
        outcome.check(case)


def _contents(transport: ScriptedTransport) -> list[str]:
    return [
        event["attributes"][sc.MESSAGE_CONTENT]
        for span in wire_spans(transport, "turn", KEEP)
        for event in span["events"]
        if event["name"] == sc.MESSAGE_EVENT
    ]


@pytest.mark.parametrize("row", BRIDGE_ROWS, ids=lambda row: row.id)
def test_bridge_row(row: Row, bridge_rig: BridgeRig) -> None:
    cid = f"valid-before-{row.id}"
    valid = _valid(cid)
    headers = {**PROTOBUF, **AUTH}
    assert rig_post(bridge_rig, valid, headers) == 200
    assert isinstance(row.outcome, Answers)
    assert row.run(bridge_rig) == row.outcome.status
    assert bridge_rig.bridge.flush(10)
    assert cid in conversation_ids(bridge_rig.backend)
    assert_bodies_valid(bridge_rig.backend)
    if row.outcome.check is not None:
        row.outcome.check(bridge_rig)


def rig_post(rig: BridgeRig, body: bytes, headers: dict[str, str]) -> int:
    """POST to the rig's bridge; the status."""
    return rig.session.post(rig.url, data=body, headers=headers, timeout=10).status_code


def test_the_table_has_forty_cases_or_more_in_every_area() -> None:
    assert len(ROWS) >= 40
    assert len({row.id for row in ROWS}) == len(ROWS)
    areas = {row.area for row in ROWS}
    assert areas == {"tracker", "decorator", "configuration", "bridge"}


def test_the_document_shows_this_table() -> None:
    from tests.unit.test_bad_input import BAD_CALLS

    text = DOC.read_text(encoding="utf-8")
    hint = "run: python -m tests.security.table"
    assert section(text, START, END) == render(ROWS), hint
    assert section(text, UNIT_START, UNIT_END) == render_unit(BAD_CALLS), hint
