"""The traps of the seed API in a web app (issue 11 items 1 and 2): the seed's own FastAPI
example with AgentSight hanging, and each way a conversation used to be misfiled silently."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI, Header

from agentsight_otel import ConversationTracker
from agentsight_otel._log import RateLimitedLog
from agentsight_otel._tracker import misfiling
from agentsight_otel.testing import TEST_API_KEY, AgentSightCapture

SEEDS = Path("/work/shared/seeds/track-interaction.md")
# The seed's FastAPI example, as it stands, but for the package name.
SEED_APP = """
from fastapi import FastAPI, Request
from pydantic import BaseModel
from agentsight_otel import ConversationTracker
from agentsight_otel._log import RateLimitedLog
from agentsight_otel._tracker import misfiling
from agentsight_otel.helpers import generate_conversation_id
from typing import Optional

app = FastAPI()
tracker = ConversationTracker()

class InteractionRequest(BaseModel):
    conversation_id: str
    customer_id: Optional[str] = None
    page_url: Optional[str] = None

class ChatRequest(BaseModel):
    conversation_id: str
    message: str
    customer_id: Optional[str] = None

@app.post("/api/track-interaction")
async def track_interaction(request: InteractionRequest, http_request: Request):
    client_ip = http_request.client.host
    user_agent = http_request.headers.get("user-agent", "")
    tracker.initialize_conversation(
        conversation_id=request.conversation_id,
        customer_id=request.customer_id,
        customer_ip_address=client_ip,
        device=get_device_type(user_agent),
        source="web",
        language="en-US",
        metadata={"page_url": request.page_url, "user_agent": user_agent, "widget_loaded": True},
    )
    return {"status": "interaction_tracked", "conversation_id": request.conversation_id}

@app.post("/api/chat")
async def chat(request: ChatRequest):
    tracker.get_or_create_conversation(
        conversation_id=request.conversation_id,
        customer_id=request.customer_id
    )
    tracker.track_question(request.message)
    response = "This is a sample response"
    tracker.track_answer(response)
    result = tracker.send_tracked_data()
    return {"response": response, "status": result["status"]}

def get_device_type(user_agent: str) -> str:
    if 'Mobile' in user_agent:
        return 'mobile'
    elif 'Tablet' in user_agent:
        return 'tablet'
    else:
        return 'desktop'
"""
SEED_DRIVER = """
import asyncio, json, os
import httpx

async def drive():
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        chats = [
            client.post("/api/chat", json={"conversation_id": f"c{n}", "message": "hi"})
            for n in range(5)
        ]
        visit = client.post("/api/track-interaction", json={"conversation_id": "v1"})
        return [r.json() for r in await asyncio.gather(*chats, visit)]

print(json.dumps(asyncio.run(drive())), flush=True)
os._exit(0)  # the backend hangs: skip delivery at exit
"""


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The warning is rate-limited per cause: earlier tests must not have used it up."""
    monkeypatch.setattr(misfiling, "_WARN", RateLimitedLog())


@pytest.fixture
def hanging_backend() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.slow
def test_the_seed_fastapi_example_never_stalls_the_loop(hanging_backend: str) -> None:
    assert "result = tracker.send_tracked_data()" in SEEDS.read_text(encoding="utf-8")
    env = {
        **os.environ,
        "AGENTSIGHT_API_KEY": TEST_API_KEY,
        "AGENTSIGHT_API_ENDPOINT": hanging_backend,
    }
    # Before: each request held the loop for send_timeout (5 s): 30 s for these six.
    done = subprocess.run(
        [sys.executable, "-c", SEED_APP + SEED_DRIVER],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert [a.get("status") for a in answers[:5]] == ["pending"] * 5
    assert answers[5]["status"] == "interaction_tracked"
    assert "await asend_tracked_data()" in done.stderr


def _post(app: FastAPI, *requests: tuple[str, dict[str, str]]) -> None:
    """Each request in turn through the app, as a server would run them."""

    async def drive() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            for path, headers in requests:
                assert (await client.post(path, headers=headers)).status_code == 200

    asyncio.run(drive())


def test_a_conversation_opened_in_a_sync_dependency_is_not_misfiled_silently(
    agentsight_capture: AgentSightCapture, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = agentsight_capture.tracker
    app = FastAPI()

    def open_conversation(x_conversation_id: str = Header()) -> None:
        tracker.get_or_create_conversation(x_conversation_id)  # in a worker thread

    @app.post("/msg", dependencies=[Depends(open_conversation)])
    async def msg() -> dict[str, bool]:
        tracker.track_human_message("hi")
        return {"ok": True}

    with caplog.at_level(logging.WARNING, logger="agentsight_otel"):
        _post(app, ("/msg", {"x-conversation-id": "from-dependency"}))
    assert "track_human_message() started a new generated conversation" in caplog.text
    assert "'from-dependency'" in caplog.text and "conversation_id=" in caplog.text


def test_a_conversation_opened_in_an_earlier_request_is_not_misfiled_silently(
    agentsight_capture: AgentSightCapture, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = agentsight_capture.tracker
    app = FastAPI()

    @app.post("/open")
    async def open_it() -> dict[str, bool]:
        tracker.get_or_create_conversation("opened-earlier")
        return {"ok": True}

    @app.post("/msg")
    async def msg() -> dict[str, bool]:
        tracker.track_button("thumbs", "Up", "1")
        return {"ok": True}

    with caplog.at_level(logging.WARNING, logger="agentsight_otel"):
        _post(app, ("/open", {}))  # each request in its own task, as a server runs them
        _post(app, ("/msg", {}))
    assert "track_button() started a new generated conversation" in caplog.text
    assert "'opened-earlier'" in caplog.text


def test_a_conversation_opened_inside_a_task_is_not_misfiled_silently(
    agentsight_capture: AgentSightCapture, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = agentsight_capture.tracker

    async def main() -> None:
        await asyncio.create_task(asyncio.to_thread(tracker.get_or_create_conversation, "in-task"))
        tracker.track_agent_message("answer")

    with caplog.at_level(logging.WARNING, logger="agentsight_otel"):
        asyncio.run(main())
    assert "track_agent_message() started a new generated conversation" in caplog.text


def test_a_conversation_current_on_another_tracker_is_named(
    agentsight_capture: AgentSightCapture, caplog: pytest.LogCaptureFixture
) -> None:
    other = ConversationTracker(api_key=TEST_API_KEY, endpoint="http://127.0.0.1:9")
    other.get_or_create_conversation("on-the-other-tracker")
    with caplog.at_level(logging.WARNING, logger="agentsight_otel"):
        agentsight_capture.tracker.track_human_message("hi")
    assert "'on-the-other-tracker' is current on another ConversationTracker" in caplog.text


@pytest.mark.slow
def test_trackers_made_without_arguments_share_the_process_conversations() -> None:
    code = """
from agentsight_otel import ConversationTracker, conversation_tracker
tracker = ConversationTracker()
tracker.get_or_create_conversation("one-tracker")
conversation_tracker.track_human_message("hi")
summary = conversation_tracker.get_tracked_data_summary()
assert [i["conversation_id"] for i in summary["items"]] == ["one-tracker"], summary
assert tracker.get_tracked_data_summary() == summary
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSIGHT_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
