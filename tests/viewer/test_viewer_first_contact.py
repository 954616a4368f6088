"""What a new user's first session met in the viewer (issue 20), over real HTTP on 127.0.0.1."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
import requests
from genai_prices import Usage, calc_price

from agentsight_otel.server import LocalServer
from tests.server.server_helpers import Api, at, block, body, message, span, turn

from .conftest import HOSTILE

ODD_ID = "shop/eu ?#%&ü 😀"
HINT = "enable content capture in your instrumentation (e.g. OTEL_INSTRUMENTATION_GENAI_CAPTURE"
LONG = "Where is my parcel? " * 20


def _llm(parent: dict[str, Any], model: str, start: float, **attributes: Any) -> dict[str, Any]:
    """A model call inside parent's turn, with no duration (a usage record)."""
    call = span("llm", conversation_id=parent["attributes"]["agentsight.conversation.id"])
    call.update(started_at=at(start), ended_at=at(start), duration_ms=0.0)
    call["parent_span_id"] = parent["span_id"]
    call["attributes"].update({"gen_ai.request.model": model, **attributes})
    return call


def _priced() -> dict[str, Any]:
    """A turn with a priced model, an unpriced one, a failed tool and an unset one."""
    opening = turn(
        message("end_user", "first question", 0.1),
        message("agent", LONG, 0.4),
        conversation_id="priced",
    )
    gpt = _llm(
        opening,
        "gpt-4o",
        0.2,
        **{"gen_ai.system": "openai", "gen_ai.usage.input_tokens": 1000},
        **{"gen_ai.usage.output_tokens": 100},
    )
    house = _llm(opening, "house-model", 0.3, **{"gen_ai.usage.input_tokens": 7})
    failed = span("tool", conversation_id="priced", start=0.2, end=0.3, status="error")
    failed["attributes"].update(
        {"agentsight.tool.name": "charge_card", "agentsight.tool.error": "card declined: 51"}
    )
    unset = span("tool", conversation_id="priced", start=0.3, end=0.35, status="unset")
    unset["attributes"]["agentsight.tool.name"] = "lookup_stock"
    for child in (failed, unset):
        child["parent_span_id"] = opening["span_id"]
    return block(opening, gpt, house, failed, unset, conversation_id="priced", name="Priced")


def _no_content() -> dict[str, Any]:
    """GenAI spans captured without content: a turn with a model call and no message."""
    opening = turn(conversation_id="bare")
    call = _llm(opening, "gpt-4o-mini", 0.2, **{"gen_ai.usage.input_tokens": 12})
    return block(opening, call, conversation_id="bare")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """A local server (viewer open on loopback) with the conversations these tests read."""
    with LocalServer() as server:
        api = Api(server.url)
        odd = turn(message("end_user", "odd one", 1), conversation_id=ODD_ID)
        hostile = turn(message("end_user", HOSTILE, 1), conversation_id="hostile-last")
        blocks = [
            _priced(),
            _no_content(),
            block(odd, conversation_id=ODD_ID, name="Odd id"),
            block(hostile, conversation_id="hostile-last"),
        ]
        assert api.ingest(body(*blocks)).status_code == 200
        api.session.close()
        yield server.url


def _get(site: str, path: str, **options: Any) -> requests.Response:
    """GET without credentials and (unless told) without following redirects."""
    return requests.get(site + path, timeout=10, **{"allow_redirects": False, **options})


def _page(site: str, conversation_id: str) -> str:
    """A conversation page by its conversation_id, asserting it is there."""
    answer = _get(site, f"/conversations/{quote(conversation_id, safe='')}/")
    assert answer.status_code == 200, answer.text
    return answer.text


def _expected_gpt_cost() -> Decimal:
    """genai-prices' own price of the gpt-4o call in _priced()."""
    usage = Usage(input_tokens=1000, output_tokens=100)
    when = datetime.fromisoformat(at(0.2))
    found = calc_price(usage, "gpt-4o", provider_id="openai", genai_request_timestamp=when)
    return Decimal(found.total_price)


