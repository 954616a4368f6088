"""DNS rebinding in a real browser: a page on an attacker's name that resolves to 127.0.0.1.

Chromium maps rebind.attacker.example to 127.0.0.1 (--host-resolver-rules), as the attacker's
DNS would after the page loaded; the page itself comes from "the attacker" (Playwright answers
its one URL). Its scripts then run same-origin against the local server's port.

Recent Chromium asks the user before a public page reaches loopback (Local Network Access);
the test turns that check off, standing for a user who clicked Allow or a browser without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY
from tests.server.server_helpers import block, body, message, turn

from .conftest import BROWSER_MARKS, CHROMIUM

pytest.importorskip("playwright.sync_api")
pytestmark = BROWSER_MARKS
REBOUND = "rebind.attacker.example"
SECRET = "my card is 4111 and my password is hunter2"
# A never-issued but well-formed key: on loopback without --api-key it passes the key check.
FORGED = "ags_" + "1" * 32 + "_abcdef"
ATTACK = """<!doctype html><title>cats</title><script>
window.results = (async () => {
  const auth = {"Authorization": "Api-Key %(key)s"};
  const read = async (path, init) => {
    try {
      const answer = await fetch(path, init);
      return [answer.status, await answer.text()];
    } catch (error) {
      return [0, String(error)];
    }
  };
  const planted = {"sdk": {"name": "x", "version": "0"}, "conversations": [
    {"conversation_id": "planted", "spans": []}]};
  return {
    viewer: await read("/"),
    transcript: await read("/api/conversations/private/transcript/", {headers: auth}),
    listing: await read("/api/conversations/", {headers: auth}),
    ingest: await read("/api/ingest/", {method: "POST", body: JSON.stringify(planted),
      headers: {...auth, "Content-Type": "application/json"}}),
  };
})();
</script>"""


@pytest.fixture
def rebinding_browser(browser: Any) -> Iterator[Any]:
    """Another Chromium from the same driver, resolving the attacker's name to this machine."""
    launched = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1",
            "--disable-features=LocalNetworkAccessChecks",
        ],
    )
    yield launched
    launched.close()


def test_a_rebound_page_reads_no_transcript_and_plants_nothing(rebinding_browser: Any) -> None:
    with LocalServer() as server:  # loopback, no --api-key: the default a developer runs
        private = block(turn(message("end_user", SECRET, 0), conversation_id="private"))
        private["conversation_id"] = "private"
        headers = {"Authorization": f"Api-Key {TEST_API_KEY}"}
        seeded = requests.post(f"{server.url}/api/ingest/", json=body(private), headers=headers)
        assert seeded.status_code == 200, seeded.text
        port = server.url.rsplit(":", 1)[1]
        page_url = f"http://{REBOUND}:{port}/cats.html"
        context = rebinding_browser.new_context()
        page = context.new_page()
        page.route(
            page_url,
            lambda route: route.fulfill(
                status=200, content_type="text/html", body=ATTACK % {"key": FORGED}
            ),
        )
        page.goto(page_url)
        results = page.evaluate("window.results")
        context.close()
        assert {name: status for name, (status, _) in results.items()} == {
            "viewer": 421,
            "transcript": 421,
            "listing": 421,
            "ingest": 421,
        }
        assert not any(SECRET in text or "private" in text for _, text in results.values())
        assert server.store.conversation("planted") is None
        # The same page on the server's own name reads it: the refusal is the Host, not the page.
        own = requests.get(
            f"{server.url}/api/conversations/private/transcript/", headers=headers, timeout=10
        )
        assert SECRET in own.text
