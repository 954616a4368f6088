"""Hard GenAI turns by both routes into the local server over real HTTP.

A producer's JSON the fast parser refuses (a lone-surrogate escape, as Python's ``json.dumps``
writes one) is read, not dropped; a turn with more text than one ingest body arrives in
continuation segments; a turn past the per-turn bound of new end-user messages arrives cut,
counted and logged. Routes: the in-process exporter, and OTLP/HTTP into the bridge.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from agentsight_otel import AgentSightSpanExporter
from agentsight_otel._bridge.runner import Bridge
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._export.stats import DeliveryStats
from agentsight_otel._mapping.segments import MAX_NEW_USER_MESSAGES
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY
from tests.bridge.helpers import bridge_config, delivery_settings
from tests.support.local import read_local


@contextmanager
def exporter_route(server: LocalServer) -> Iterator[tuple[TracerProvider, DeliveryStats]]:
    """A provider exporting with the in-process exporter to the server."""
    exporter = AgentSightSpanExporter(TEST_API_KEY, server.url, _ledger=DeliveryLedger())
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider, exporter.stats
    finally:
        assert exporter.force_flush(30_000)
        provider.shutdown()


@contextmanager
def bridge_route(server: LocalServer) -> Iterator[tuple[TracerProvider, DeliveryStats]]:
    """A provider exporting OTLP/HTTP to a bridge that delivers to the server."""
    bridge = Bridge(bridge_config(), settings=delivery_settings(server.url)).start()
    provider = TracerProvider()
    exporter = OTLPSpanExporter(endpoint=f"{bridge.http_url}/v1/traces", timeout=30)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider, bridge.pipeline.stats[1]
    finally:
        provider.shutdown()
        assert bridge.flush(30)
        bridge.stop(5.0)


ROUTES = {"exporter": exporter_route, "bridge": bridge_route}


def user_messages(texts: list[str]) -> str:
    """``gen_ai.input.messages`` as the official instrumentation writes it (``json.dumps``)."""
    return json.dumps([{"role": "user", "parts": [{"type": "text", "content": t}]} for t in texts])


def agent_turn(
    provider: TracerProvider, cid: str, sent: str, answer: str, tool_arguments: str = "{}"
) -> None:
    """An agent invocation: a tool, then a model call with the input and the answer."""
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_v2")
    identity = {"gen_ai.conversation.id": cid}
    invoke = {**identity, "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "bot"}
    with tracer.start_as_current_span("invoke_agent bot", attributes=invoke):
        tool = {
            **identity,
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search",
            "gen_ai.tool.call.arguments": tool_arguments,
            "gen_ai.tool.call.result": "found",
        }
        with tracer.start_as_current_span("execute_tool search", attributes=tool):
            pass
        output = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}])
        chat = {
            **identity,
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "test-model",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 5,
            "gen_ai.input.messages": sent,
            "gen_ai.output.messages": output,
        }
        with tracer.start_as_current_span("chat test-model", attributes=chat):
            pass


def said(server: LocalServer, cid: str) -> list[tuple[str, str]]:
    """(sender, content) of the conversation's transcript, as the server stores it."""
    messages = read_local(server.url, cid, "transcript/")["messages"]
    return [(m["sender"], m["content"]) for m in messages]


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_lone_surrogate_escape_in_producer_json_arrives_as_the_replacement_character(
    route: str, server: LocalServer
) -> None:
    with ROUTES[route](server) as (provider, stats):
        sent = user_messages(["Where is \ud800 my order?"])
        assert "\\ud800" in sent  # what json.dumps writes: the fast parser refuses it
        agent_turn(provider, "c-surrogate", sent, "It ships \udfff today.", '{"q": "a\\udc00b"}')
    assert said(server, "c-surrogate") == [
        ("end_user", "Where is \ufffd my order?"),
        ("agent", "It ships \ufffd today."),
    ]
    actions = read_local(server.url, "c-surrogate", "actions/")["actions"]
    assert [a["arguments"] for a in actions] == [{"q": "a\ufffdb"}]
    assert stats.lost_spans == 0


@pytest.mark.slow
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_turn_with_more_text_than_one_body_arrives_whole_in_segments(
    route: str, server: LocalServer
) -> None:
    # 600 messages of 16,000 characters: 9.6 MB, over the server's 8 MiB body limit.
    texts = [f"{i:04d} " + "x" * 15_995 for i in range(600)]
    with ROUTES[route](server) as (provider, stats):
        agent_turn(provider, "c-long", user_messages(texts), "Read them all.")
    assert said(server, "c-long") == [
        *(("end_user", t) for t in texts),
        ("agent", "Read them all."),
    ]
    turns = [s for s in server.store.spans("c-long") if s["kind"] == "turn"]
    assert len(turns) == 10  # 1 MiB of messages a segment
    assert (stats.lost_spans, stats.cut_messages) == (0, 0)


@pytest.mark.slow
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_turn_of_100000_new_user_messages_is_cut_counted_and_logged_not_refused(
    route: str, server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    texts = [f"message {i}" for i in range(100_000)]
    cut = 100_000 - MAX_NEW_USER_MESSAGES
    with caplog.at_level(logging.WARNING, "agentsight_otel"), ROUTES[route](server) as (p, stats):
        agent_turn(p, "c-many", user_messages(texts), "Done.")
    assert said(server, "c-many") == [
        *(("end_user", t) for t in texts[cut:]),
        ("agent", "Done."),
    ]
    assert (stats.lost_spans, stats.cut_messages) == (0, cut)
    logged = [r.getMessage() for r in caplog.records if "new end-user messages" in r.getMessage()]
    assert len(logged) == 1 and f"oldest {cut:,} were not sent" in logged[0]
    usage = read_local(server.url, "c-many", "usage/")["totals"]
    assert usage["input_tokens"] == 10
