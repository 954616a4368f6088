"""The viewer over HTTP: pages, escaping, files, and the key it asks for beyond loopback."""

from __future__ import annotations

import pytest
import requests

from agentsight_otel._loopback import is_loopback
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY

from .conftest import HOSTILE


def _get(server: LocalServer, path: str) -> requests.Response:
    """GET a viewer page without any credentials."""
    return requests.get(server.url + path, timeout=10, allow_redirects=False)


def _pk(server: LocalServer, conversation_id: str) -> int:
    """A conversation's pk, through the read API."""
    headers = {"Authorization": f"Api-Key {TEST_API_KEY}"}
    answer = requests.get(
        f"{server.url}/api/conversations/",
        params={"conversation_id": conversation_id, "full": "false"},
        headers=headers,
        timeout=10,
    )
    return int(answer.json()["results"][0]["id"])


def test_hostile_text_is_escaped_everywhere(viewer: LocalServer) -> None:
    page = _get(viewer, f"/conversations/{_pk(viewer, 'hostile')}/").text
    assert "<script>window.__xss" not in page and "<img src=x" not in page
    escaped = HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert page.count(escaped.split(" onerror")[0]) >= 4
    listing = _get(viewer, "/?q=xss").text
    assert "<script>window.__xss" not in listing
    assert "&lt;script&gt;" in listing


def test_unfinished_turns_are_marked(viewer: LocalServer) -> None:
    page = _get(viewer, f"/conversations/{_pk(viewer, 'hostile')}/").text
    assert '<section class="turn incomplete"' in page
    assert ">incomplete: abandoned</span>" in page


def test_list_filters_narrow_the_rows(viewer: LocalServer) -> None:
    assert "visit-only" in _get(viewer, "/?engaged=visit").text
    assert "visit-only" not in _get(viewer, "/?engaged=engaged").text
    assert "hostile" not in _get(viewer, "/?source=whatsapp").text
    assert "Parcel marked delivered" in _get(viewer, "/?q=neighbours").text


def test_files_are_served_inline_only_when_images(viewer: LocalServer) -> None:
    page = _get(viewer, "/conversations/1/").text
    assert 'src="/files/1/"' in page
    answer = _get(viewer, "/files/1/")
    assert answer.headers["content-type"] == "image/png"
    assert answer.content.startswith(b"\x89PNG")
    assert _get(viewer, "/files/999/").status_code == 404
    assert _get(viewer, "/conversations/999/").status_code == 404


def test_stylesheet_is_local(viewer: LocalServer) -> None:
    page = _get(viewer, "/").text
    assert "http://" not in page.replace(viewer.url, "") and "https://" not in page
    assert _get(viewer, "/static/viewer.css").status_code == 200


def test_beyond_loopback_the_viewer_asks_for_a_key(guarded: str) -> None:
    for path in ("/", "/conversations/1/", "/files/1/"):
        answer = requests.get(guarded + path, timeout=10, allow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login/?next=")
    session = requests.Session()
    refused = session.post(f"{guarded}/login/?next=/", data={"key": "ags_wrong"}, timeout=10)
    assert refused.status_code == 401 and "not accepted" in refused.text
    accepted = session.post(
        f"{guarded}/login/?next=//evil.example/",
        data={"key": TEST_API_KEY},
        timeout=10,
        allow_redirects=False,
    )
    assert accepted.status_code == 303 and accepted.headers["location"] == "/"
    cookie = accepted.headers["set-cookie"]
    assert TEST_API_KEY not in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert session.get(f"{guarded}/", timeout=10).status_code == 200
    header = {"Authorization": f"Api-Key {TEST_API_KEY}"}
    assert requests.get(f"{guarded}/", headers=header, timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.0.2.1", False),
        ("example.internal", False),
    ],
)
def test_only_loopback_binds_open_the_viewer(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
