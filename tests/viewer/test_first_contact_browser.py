"""Issue 20 in Debian's Chromium: cost, preview, visible errors and a turn's raw spans."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from agentsight_otel.server import LocalServer

from .conftest import ARTIFACTS, BROWSER_MARKS

pytest.importorskip("playwright.sync_api")
pytestmark = BROWSER_MARKS


def test_the_demo_conversation_by_its_id_with_raw_spans(viewer: LocalServer, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(viewer.url + "/")
    row = page.locator(".conversations li", has_text="Parcel marked delivered but missing")
    assert "Great, thank you!" in row.locator(".preview").inner_text()
    assert "estimate" in row.locator(".stats").inner_text()
    conversation_id = row.locator(".sub code").inner_text()

    page.goto(f"{viewer.url}/conversations/{quote(conversation_id, safe='')}")  # no slash
    assert page.url.endswith("/")
    assert page.locator("h1").inner_text() == "Parcel marked delivered but missing"
    assert "estimate" in page.locator(".usage .total-cost").inner_text()
    refund = page.locator("details.action.failed")
    assert refund.locator(".error-line").is_visible()  # without opening the action
    assert "payment provider did not answer" in refund.locator(".error-line").inner_text()

    raw = page.locator("#turn-2 details.raw-spans")
    first_span = raw.locator(".raw-span pre").first
    assert not first_span.is_visible()
    raw.locator("summary").click()
    assert first_span.is_visible()
    assert "agentsight.tool.name" in raw.inner_text()
    assert "issue_refund" in raw.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "first-contact-raw-spans.png"), full_page=True)
    context.close()
    assert errors == []
