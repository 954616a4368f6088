"""README's Python snippets run as written, in a fresh interpreter, against the local server
(AGENTSIGHT_API_ENDPOINT pointing at it); the "Web frameworks" apps are then driven with real
requests and what reached the server is checked (issue 11 items 1 and 2).

A snippet preceded by ``<!-- snippet: skip: why -->`` is a fragment and is not run; one preceded
by ``<!-- snippet: NAME -->`` is run, then the driver of that name below.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"(?:<!-- snippet: ([^>]*?) -->\n)?```python\n(.*?)```", re.S)

FASTAPI_DRIVER = """
import asyncio
import httpx

async def drive():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        for path in ("/chat", "/chat-sync", "/chat-later", "/chat-stream"):
            answer = await client.post(
                path, params={"message": "hello"}, headers={"x-conversation-id": "web" + path}
            )
            assert answer.status_code == 200, answer.text

asyncio.run(drive())
"""
STARLETTE_DRIVER = """
import asyncio
import httpx

async def drive():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        answer = await client.post(
            "/chat", json={"message": "hello"}, headers={"x-conversation-id": "web/middleware"}
        )
        assert answer.status_code == 200, answer.text
        # A request that tracks nothing, and one outside any conversation, are no errors.
        for headers in ({"x-conversation-id": "web/middleware"}, {}):
            answer = await client.get("/health", headers=headers)
            assert answer.status_code == 200, answer.text

asyncio.run(drive())
"""
FLASK_DRIVER = """
answer = app.test_client().post(
    "/chat", json={"conversation_id": "web/flask", "message": "hello"}
)
assert answer.status_code == 200 and answer.get_json()["status"] == "delivered", answer.data
"""
DJANGO_DRIVER = """
from django.test import Client

answer = Client().post(
    "/chat",
    data=json.dumps({"conversation_id": "web/django", "message": "hello"}),
    content_type="application/json",
)
assert answer.status_code == 200 and answer.json()["status"] == "delivered", answer.content
"""
DRIVERS = {
    "web-fastapi": (
        FASTAPI_DRIVER,
        ["web/chat", "web/chat-sync", "web/chat-later", "web/chat-stream"],
    ),
    "web-starlette": (STARLETTE_DRIVER, ["web/middleware"]),
    "web-flask": (FLASK_DRIVER, ["web/flask"]),
    "web-django": (DJANGO_DRIVER, ["web/django"]),
}


def snippets() -> list[tuple[str, str, str]]:
    """(id, marker, code) of every Python block in README."""
    text = README.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        marker = match.group(1) or ""
        found.append((f"README.md:{line}:{marker or 'run'}", marker, match.group(2)))
    return found


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


def _run(code: str, server: LocalServer, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The code in a fresh interpreter whose environment points the tracker at ``server``."""
    env = {
        **os.environ,
        "AGENTSIGHT_API_KEY": TEST_API_KEY,
        "AGENTSIGHT_API_ENDPOINT": server.url,
    }
    env.pop("_AGENTSIGHT_OTEL_RAISE_INTERNAL_ERRORS", None)  # as a user runs it
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("marker", "code"), [s[1:] for s in snippets()], ids=[s[0] for s in snippets()]
)
def test_readme_snippet_runs_as_written(
    marker: str, code: str, server: LocalServer, tmp_path: Path
) -> None:
    if marker.startswith("skip:"):
        pytest.skip(marker)
    driver, conversations = DRIVERS.get(marker, ("", []))
    done = _run(code + "\n" + driver, server, tmp_path)
    assert done.returncode == 0, done.stderr
    for cid in conversations:
        said = [m["content"] for m in server.store.messages(cid)]
        assert said[0] == "hello" and len(said) == 2, (cid, said, done.stderr)


def test_every_web_pattern_has_a_driver() -> None:
    markers = {marker for _, marker, _ in snippets() if marker.startswith("web-")}
    assert markers == set(DRIVERS)
    assert all(
        marker.split(":")[0] in ("", "skip") or marker in DRIVERS for _, marker, _ in snippets()
    )
