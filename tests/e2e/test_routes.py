"""The ways in, end to end over real HTTP into the project's own server."""

from __future__ import annotations

import json
from pathlib import Path

from agentsight_otel import ConversationTracker, traced_action
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY
from tests.e2e.conftest import run_python
from tests.support.local import read_local


def test_private_pipeline_delivers_a_whole_conversation(server: LocalServer) -> None:
    tracker = ConversationTracker(
        api_key=TEST_API_KEY, endpoint=server.url, _ledger=DeliveryLedger()
    )
    try:
        tracker.get_or_create_conversation("e2e-1", customer_id="u-1", name="Order")

        @traced_action
        def lookup(order: str) -> str:
            return f"order {order} shipped"

        tracker.track_human_message("Where is my order?")
        lookup("A-1")
        tracker.track_button("choice", "Refund", "refund")
        tracker.track_token_usage(10, 5, model="m")
        tracker.track_agent_message("It shipped.")
        result = tracker.send_tracked_data()
    finally:
        tracker.shutdown()

    assert result["status"] == "delivered"
    assert result["summary"]["questions"] == 1
    assert result["summary"]["actions"] == 1
    messages = read_local(server.url, "e2e-1", "transcript/")["messages"]
    assert [(m["sender"], m["content"]) for m in messages] == [
        ("end_user", "Where is my order?"),
        ("agent", "It shipped."),
    ]
    actions = read_local(server.url, "e2e-1", "actions/")["actions"]
    assert [(a["name"], a["response"]) for a in actions] == [("lookup", "order A-1 shipped")]
    assert json.loads(json.dumps(actions[0]["arguments"])) == {"order": "A-1"}
    assert read_local(server.url, "e2e-1", "buttons/")["buttons"][0]["label"] == "Refund"
    assert read_local(server.url, "e2e-1", "usage/")["totals"]["total_tokens"] == 15
    conversation = read_local(server.url, "e2e-1")
    assert (conversation["customer_id"], conversation["name"]) == ("u-1", "Order")
    assert conversation["is_used"] is True


def test_visit_alone_is_not_engagement(server: LocalServer) -> None:
    tracker = ConversationTracker(
        api_key=TEST_API_KEY, endpoint=server.url, _ledger=DeliveryLedger()
    )
    try:
        result = tracker.initialize_conversation("visit-1", device="mobile", source="web")
    finally:
        tracker.shutdown()
    assert result["status"] == "delivered"
    assert result["items"][0]["type"] == "conversation"
    conversation = read_local(server.url, "visit-1")
    assert conversation["is_used"] is False
    assert conversation["device"] == "mobile"


def test_user_global_sdk_provider_with_the_exporter_added(server: LocalServer) -> None:
    done = run_python(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from agentsight_otel import AgentSightSpanExporter, conversation_tracker

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(AgentSightSpanExporter()))
        trace.set_tracer_provider(provider)
        conversation_tracker.get_or_create_conversation("global-1")
        conversation_tracker.track_human_message("hello from the user's provider")
        print(conversation_tracker.send_tracked_data()["status"])
        provider.shutdown()
        """,
        AGENTSIGHT_API_KEY=TEST_API_KEY,
        AGENTSIGHT_API_ENDPOINT=server.url,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "delivered"
    messages = read_local(server.url, "global-1", "transcript/")["messages"]
    assert messages[0]["content"] == "hello from the user's provider"


def test_otel_traces_exporter_agentsight_entry_point(server: LocalServer) -> None:
    done = run_python(
        """
        from opentelemetry import trace
        from opentelemetry.sdk._configuration import _OTelSDKConfigurator
        from agentsight_otel import conversation_tracker

        _OTelSDKConfigurator().configure()
        conversation_tracker.get_or_create_conversation("autoconf-1")
        conversation_tracker.track_human_message("configured by OTEL_TRACES_EXPORTER")
        print(conversation_tracker.send_tracked_data()["status"])
        trace.get_tracer_provider().shutdown()
        """,
        OTEL_TRACES_EXPORTER="agentsight",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        AGENTSIGHT_API_KEY=TEST_API_KEY,
        AGENTSIGHT_API_ENDPOINT=server.url,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "delivered"
    assert (
        read_local(server.url, "autoconf-1", "transcript/")["messages"][0]["sender"] == "end_user"
    )


def test_same_conversation_from_two_processes_is_one_trace(server: LocalServer) -> None:
    code = """
        from agentsight_otel import conversation_tracker
        conversation_tracker.get_or_create_conversation("shared-1")
        conversation_tracker.track_human_message("{text}")
        print(conversation_tracker.send_tracked_data()["status"])
        conversation_tracker.shutdown()
        """
    env = {"AGENTSIGHT_API_KEY": TEST_API_KEY, "AGENTSIGHT_API_ENDPOINT": server.url}
    for text in ("from process one", "from process two"):
        done = run_python(code.replace("{text}", text), **env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "delivered"
    spans = read_local(server.url, "shared-1", "spans/")["spans"]
    assert len({span["trace_id"] for span in spans}) == 1
    contents = [m["content"] for m in read_local(server.url, "shared-1", "transcript/")["messages"]]
    assert contents == ["from process one", "from process two"]


def test_demo_prints_what_the_server_received(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    done = run_python(
        "from agentsight_otel._cli import main;"
        f" raise SystemExit(main(['demo', '--db', {str(db)!r}]))"
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "What the server received" in out
    for expected in (
        "User:",
        "Agent:",
        "Action:  lookup_order",
        "Button:",
        "+ attached front-door.png",
        "Tokens: 1067 in, 167 out",
        f"-m agentsight_otel serve --db {db}",  # run as python -c: python -m runs it again
        "http://127.0.0.1:8600/conversations/1/",
    ):
        assert expected in out
    assert db.is_file()
