"""PII redaction: the built-in rules, user patterns and hooks, and where the tracker applies them
(at the call, before the span or event exists, so every exporter sees only redacted values)."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentsight_otel import _semconv as sc
from agentsight_otel import traced_action
from agentsight_otel._redaction import (
    CARD_REPLACEMENT,
    EMAIL_REPLACEMENT,
    FAILED_REPLACEMENT,
    Redactor,
    luhn_valid,
)
from agentsight_otel.exceptions import ConfigurationError
from agentsight_otel.testing import FakeBackend
from tests.security.wire import KEEP, assert_bodies_valid, keep_block
from tests.unit.helpers import wire_spans

SECURITY = settings.get_profile("security")
EMAIL, VISA, AMEX = "jane.doe+orders@example.co.uk", "4111 1111 1111 1111", "3782-822463-10005"
PII = f"write to {EMAIL} or charge {VISA} / {AMEX}"
REDACTED = f"write to {EMAIL_REPLACEMENT} or charge {CARD_REPLACEMENT} / {CARD_REPLACEMENT}"


# -- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PII, REDACTED),
        ("a@b.io, x.y_z-1@sub.mail.example.org.", f"{EMAIL_REPLACEMENT}, {EMAIL_REPLACEMENT}."),
        ("not@an-address and @handle and a@b", "not@an-address and @handle and a@b"),
        ("5555555555554444", CARD_REPLACEMENT),  # Mastercard, no separators
        ("3056 930902 5904", CARD_REPLACEMENT),  # Diners, 14 digits
        ("4111 1111 1111 1112", "4111 1111 1111 1112"),  # fails Luhn: kept
        ("order 12-4111-1111-1111-1111", f"order 12-{CARD_REPLACEMENT}"),
        ("id 1234567890123456789012", "id 1234567890123456789012"),  # 22 digits: not a card
        ("call +1 555 0100 200", "call +1 555 0100 200"),  # too short
        ("٤١١١١١١١١١١١١١١١", "٤١١١١١١١١١١١١١١١"),  # non-ASCII digits are not card numbers
    ],
)
def test_built_in_rules(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


def test_rules_can_be_turned_off_and_patterns_added() -> None:
    redactor = Redactor(
        emails=False,
        patterns=[
            (r"\bACC-(\d+)\b", r"ACC-<\1>"),
            (re.compile(r"secret", re.IGNORECASE), lambda m: "*" * len(m.group())),
        ],
    )
    assert redactor.text(f"{EMAIL} ACC-991 Secret {VISA}") == (
        f"{EMAIL} ACC-<991> ****** {CARD_REPLACEMENT}"
    )


def test_a_user_function_runs_after_the_built_in_rules() -> None:
    seen: list[str] = []

    def hook(text: str) -> str:
        seen.append(text)
        return text.upper()

    assert Redactor(function=hook).text(f"hi {EMAIL}") == f"HI {EMAIL_REPLACEMENT.upper()}"
    assert seen == [f"hi {EMAIL_REPLACEMENT}"]


@pytest.mark.parametrize("hook", [lambda text: 1 / 0, lambda text: None, lambda text: b"x"])
def test_a_failing_hook_withholds_the_text_and_logs_no_content(
    hook: Callable[[str], Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="agentsight_otel"):
        assert Redactor(function=hook).text("private words") == FAILED_REPLACEMENT
    assert "private words" not in caplog.text


def test_values_are_redacted_in_keys_strings_and_card_like_integers() -> None:
    cycle: dict[str, Any] = {"who": EMAIL}
    cycle["again"] = cycle
    value = {EMAIL: [VISA, 4111111111111111, 12, True, None, 1.5], "cycle": cycle}
    assert Redactor().value(value) == {
        EMAIL_REPLACEMENT: [CARD_REPLACEMENT, CARD_REPLACEMENT, 12, True, None, 1.5],
        "cycle": {"who": EMAIL_REPLACEMENT, "again": "<cycle>"},
    }


def test_values_that_hold_no_text_are_left_alone() -> None:
    redactor = Redactor()
    for value in (None, True, 1.5, b"\xff", 12):
        assert redactor.value(value) is value


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        Redactor(patterns=[("(", "x")])
    with pytest.raises(ConfigurationError):
        Redactor(patterns=["just a regex"])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError):
        Redactor(function="not callable")  # type: ignore[arg-type]


ADVERSARIAL = {
    "letters": "a" * 1_000_000,
    "at signs": "a@" * 500_000,
    "dots": "a." * 500_000,
    "single digits": "1 " * 500_000,
    "digit triples": "111 " * 250_000,
    "digits": "1" * 1_000_000,
    "cards": (VISA + " ") * 50_000,
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_the_built_in_rules_take_linear_time(name: str) -> None:
    start = time.perf_counter()
    Redactor().text(ADVERSARIAL[name])
    assert time.perf_counter() - start < 1.0  # about 0.1 s here; quadratic would be hours


ANY_CHAR = st.characters(codec=None, categories=None, exclude_categories=())


def _card(prefix: str, length: int) -> st.SearchStrategy[str]:
    """Luhn-valid card numbers with the prefix, grouped by 4 with a space, a dash or nothing."""

    def complete(body: str) -> str:
        check = next(d for d in "0123456789" if luhn_valid(body + d))
        return body + check

    digits = st.text("0123456789", min_size=length - len(prefix) - 1, max_size=length - 1)
    numbers = digits.map(lambda rest: complete((prefix + rest)[: length - 1]))
    return st.tuples(numbers, st.sampled_from(["", " ", "-"])).map(
        lambda pair: pair[1].join(pair[0][i : i + 4] for i in range(0, len(pair[0]), 4))
    )


EMAILS = st.from_regex(r"[a-z0-9._+-]{1,12}@[a-z0-9-]{1,10}(\.[a-z]{2,6}){1,2}", fullmatch=True)
CARDS = _card("4", 16) | _card("51", 16) | _card("34", 15)


@settings(SECURITY, max_examples=300)
@given(st.text(ANY_CHAR, max_size=60), EMAILS | CARDS, st.text(ANY_CHAR, max_size=60))
def test_generated_emails_and_cards_never_survive(before: str, secret: str, after: str) -> None:
    text = f"{before} {secret} {after}"
    redacted = Redactor().text(text)
    assert secret not in redacted
    assert re.sub(r"[ -]", "", secret) not in re.sub(r"[ -]", "", redacted)


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(ANY_CHAR) | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(ANY_CHAR, max_size=8) | st.integers(), inner, max_size=3)
        | st.frozensets(st.integers(), max_size=3)
    ),
    max_leaves=10,
)


@settings(SECURITY, max_examples=300)
@given(VALUES)
def test_any_value_redacts_without_raising(value: Any) -> None:
    Redactor(function=lambda text: text).value(value)


# -- in the tracker ----------------------------------------------------------------------------


def _memory(backend: FakeBackend) -> InMemorySpanExporter:
    """A second exporter on the same provider: what any other route would receive."""
    memory = InMemorySpanExporter()
    backend.provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


def _track_everything(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation(KEEP, customer_id=EMAIL, metadata={"contact": EMAIL})
    t.track_human_message(PII, metadata={"card": VISA, EMAIL: "as a key"})
    t.track_agent_message(f"noted {EMAIL}")
    t.track_action(
        "charge",
        tools_used={"card": VISA},
        response=f"charged {AMEX}",
        error_msg=f"mail {EMAIL} bounced",
        metadata={"n": 4111111111111111},
    )
    t.track_button("choice", f"Email {EMAIL}", VISA, metadata={"to": EMAIL})
    t.track_attachments([{"filename": f"{EMAIL}.txt", "data": "aGk="}], metadata={"from": EMAIL})
    assert t.send_tracked_data()["status"] == "delivered"


def _texts(backend: FakeBackend, memory: InMemorySpanExporter) -> tuple[str, str]:
    """Everything the ingest bodies carried, and every attribute the other exporter saw."""
    wire = "\n".join(json.dumps(body) for body in backend.transport.bodies())
    spans = [
        {
            "attributes": dict(s.attributes or {}),
            "events": [dict(e.attributes or {}) for e in s.events],
        }
        for s in memory.get_finished_spans()
    ]
    return wire, json.dumps(spans)


def test_redaction_covers_messages_metadata_and_actions_on_every_route(
    backend: FakeBackend,
) -> None:
    memory = _memory(backend)
    backend.tracker.configure(redact=True)
    _track_everything(backend)
    wire, other = _texts(backend, memory)
    # Customer ids, button labels and values and file names too (tests/security/test_pii_fields.py
    # plants an address in every field on both routes).
    for text in (wire, other):
        assert EMAIL not in text and VISA not in text and AMEX not in text
        assert "4111111111111111" not in text
    assert_bodies_valid(backend.transport)
    [tool] = wire_spans(backend.transport, "tool", KEEP)
    assert json.loads(tool["attributes"][sc.TOOL_ARGUMENTS]) == {"card": CARD_REPLACEMENT}
    assert tool["attributes"][sc.TOOL_RESPONSE] == f"charged {CARD_REPLACEMENT}"
    assert tool["attributes"][sc.TOOL_ERROR] == f"mail {EMAIL_REPLACEMENT} bounced"
    assert keep_block(backend.transport)["metadata"] == {"contact": EMAIL_REPLACEMENT}


def test_redaction_is_off_by_default(backend: FakeBackend) -> None:
    backend.tracker.track_human_message(PII, conversation_id=KEEP)
    backend.tracker.send_tracked_data(conversation_id=KEEP)
    assert PII in json.dumps(backend.transport.bodies(), ensure_ascii=False)


def test_the_environment_opts_in_and_an_argument_wins(
    backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTSIGHT_REDACT_PII", "1")
    backend.tracker.configure(endpoint="http://agentsight.test")  # settings read again
    backend.tracker.track_human_message(PII, conversation_id="env")
    backend.tracker.configure(redact=False)
    backend.tracker.track_human_message(PII, conversation_id="off")
    sent = {cid: backend.tracker.send_tracked_data(conversation_id=cid) for cid in ("env", "off")}
    assert all(result["status"] == "delivered" for result in sent.values())
    wire = json.dumps(backend.transport.bodies(), ensure_ascii=False)
    assert REDACTED in wire and PII in wire


def test_a_user_callable_is_added_to_the_built_in_rules(backend: FakeBackend) -> None:
    backend.tracker.configure(redact=lambda text: text.replace("ACME", "[org]"))
    backend.tracker.track_human_message(f"ACME {EMAIL}", conversation_id=KEEP)
    backend.tracker.send_tracked_data(conversation_id=KEEP)
    assert f"[org] {EMAIL_REPLACEMENT}" in json.dumps(backend.transport.bodies())


def test_the_summary_preview_is_redacted_too(backend: FakeBackend) -> None:
    backend.tracker.configure(redact=True)
    backend.tracker.track_human_message(PII, conversation_id=KEEP)
    summary = backend.tracker.get_tracked_data_summary(KEEP)
    assert EMAIL not in orjson.dumps(summary).decode()


def test_traced_action_errors_are_redacted_and_the_exception_is_untouched(
    backend: FakeBackend,
) -> None:
    memory = _memory(backend)
    backend.tracker.configure(redact=True)
    backend.tracker.get_or_create_conversation(KEEP)
    error = LookupError(f"no order for {EMAIL}")

    @traced_action
    def lookup() -> None:
        raise error

    with pytest.raises(LookupError) as raised:
        lookup()
    assert raised.value is error and str(error) == f"no order for {EMAIL}"
    [span] = [s for s in memory.get_finished_spans() if s.name == "lookup"]
    [event] = span.events
    attributes = dict(event.attributes or {})
    stacktrace = str(attributes["exception.stacktrace"])
    assert event.name == "exception" and attributes["exception.type"] == "LookupError"
    assert attributes["exception.message"] == f"no order for {EMAIL_REPLACEMENT}"
    assert "Traceback" in stacktrace and "raise error" in stacktrace
    assert EMAIL not in stacktrace and EMAIL_REPLACEMENT in stacktrace
    assert span.status.description == f"LookupError: no order for {EMAIL_REPLACEMENT}"
