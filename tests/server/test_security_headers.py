"""Every answer of the local server (pages, files, API, errors) carries the security headers."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import requests

from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY

_KEY = {"Authorization": f"Api-Key {TEST_API_KEY}"}
EXPECTED = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    """A loopback server with a conversation and one uploaded PNG and one text file."""
    with LocalServer(api_keys=[TEST_API_KEY]) as running:
        created = requests.post(
            f"{running.url}/api/conversations/",
            json={"conversation_id": "c1"},
            headers=_KEY,
            timeout=10,
        )
        files = [
            {"filename": "a.png", "mime_type": "image/png", "data": _b64(b"\x89PNG\r\n\x1a\n")},
            {"filename": "b.txt", "mime_type": "text/plain", "data": _b64(b"hello")},
        ]
        body = {"conversation": created.json()["id"], "sender": "end_user", "attachments": files}
        stored = requests.post(
            f"{running.url}/api/attachments/", json=body, headers=_KEY, timeout=10
        )
        assert stored.status_code == 201, stored.text
        yield running


def _b64(data: bytes) -> str:
    """Base64 text, as the JSON upload carries files."""
    return base64.b64encode(data).decode("ascii")


def _assert_secured(answer: requests.Response) -> None:
    """The four headers, once each, with a policy that allows no script and no framing."""
    for name, value in EXPECTED.items():
        assert answer.headers.get(name) == value, (answer.url, name, answer.headers)
    policy = answer.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'none'"
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in directives.get("style-src", "")
    raw = answer.raw.headers
    assert all(len(raw.getlist(name)) == 1 for name in [*EXPECTED, "content-security-policy"])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/conversations/1/", 200),
        ("GET", "/conversations/999/", 404),
        ("GET", "/?page=0", 404),
        ("GET", "/login/", 200),
        ("GET", "/static/viewer.css", 200),
        ("GET", "/static/missing.css", 404),
        ("GET", "/files/1/", 200),
        ("GET", "/files/2/", 200),
        ("GET", "/files/999/", 404),
        ("GET", "/api/attachments/1/content/", 200),
        ("GET", "/api/attachments/2/content/", 200),
        ("GET", "/api/me/", 200),
        ("GET", "/api/conversations/", 200),
        ("GET", "/api/conversations/c1/transcript/", 200),
        ("GET", "/api/conversations/nobody/", 404),
        ("GET", "/api/conversations/?page=99999999999999999999", 404),
        ("GET", "/no/such/route/", 404),
        ("DELETE", "/api/me/", 405),
        ("POST", "/api/ingest/", 400),
    ],
)
def test_every_answer_is_secured(server: LocalServer, method: str, path: str, status: int) -> None:
    answer = requests.request(method, server.url + path, headers=_KEY, data=b"{", timeout=10)
    assert answer.status_code == status
    _assert_secured(answer)


def test_refusals_without_a_key_are_secured(server: LocalServer) -> None:
    answer = requests.get(server.url + "/api/me/", timeout=10)
    assert answer.status_code == 401
    _assert_secured(answer)


def test_a_server_error_is_secured() -> None:
    with LocalServer(api_keys=[TEST_API_KEY]) as running:
        running.store.close()  # every query now fails inside the server
        answer = requests.get(f"{running.url}/api/conversations/", headers=_KEY, timeout=10)
    assert answer.status_code == 500
    assert answer.json() == {"detail": "Internal server error."}
    _assert_secured(answer)
