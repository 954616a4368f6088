"""Contract: AgentSight's own read client (agentsight.api.AgentSight) against the local server."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime

import pytest
import requests
from agentsight.api import AgentSight
from agentsight.exceptions import NotFoundError
from genai_prices import Usage, calc_price

from agentsight_otel.server import LocalServer
from tests.server.server_helpers import (
    KEY,
    Api,
    StartServer,
    at,
    block,
    body,
    message,
    span,
    turn,
)

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


def _mini_cost(calls: int) -> str:
    """What genai-prices charges for calls of gpt-4o-mini with 100 tokens in and 20 out."""
    usage = Usage(input_tokens=100, output_tokens=20)
    one = calc_price(usage, "gpt-4o-mini", genai_request_timestamp=datetime.fromisoformat(at(0)))
    return f"{one.total_price * calls:.8f}"


def _engaged(cid: str, start: float, *, complete: bool = True) -> dict[str, object]:
    """A conversation block with one turn: two messages, a tool call, a model call, a click."""
    opening = turn(
        message("end_user", f"Where is order {cid}?", start),
        message("agent", "Let me look.", start + 0.4),
        conversation_id=cid,
        start=start,
        complete=complete,
    )
    parent = opening["span_id"]
    tool = span(
        "tool", conversation_id=cid, name="lookup_order", start=start + 0.1, end=start + 0.2
    )
    tool["attributes"].update(
        {
            "agentsight.tool.name": "lookup_order",
            "agentsight.tool.arguments": '{"order": "A-1"}',
            "agentsight.turn.id": opening["attributes"]["agentsight.turn.id"],
        }
    )
    llm = span("llm", conversation_id=cid, name="gpt-4o-mini", start=start + 0.3, end=start + 0.4)
    llm["attributes"].update(
        {
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 20,
            "agentsight.turn.id": opening["attributes"]["agentsight.turn.id"],
        }
    )
    click = span("button", conversation_id=cid, start=start + 0.45)
    click["attributes"]["agentsight.button.label"] = "Refund"
    for child in (tool, llm, click):
        child["parent_span_id"] = parent
    return block(
        opening,
        tool,
        llm,
        click,
        conversation_id=cid,
        customer_id=f"cust-{cid}",
        environment="development",
        name=f"Order {cid}",
    )


@pytest.fixture
def seeded(start_server: StartServer) -> tuple[LocalServer, Api]:
    """Three engaged conversations (one with an incomplete turn), a visit-only one, an upload."""
    server, api = start_server(api_keys=[KEY])
    visit = block(span("conversation", conversation_id="visit"), conversation_id="visit")
    blocks = [_engaged(f"c{i}", i) for i in range(3)] + [visit]
    blocks.append(_engaged("open", 5, complete=False))
    assert api.ingest(body(*blocks)).status_code == 200
    pk = api.read("c0")["id"]
    (first, *_) = api.read("c0", "transcript")["messages"]
    upload = {
        "conversation": pk,
        "message": first["id"],
        "sender": "end_user",
        "mode": "base64",
        "attachments": [
            {
                "filename": "door.png",
                "mime_type": "image/png",
                "data": base64.b64encode(PNG).decode(),
            }
        ],
    }
    answer = api.session.post(f"{api.url}/api/attachments/", json=upload, timeout=10)
    assert answer.status_code in (200, 201), answer.text
    return server, api


@pytest.fixture
def client(seeded: tuple[LocalServer, Api]) -> Iterator[AgentSight]:
    """The vendor's read client pointed at the seeded local server."""
    with AgentSight(api_key=KEY, endpoint=seeded[0].url, max_retries=1) as vendor:
        yield vendor


def test_me_names_the_agent_and_its_environments(client: AgentSight) -> None:
    identity = client.me()
    assert identity["agent_id"] == 1 and identity["agent_name"] == "local"
    assert client.environments() == ["production", "development"]


def test_list_is_newest_first_light_and_paged(client: AgentSight) -> None:
    rows = list(client.conversations.list())
    assert [row["conversation_id"] for row in rows] == ["open", "visit", "c2", "c1", "c0"]
    assert "messages" not in rows[0]
    paged = client.conversations.list()
    paged._page_size = 2  # walk five rows two at a time, as a busy agent would
    assert [row["conversation_id"] for row in paged] == ["open", "visit", "c2", "c1", "c0"]
    page = paged.page(2)
    assert (page.count, page.total_pages, page.current_page) == (5, 3, 2)
    assert page.next is not None and "page=3" in page.next
    assert page.previous is not None and "page=1" in page.previous


def test_list_filters_the_vendor_client_sends(client: AgentSight) -> None:
    def ids(**filters: object) -> list[str]:
        return sorted(row["conversation_id"] for row in client.conversations.list(**filters))

    assert ids(customer_id="cust-c1") == ["c1"]
    assert ids(customer_id__icontains="CUST-C") == ["c0", "c1", "c2"]
    assert ids(environment="development") == ["c0", "c1", "c2", "open"]
    assert ids(environment="production") == []
    assert ids(has_messages=False) == ["visit"]  # an incomplete turn's messages count too
    assert ids(search="order c2") == ["c2"]
    assert ids(message_contains="WHERE IS ORDER C0") == ["c0"]
    assert ids(action_name="lookup_order", has_messages=True) == ["c0", "c1", "c2", "open"]
    assert ids(action_name="lookup_order", search="order c1") == ["c1"]
    assert ids(started_at_after="2000-01-01", started_at_before="2999-01-01") == ids()
    assert ids(started_at_after="2999-01-01") == []
    assert ids(is_marked=True) == []