def test_costs_are_estimates_from_genai_prices(site: str) -> None:
    page = _page(site, "priced")
    shown = f"≈ ${_expected_gpt_cost():.4f}"
    assert f"Cost {shown}, estimate" in page  # the conversation
    assert f"Turn cost {shown}, estimate" in page  # the turn
    assert f'<td class="cost">{shown}</td>' in page  # the priced model's row
    assert '<td class="cost">unpriced</td>' in page  # the model genai-prices does not know
    assert "house-model: 7 in / 0 out · unpriced" in page
    listing = _get(site, "/").text
    assert f"{shown}, estimate" in listing


def test_list_previews_the_last_message_escaped_and_cut(site: str) -> None:
    listing = _get(site, "/").text
    previews = re.findall(r'<div class="preview">(.*?)</div>', listing, re.S)
    assert len(previews) == 3  # every conversation with a message ("bare" has none)
    (priced,) = [p for p in previews if "Where is my parcel?" in p]
    assert "first question" not in priced and priced.endswith("…")
    assert len(html.unescape(re.sub("<[^>]+>", "", priced))) < 170
    assert "<script>window.__xss" not in listing and "&lt;script&gt;window.__xss" in listing


def test_each_turn_lists_its_raw_spans(site: str) -> None:
    page = _page(site, "priced")
    (raw,) = re.findall(r'<details class="raw-spans">(.*?)</details>', page, re.S)
    assert "<summary>Raw spans (5)</summary>" in raw
    assert "&#34;gen_ai.request.model&#34;: &#34;house-model&#34;" in raw
    assert "card declined: 51" in raw
    hostile = _page(site, "hostile-last")
    assert "<script>window.__xss" not in hostile
    assert "Raw spans (1)" in hostile


@pytest.mark.parametrize("conversation_id", ["priced", ODD_ID])
def test_conversation_ids_work_in_urls(site: str, conversation_id: str) -> None:
    page = _page(site, conversation_id)
    assert html.escape(conversation_id, quote=False) in page


def test_unknown_conversations_and_pages_are_html_404s(site: str) -> None:
    for path in ("/conversations/nobody/", "/conversations/99999/", "/nowhere", "/a/b/c/"):
        answer = _get(site, path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "All conversations" in answer.text


def test_viewer_pages_without_a_slash_redirect_to_it(site: str) -> None:
    encoded = quote(ODD_ID, safe="")
    cases = {
        "/conversations/priced": "/conversations/priced/",
        f"/conversations/{encoded}": f"/conversations/{encoded}/",
        "/conversations/priced?x=1": "/conversations/priced/?x=1",
        "/files/1": "/files/1/",
        "/login": "/login/",
    }
    for path, target in cases.items():
        answer = _get(site, path)
        assert (answer.status_code, answer.headers.get("location")) == (307, target), path
    assert _get(site, f"/conversations/{encoded}", allow_redirects=True).status_code == 200
    assert _get(site, "//evil.example").headers.get("location") is None


def test_api_paths_keep_their_json_404_and_405(site: str) -> None:
    for path in ("/api/conversations", "/api/me", "/api/nothing/"):
        answer = _get(site, path)
        assert answer.status_code == 404, path
        assert answer.json() == {"detail": "Not Found"}
    assert requests.post(site + "/api/nothing/", timeout=10).status_code == 404
    refused = requests.delete(site + "/api/me/", timeout=10)
    assert refused.status_code == 405 and "GET" in refused.headers["allow"]


def test_counts_agree_with_their_nouns(site: str) -> None:
    listing = _get(site, "/").text
    assert "1 message · 0 actions" in listing  # the odd-id conversation
    assert "2 messages · 2 actions" in listing
    assert "1 messages" not in listing and "1 actions" not in listing


def test_a_model_call_without_duration_is_a_tick(site: str) -> None:
    page = _page(site, "priced")
    assert page.count('class="seg seg-llm point ') == 2
    assert "0.0 ms" not in page


def test_action_errors_show_on_the_row_and_unset_is_not_a_status(site: str) -> None:
    page = _page(site, "priced")
    summaries = re.findall(r"<summary>(.*?)</summary>", page, re.S)
    (failed,) = [s for s in summaries if "charge_card" in s]
    assert '<span class="error-line">card declined: 51</span>' in failed
    (quiet,) = [s for s in summaries if "lookup_stock" in s]
    assert "unset" not in quiet and "badge" not in quiet


def test_turns_without_captured_content_say_how_to_capture_it(site: str) -> None:
    bare = _page(site, "bare")
    assert "No message content captured" in bare and HINT in bare
    assert HINT not in _page(site, "priced")
