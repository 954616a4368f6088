"""Turns that end incomplete are read back (issue 17 item 8).

A turn left open is ended incomplete and delivered: ``abandoned`` after the idle timeout,
``evicted`` past the tracker's capacity, ``shutdown`` at exit. Delivered through the real
exporter over real HTTP, its question, action, click and file must show on every read path, in
order with the other turns, marked with the reason: the read API, the vendor read client,
``agentsight-otel transcript`` and the viewer's page.
"""

from __future__ import annotations

import base64
import html
import re
from typing import Any

import pytest
import requests
from agentsight.api import AgentSight

from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY, FakeClock
from tests.reliability.helpers import make_pipeline
from tests.viewer.conftest import run_cli

HEADERS = {"Authorization": f"Api-Key {TEST_API_KEY}"}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)
IDLE_S = 60.0


def _deliver(server: LocalServer, reason: str) -> str:
    """One conversation: a sent turn, a turn ended incomplete for reason, and what follows."""
    clock = FakeClock()
    settings = {"_clock": clock, "idle_timeout": IDLE_S, "_max_conversations": 2}
    pipeline = make_pipeline(server.url, tracker_args=settings)
    tracker, cid = pipeline.tracker, f"{reason}-chat"
    tracker.track_human_message("first question", conversation_id=cid)
    tracker.track_agent_message("first answer", conversation_id=cid)
    tracker.send_tracked_data(cid)
    clock.time += 1
    tracker.track_human_message(
        "open question",
        conversation_id=cid,
        attachments=[{"filename": "door.png", "data": base64.b64encode(PNG).decode()}],
    )
    tracker.track_action("lookup", duration_ms=5.0, conversation_id=cid)
    tracker.track_button("choice", "Refund", "yes", conversation_id=cid)
    clock.time += 1
    if reason == "abandoned":
        clock.time += IDLE_S + 1  # untracked past the idle timeout: the next call retires it
        tracker.track_human_message("elsewhere", conversation_id="other-1")
    elif reason == "evicted":
        for other in ("other-1", "other-2"):  # unsent, past the capacity of two
            tracker.track_human_message("elsewhere", conversation_id=other)
    if reason != "shutdown":  # the conversation goes on, in a turn of its own
        clock.time += 1
        tracker.track_human_message("follow-up", conversation_id=cid)
        tracker.track_agent_message("follow-up answer", conversation_id=cid)
        tracker.send_tracked_data(cid)
    else:
        tracker._exit_hook()  # what runs at interpreter exit: open turns end as shutdown
    pipeline.close()
    return cid


def _read(server: LocalServer, cid: str, part: str = "") -> dict[str, Any]:
    """A read API answer."""
    answer = requests.get(
        f"{server.url}/api/conversations/{cid}/{part}", headers=HEADERS, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _expected(reason: str) -> list[tuple[str, bool, str | None]]:
    """The transcript: (content, turn complete, incomplete reason), in order."""
    shown = [("first question", True, None), ("first answer", True, None)]
    shown.append(("open question", False, reason))
    if reason != "shutdown":
        shown += [("follow-up", True, None), ("follow-up answer", True, None)]
    return shown


def _marked(messages: list[dict[str, Any]]) -> list[tuple[str, bool, str | None]]:
    return [(m["content"], m["turn_complete"], m["incomplete_reason"]) for m in messages]


@pytest.fixture(params=["abandoned", "evicted", "shutdown"])
def delivered(request: pytest.FixtureRequest, server: LocalServer) -> tuple[str, str]:
    """(reason, conversation id) once the conversation was delivered to the server."""
    return request.param, _deliver(server, request.param)


def test_the_read_api_shows_the_incomplete_turn_marked(
    server: LocalServer, delivered: tuple[str, str]
) -> None:
    reason, cid = delivered
    messages = _read(server, cid, "transcript/")["messages"]
    assert _marked(messages) == _expected(reason)
    turns = [m["turn_id"] for m in messages]
    assert len(set(turns)) == (2 if reason == "shutdown" else 3)  # a continuation is a new turn
    opened = messages[2]
    assert [f["filename"] for f in opened["files"]] == ["door.png"]
    actions = _read(server, cid, "actions/")["actions"]
    assert [(a["name"], a["turn_id"]) for a in actions] == [("lookup", opened["turn_id"])]
    assert [b["label"] for b in _read(server, cid, "buttons/")["buttons"]] == ["Refund"]
    record = _read(server, cid)
    assert _marked(record["messages"]) == _expected(reason)
    assert record["counts"]["messages"] == len(_expected(reason))


def test_the_vendor_read_client_shows_it(server: LocalServer, delivered: tuple[str, str]) -> None:
    reason, cid = delivered
    with AgentSight(api_key=TEST_API_KEY, endpoint=server.url, max_retries=1) as vendor:
        record = vendor.conversations.get(cid)
        (row,) = vendor.conversations.list_full(conversation_id=cid)
        found = [r["conversation_id"] for r in vendor.conversations.list(search="open question")]
    assert _marked(record["messages"]) == _expected(reason)
    assert _marked(row["messages"]) == _expected(reason)
    assert record["messages"][2]["attachments"][0]["filename"] == "door.png"
    assert [a["name"] for a in record["action_logs"]] == ["lookup"]
    assert [b["label"] for b in record["buttons"]] == ["Refund"]
    assert found == [cid]


def test_the_cli_transcript_closes_the_turn_with_its_reason(
    server: LocalServer, delivered: tuple[str, str]
) -> None:
    reason, cid = delivered
    done = run_cli("transcript", cid, "--endpoint", server.url, AGENTSIGHT_API_KEY=TEST_API_KEY)
    assert done.returncode == 0, done.stderr
    assert "(nothing tracked yet)" not in done.stdout
    lines = [line[14:] for line in done.stdout.splitlines() if re.match(r"\d\d:\d\d:", line)]
    ending = next(line for line in lines if line.startswith("Turn:"))
    assert ending.startswith(f"Turn:    ended incomplete: {reason} (")
    order = ["User:    first question", "Agent:   first answer", "User:    open question"]
    order += ["Action:  lookup", "Button:  Refund", ending]
    if reason != "shutdown":
        order += ["User:    follow-up", "Agent:   follow-up answer"]
    assert [line for line in lines if line.startswith(tuple(o[:9] for o in order))] == [
        next(line for line in lines if line.startswith(o)) for o in order
    ]
    assert "+ attached door.png" in done.stdout


def test_the_viewer_page_badges_the_turn_with_its_reason(
    server: LocalServer, delivered: tuple[str, str]
) -> None:
    reason, cid = delivered
    pk = _read(server, cid)["id"]
    page = requests.get(f"{server.url}/conversations/{pk}/", timeout=10).text
    turns = re.findall(r'<section class="turn ?([a-z]*)" id="turn-\d+">(.*?)</section>', page, re.S)
    assert [kind for kind, _ in turns].count("incomplete") == 1
    (body,) = [text for kind, text in turns if kind == "incomplete"]
    assert f">incomplete: {reason}</span>" in body
    assert "open question" in html.unescape(body) and "door.png" in body
    assert "Refund" in body and "lookup" in body
    assert [text.count('class="msg ') for _, text in turns] == (
        [2, 1] if reason == "shutdown" else [2, 1, 2]
    )