def test_list_full_and_get_carry_the_transcript(client: AgentSight) -> None:
    (row,) = client.conversations.list_full(conversation_id="c0")
    assert [m["content"] for m in row["messages"]] == ["Where is order c0?", "Let me look."]
    record = client.conversations.get("c0")
    assert record["action_logs"][0]["name"] == "lookup_order"
    assert record["action_logs"][0]["arguments"] == {"order": "A-1"}
    assert record["token_usage"]["totals"]["total_tokens"] == 120
    assert record["token_usage"]["cost_sources"] == ["backend"]
    assert record["token_usage"]["cost_usd"] == _mini_cost(1)
    assert record["tickets"] == []
    light = client.conversations.get("c0", full=False)
    assert "messages" not in light and light["metadata"] == {}
    with pytest.raises(NotFoundError):
        client.conversations.get("nobody")


def test_attachments_carry_download_urls(client: AgentSight) -> None:
    listing = client.conversations.attachments("c0")
    (stored,) = listing["files"]
    assert stored["filename"] == "door.png"
    assert requests.get(stored["file_url"], timeout=10).status_code == 401
    headers = {"Authorization": f"Api-Key {KEY}"}
    assert requests.get(stored["file_url"], headers=headers, timeout=10).content == PNG
    (first, _) = client.conversations.get("c0")["messages"]
    assert first["attachments"][0]["filename"] == "door.png"


def test_actions_definitions_and_logs(client: AgentSight) -> None:
    (definition,) = list(client.actions.list())
    assert definition["name"] == "lookup_order" and definition["display_name"] == "lookup_order"
    assert list(client.actions.list(name__icontains="LOOKUP")) == [definition]
    assert list(client.actions.list(name="other")) == []
    assert client.actions.get(definition["id"]) == definition
    logs = client.actions.logs(definition["id"])
    assert isinstance(logs, list)
    assert sorted(log["conversation_id"] for log in logs) == ["c0", "c1", "c2", "open"]
    with pytest.raises(NotFoundError):
        client.actions.get(definition["id"] + 1000)


def test_spans_list_get_and_trace(client: AgentSight) -> None:
    tools = list(client.spans.list(kind="tool", conversation_id="c1"))
    assert [s["name"] for s in tools] == ["lookup_order"]
    assert "payload" not in tools[0]
    assert tools[0]["attributes"]["agentsight.tool.name"] == "lookup_order"
    everything = list(client.spans.list())
    assert len(everything) == 17
    assert everything[0]["started_at"] >= everything[-1]["started_at"]
    one = client.spans.get(tools[0]["id"], payload=True)
    assert one["payload"]["span_id"] == tools[0]["span_id"]
    assert "payload" not in client.spans.get(tools[0]["id"])
    tree = client.spans.trace(tools[0]["trace_id"])
    assert tree["span_count"] == 17 and tree["truncated"] is False
    assert {root["kind"] for root in tree["roots"]} == {"turn", "conversation"}
    turn_root = next(r for r in tree["roots"] if r["conversation_id"] == "c1")
    assert sorted(c["kind"] for c in turn_root["children"]) == ["button", "llm", "tool"]


def test_token_usage_rows_and_summary(client: AgentSight) -> None:
    rows = list(client.usage.list())
    assert len(rows) == 4
    assert {row["cost_source"] for row in rows} == {"backend"}
    assert {row["cost_usd"] for row in rows} == {_mini_cost(1)}
    assert [r["conversation_id"] for r in client.usage.list(incomplete=True)] == ["open"]
    assert len(list(client.usage.list(cost_source="backend"))) == 4
    assert list(client.usage.list(cost_source="unpriced")) == []
    assert len(list(client.usage.list(conversation_id="c1", model="gpt-4o-mini"))) == 1
    summary = client.usage.summary()
    (group,) = summary["results"]
    assert (group["group"], group["calls"], group["total_tokens"]) == ("gpt-4o-mini", 4, 480)
    assert group["cost_usd"] == float(_mini_cost(4)) and group["cost_sources"] == ["backend"]
    by_conversation = client.usage.summary("conversation", environment="development")
    assert len(by_conversation["results"]) == 4


def test_messages_get_by_pk(client: AgentSight) -> None:
    (first, second) = client.conversations.get("c2")["messages"]
    fetched = client.messages.get(second["id"])
    assert fetched["content"] == "Let me look." and fetched["conversation_id"] == "c2"
    assert fetched["action_logs"][0]["name"] == "lookup_order"
    with pytest.raises(NotFoundError):
        client.messages.get(first["id"] + 1000)


def test_trailing_slashes_are_required(seeded: tuple[LocalServer, Api]) -> None:
    _, api = seeded
    for path in ("/api/spans", "/api/token-usage", "/api/actions", "/api/conversations"):
        assert api.get(path).status_code == 404
        assert api.get(path + "/").status_code == 200


def test_out_of_range_pages_are_refused(seeded: tuple[LocalServer, Api]) -> None:
    _, api = seeded
    assert api.get("/api/spans/?page=99").status_code == 404
    assert api.get("/api/spans/?page=0").status_code == 404
    assert api.get("/api/spans/?page_size=1000").json()["page_size"] == 100


def test_every_read_route_needs_a_key(seeded: tuple[LocalServer, Api]) -> None:
    server, _ = seeded
    for path in ("/api/spans/", "/api/token-usage/summary/", "/api/actions/", "/api/track/1/"):
        assert requests.get(server.url + path, timeout=10).status_code == 401
