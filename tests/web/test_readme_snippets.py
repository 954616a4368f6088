"""The Python snippets of README.md, docs/ and examples/ run as written, in a fresh interpreter,
against the local server (AGENTSIGHT_API_ENDPOINT pointing at it); the "Web frameworks" apps are
then driven with real requests and what reached the server is checked (issues 11 and 20).

A snippet preceded by ``<!-- snippet: skip: why -->`` is a fragment and is not run; one preceded
by ``<!-- snippet: NAME -->`` is run, then the driver of that name below; one preceded by
``<!-- snippet: file: NAME -->`` is saved as NAME, as the text tells the reader, and run as
``python NAME`` (``python -m pytest NAME`` for a ``test_*.py``).
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

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"(?:<!-- snippet: ([^>]*?) -->\n)?```python\n(.*?)```", re.S)
FILE = "file: "


def documents() -> list[Path]:
    """Every page a user reads: README.md, docs/ and the examples' READMEs."""
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted(
            page
            for page in (ROOT / "examples").glob("**/*.md")
            if "node_modules" not in page.parts  # npm's packages, not ours
        ),
    ]


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
    """(id, marker, code) of every Python block of every document."""
    found = []
    for document in documents():
        text = document.read_text(encoding="utf-8")
        name = document.relative_to(ROOT)
        for match in _BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            marker = match.group(1) or ""
            found.append((f"{name}:{line}:{marker or 'run'}", marker, match.group(2)))
    return found


def saved_files(document_text: str) -> dict[str, str]:
    """The blocks a document tells the reader to save, by file name."""
    return {
        match.group(1)[len(FILE) :]: match.group(2)
        for match in _BLOCK.finditer(document_text)
        if (match.group(1) or "").startswith(FILE)
    }


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


def user_environment(server: LocalServer) -> dict[str, str]:
    """A user's environment, pointing the tracker at ``server``."""
    env = {
        **os.environ,
        "AGENTSIGHT_API_KEY": TEST_API_KEY,
        "AGENTSIGHT_API_ENDPOINT": server.url,
    }
    env.pop("_AGENTSIGHT_OTEL_RAISE_INTERNAL_ERRORS", None)  # as a user runs it
    return env


def _run(
    code: str, server: LocalServer, cwd: Path, marker: str
) -> subprocess.CompletedProcess[str]:
    """The code in a fresh interpreter whose environment points the tracker at ``server``."""
    command = [sys.executable, "-c", code]
    if marker.startswith(FILE):
        name = marker[len(FILE) :]
        (cwd / name).write_text(code, encoding="utf-8")
        pytest_run = ["-m", "pytest", "-q", "-p", "no:cacheprovider", name]
        command = [sys.executable, *(pytest_run if name.startswith("test_") else [name])]
    return subprocess.run(
        command,
        check=False,
        cwd=cwd,
        env=user_environment(server),
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
    done = _run(code + "\n" + driver, server, tmp_path, marker)
    assert done.returncode == 0, done.stderr
    for cid in conversations:
        said = [m["content"] for m in server.store.messages(cid)]
        assert said[0] == "hello" and len(said) == 2, (cid, said, done.stderr)


def test_every_web_pattern_has_a_driver() -> None:
    markers = {marker for _, marker, _ in snippets() if marker.startswith("web-")}
    assert markers == set(DRIVERS)
    assert all(
        marker.split(":")[0] in ("", "skip", "file") or marker in DRIVERS
        for _, marker, _ in snippets()
    )


def test_the_demo_venv_has_what_the_quick_start_imports() -> None:
    """README's quick start runs in the venv `make demo` builds, which installs python-dotenv."""
    quick_start = saved_files((ROOT / "README.md").read_text(encoding="utf-8"))["quickstart.py"]
    assert "from dotenv import load_dotenv" in quick_start
    recipe = subprocess.run(
        ["make", "-n", "-B", "-C", str(ROOT), ".venv/.demo-installed"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "python-dotenv" in recipe, recipe
