"""The viewer in a real browser: Debian's Chromium driven by Playwright, screenshots kept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY

from .conftest import ARTIFACTS, BROWSER_MARKS, HOSTILE

pytest.importorskip("playwright.sync_api")
pytestmark = BROWSER_MARKS
SIZES = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=sorted(SIZES))
def page(request: pytest.FixtureRequest, browser: Any) -> Iterator[Any]:
    """A page at laptop or phone width that fails the test on any console error."""
    context = browser.new_context(viewport=SIZES[request.param])
    opened = context.new_page()
    opened.size_name = request.param
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert errors == []


def _shoot(page: Any, name: str) -> None:
    """Save a full-page screenshot under tests/.artifacts/viewer/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}-{page.size_name}.png"
    page.screenshot(path=str(target), full_page=True)
    print(f"screenshot: {target}")


def test_list_shows_every_conversation_and_links_to_it(viewer: LocalServer, page: Any) -> None:
    page.goto(viewer.url + "/")
    rows = page.locator(".conversations li")
    assert rows.count() == 3
    assert rows.first.inner_text().startswith("visit-only")
    assert page.get_by_text("Parcel marked delivered but missing").is_visible()
    _shoot(page, "list")
    page.get_by_text("Parcel marked delivered but missing").click()
    page.wait_for_url("**/conversations/*/")
    assert page.locator("h1").inner_text() == "Parcel marked delivered but missing"
    page.get_by_text("All conversations").click()
    page.wait_for_url(viewer.url + "/")


def test_search_and_filters_narrow_the_list(viewer: LocalServer, page: Any) -> None:
    page.goto(viewer.url + "/")
    page.get_by_label("Search").fill("neighbours")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/?q=neighbours**")
    assert page.locator(".conversations li").count() == 1
    page.get_by_label("Engagement").select_option("visit")
    page.get_by_role("button", name="Filter").click()
    assert page.get_by_text("No conversations match").is_visible()
    _shoot(page, "list-filtered")
    page.get_by_text("Clear").click()
    assert page.locator(".conversations li").count() == 3


def test_conversation_page_shows_the_tracked_content(viewer: LocalServer, page: Any) -> None:
    page.goto(viewer.url + "/conversations/1/")
    assert page.locator(".turn").count() == 2
    assert page.locator(".msg").count() == 6
    # Scoped to the chat: each turn's raw spans (closed) carry the same text.
    chat = page.locator(".chat")
    assert chat.get_by_text("Hi, my order A-1009 says delivered").is_visible()
    failed = page.locator("details.action.failed")
    assert failed.count() == 1 and "issue_refund" in failed.inner_text()
    failed.locator("summary").click()
    assert "payment provider did not answer" in failed.inner_text()
    assert "[redacted]" in failed.inner_text()
    assert chat.get_by_text("handed to a human").is_visible()
    assert chat.get_by_text("Refund to card").is_visible()
    image = page.locator(".file.image img")
    assert image.evaluate("img => img.complete && img.naturalWidth") == 2
    assert page.locator(".timeline .seg").count() == 6
    assert "1,234" in page.locator(".usage").inner_text()
    _shoot(page, "conversation")


def test_hostile_conversation_runs_no_script(viewer: LocalServer, page: Any) -> None:
    page.goto(viewer.url + "/")
    page.locator(".conversations a", has_text="hostile").click()
    page.wait_for_url("**/conversations/*/")
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("h1").inner_text() == HOSTILE
    assert page.locator(".turn.incomplete").count() == 1
    badge = page.get_by_text("incomplete: abandoned", exact=True)
    assert badge.is_visible() and badge.get_attribute("title") == "untracked for idle_timeout"
    _shoot(page, "hostile")


def test_beyond_loopback_sign_in_and_sign_out(guarded: str, page: Any) -> None:
    page.goto(guarded + "/conversations/1/")
    page.wait_for_url("**/login/?next=*")
    page.get_by_label("API key").fill(TEST_API_KEY)
    page.get_by_role("button", name="Open the viewer").click()
    page.wait_for_url(guarded + "/conversations/1/")
    _shoot(page, "signed-in")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(guarded + "/login/")
    page.goto(guarded + "/")
    page.wait_for_url("**/login/?next=*")  # the session is gone on the server
