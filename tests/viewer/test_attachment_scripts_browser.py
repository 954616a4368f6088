"""Files carrying script, tracked for real, opened from the viewer in Chromium: nothing runs."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from agentsight_otel import ConversationTracker
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY

from .conftest import BROWSER_MARKS

pytest.importorskip("playwright.sync_api")
pytestmark = BROWSER_MARKS
KEY = {"Authorization": f"Api-Key {TEST_API_KEY}"}
# Declared types that once slipped past an exact-string check, and plain HTML.
DECLARED = (
    "image/svg+xml; charset=utf-8",
    "image/SVG+xml",
    "image/svg+xml;x=y",
    "image/svg+xml",
    "text/html",
    "text/html; charset=utf-8",
)


def _hostile(index: int, declared: str) -> bytes:
    """A file whose script, if it ever ran, would rename the page and call the server."""
    call = f"fetch('/pwned/{index}/', {{method: 'POST'}}); document.title = 'pwned'"
    if "svg" in declared.lower():
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" onload="{call}">'
            f"<script>{call}</script><rect width='10' height='10'/></svg>"
        ).encode()
    return f"<!doctype html><title>x</title><script>{call}</script>".encode()


def _track(url: str) -> None:
    """Track one message carrying every hostile file, as an application would; delivered."""
    tracker = ConversationTracker(api_key=TEST_API_KEY, endpoint=url, _ledger=DeliveryLedger())
    try:
        tracker.get_or_create_conversation("scripts", name="Files with script")
        files = [
            {
                "filename": f"file-{index}.{'svg' if 'svg' in declared.lower() else 'html'}",
                "data": base64.b64encode(_hostile(index, declared)).decode(),
                "mime_type": declared,
            }
            for index, declared in enumerate(DECLARED)
        ]
        tracker.track_human_message("Look at these", attachments=files)
        result = tracker.send_tracked_data(timeout=15)
        assert result["status"] == "delivered", result
    finally:
        tracker.shutdown(5)


@pytest.fixture(scope="module")
def tracked() -> Iterator[tuple[LocalServer, int, list[int]]]:
    """A loopback server the tracker delivered the files to: its pk and the files' ids."""
    with LocalServer(api_keys=[TEST_API_KEY]) as server:
        # Off this thread: Playwright's event loop runs on it, and a send there does not block.
        with ThreadPoolExecutor(1) as worker:
            worker.submit(_track, server.url).result()
        record = requests.get(
            f"{server.url}/api/conversations/scripts/attachments/", headers=KEY, timeout=10
        ).json()
        stored = {f["mime_type"]: f["id"] for f in record["files"]}
        assert sorted(stored) == sorted(DECLARED)
        pk = requests.get(f"{server.url}/api/conversations/scripts/", headers=KEY, timeout=10)
        yield server, pk.json()["id"], [stored[declared] for declared in DECLARED]


@pytest.fixture
def watched(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A page (with the API key, for the API's file route) and every URL the browser asked for."""
    context = browser.new_context(extra_http_headers=KEY, accept_downloads=True)
    asked: list[str] = []
    context.on("request", lambda request: asked.append(request.url))
    yield context.new_page(), asked
    context.close()


def _assert_nothing_ran(page: Any, asked: list[str]) -> None:
    """No script called the server or renamed the page."""
    assert [url for url in asked if "/pwned/" in url] == []
    assert page.title() != "pwned"


def test_the_viewer_links_files_with_script_as_downloads(
    tracked: tuple[LocalServer, int, list[int]], watched: tuple[Any, list[str]]
) -> None:
    server, pk, file_ids = tracked
    page, asked = watched
    for file_id in file_ids:
        page.goto(f"{server.url}/conversations/{pk}/")
        assert page.locator(f'img[src="/files/{file_id}/"]').count() == 0
        with page.expect_download(timeout=10_000) as download:
            page.locator(f'a[href="/files/{file_id}/"]').first.click()
        assert download.value.suggested_filename.startswith("file-")
        _assert_nothing_ran(page, asked)


@pytest.mark.parametrize("route", ["/files/{}/", "/api/attachments/{}/content/"])
def test_opening_a_file_with_script_downloads_it(
    tracked: tuple[LocalServer, int, list[int]], watched: tuple[Any, list[str]], route: str
) -> None:
    server, _, file_ids = tracked
    page, asked = watched
    for file_id in file_ids:
        page.goto(f"{server.url}/")
        with page.expect_download(timeout=10_000):
            try:
                page.goto(server.url + route.format(file_id))
            except Exception as exc:  # Chromium aborts a navigation that becomes a download
                assert "Download is starting" in str(exc) or "ERR_ABORTED" in str(exc)
        _assert_nothing_ran(page, asked)
