"""The seed API at its edges (issue 11 items 1, 3, 4 and 5): what the seed pages' own calls do."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import threading
from typing import Any

import pytest

from agentsight_otel import ConversationTracker
from agentsight_otel._config import resolve_settings
from agentsight_otel.exceptions import NothingToSendError
from agentsight_otel.testing import AgentSightCapture, FakeBackend, fake_backend
from tests.unit.helpers import BlockingTransport, messages

SEED_CONVERSATION_ORDER = [
    "conversation_id",
    "customer_id",
    "customer_ip_address",
    "device",
    "source",
    "language",
    "environment",
    "metadata",
]


def test_blocking_send_on_a_running_loop_returns_pending_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = BlockingTransport()  # AgentSight hangs
    hung = fake_backend(transport=transport).tracker  # type: ignore[arg-type]
    hung.configure(send_timeout=3600)
    results: list[dict[str, Any]] = []

    async def chat() -> None:
        hung.get_or_create_conversation("in-loop")
        hung.track_human_message("hello")
        results.append(hung.send_tracked_data())
        results.append(hung.initialize_conversation("visit-in-loop"))

    runner = threading.Thread(target=asyncio.run, args=(chat(),), daemon=True)
    runner.start()
    runner.join(30)  # before: the loop waited send_timeout (an hour) on each call
    transport.close()
    assert not runner.is_alive()
    assert [r["status"] for r in results] == ["pending", "pending"]
    assert "await asend_tracked_data()" in caplog.text


def test_send_with_nothing_current_sends_every_conversation_holding_data(
    backend: FakeBackend,
) -> None:
    t = backend.tracker
    t.track_button("user_confirmation", "Confirm", "order_1", conversation_id="a")
    t.track_button("user_confirmation", "Confirm", "order_2", conversation_id="b")
    response = t.send_tracked_data()  # "Send all tracked data at once"
    assert [c["conversation_id"] for c in response["conversations"]] == ["a", "b"]
    assert response["summary"]["buttons"] == 2 and response["status"] == "delivered"
    assert [item["conversation_id"] for item in response["items"]] == ["a", "b"]
    with pytest.raises(NothingToSendError):
        t.send_tracked_data()  # nothing left anywhere


def test_seed_methods_take_the_seed_positional_order() -> None:
    for method in (
        ConversationTracker.initialize_conversation,
        ConversationTracker.get_or_create_conversation,
    ):
        parameters = list(inspect.signature(method).parameters.values())[1:]
        positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
        assert positional == SEED_CONVERSATION_ORDER
        assert inspect.signature(method).parameters["name"].kind is inspect.Parameter.KEYWORD_ONLY


def test_initialize_conversation_positional_call_from_the_seed(backend: FakeBackend) -> None:
    t = backend.tracker
    result = t.initialize_conversation(
        "visit-1", "user-1", "203.0.113.9", "mobile", "web", "en-US", "development", {"p": 1}
    )
    assert result["status"] == "delivered"


def test_usage_total_agrees_with_what_agentsight_counts(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("tokens")
    running = t.track_token_usage(10, 2, total_tokens=99)
    assert running["total_tokens"] == 12 == t.get_token_usage()["total_tokens"]


def test_started_at_as_iso_text_as_the_old_sdk_took(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("iso")
    item = t.track_action(
        "lookup", started_at="2024-01-15T10:30:00Z", ended_at="2024-01-15T10:30:01.5+00:00"
    )
    assert (item["started_at"], item["duration_ms"]) == ("2024-01-15T10:30:00.000000+00:00", 1500.0)
    naive = t.track_action("naive", started_at=dt.datetime(2024, 1, 15).isoformat())
    assert naive["started_at"].startswith("2024-01-15T00:00:00")


def test_an_action_given_only_a_duration_follows_the_message_before_it(
    backend: FakeBackend,
) -> None:
    t = backend.tracker
    t.get_or_create_conversation("order")
    t.track_human_message("Question")
    t.track_action(action_name="database_lookup", duration_ms=150)
    t.track_agent_message("Answer")
    types = [i["type"] for i in t.get_tracked_data_summary("order")["items"]]
    assert types == ["question", "action", "answer"]
    t.send_tracked_data()
    assert messages(backend.transport, "order") == ["Question", "Answer"]


def test_a_malformed_key_from_the_environment_is_reported_as_such(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="agentsight_otel")
    monkeypatch.setenv("AGENTSIGHT_API_KEY", "not-a-key")
    reason = resolve_settings().no_key_reason()
    assert "refused" in reason and "not-a-key" not in reason
    assert "AGENTSIGHT_API_KEY" in reason


def test_usage_tracked_without_a_model_shows_no_made_up_model(
    agentsight_capture: AgentSightCapture,
) -> None:
    t = agentsight_capture.tracker
    t.get_or_create_conversation("no-model")
    t.track_token_usage(prompt_tokens=100, completion_tokens=25, total_tokens=125)
    t.send_tracked_data()
    usage = agentsight_capture.usage("no-model")
    assert "llm" not in str(usage), usage
    assert usage["totals"]["total_tokens"] == 125


@pytest.mark.parametrize("when", [dt.datetime(2554, 1, 1), dt.datetime(9999, 1, 1), 2**64 / 1e9])
def test_action_times_otlp_cannot_carry_are_refused_at_the_call(when: object) -> None:
    # OTLP's span times are unsigned 64-bit nanoseconds (they end in 2554): a later time was
    # accepted and then made the OTLP exporter fail the whole batch ("Value out of range").
    from agentsight_otel._tracker.timing import to_ns
    from agentsight_otel.exceptions import ValidationError

    with pytest.raises(ValidationError, match="2553"):
        to_ns(when, "started_at")
    assert to_ns(dt.datetime(2553, 12, 31), "started_at") < 2**64
