"""Ids, pages and page sizes from paths and queries: out of range is a 400/404, never a 500.

The routes are read from the application itself, so a route added later is covered too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from agentsight_otel._server.app import SUB_RESOURCES, create_app
from agentsight_otel._server.numbers import MAX_PAGE, SQLITE_MAX, whole_number
from agentsight_otel._server.store import Store
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY

BAD = {
    "20-digits": "99999999999999999999",
    "int64+1": str(SQLITE_MAX + 1),
    "int64-max": str(SQLITE_MAX),
    "minus-one": "-1",
    "zero": "0",
    "5000-digits": "9" * 5000,
    "exponent": "1e3",
    "decimal": "1.0",
    "plus": "+1",
    "arabic-digits": "\u0661\u0662",
}
_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


def _get_routes() -> tuple[list[str], list[str]]:
    """The app's GET paths with parameters (as templates) and without (as they are)."""
    store = Store()
    try:
        routes = create_app(store, loopback=True).routes
    finally:
        store.close()
    with_ids: list[str] = []
    plain: list[str] = []
    for route in routes:
        path, methods = getattr(route, "path", ""), getattr(route, "methods", None) or set()
        if "GET" not in methods:
            continue
        if not _PARAM.search(path):
            plain.append(path)
        elif path.endswith("{rest:path}"):  # /api/conversations/{id}/ and its sub-resources
            base = path.replace("{rest:path}", "{id}/")
            with_ids += [base, *(f"{base}{part}/" for part in sorted(SUB_RESOURCES))]
        else:
            with_ids.append(_PARAM.sub(r"{\1}", path))
    return with_ids, plain


ID_ROUTES, PLAIN_ROUTES = _get_routes()


_KEY = {"Authorization": f"Api-Key {TEST_API_KEY}"}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    """One loopback server (the viewer is open) shared by the module; it holds one page at most."""
    with LocalServer(api_keys=[TEST_API_KEY]) as running:
        yield running


def _get(server: LocalServer, path: str, **params: str) -> requests.Response:
    """GET with the API key (the viewer ignores it on loopback)."""
    return requests.get(server.url + path, params=params, headers=_KEY, timeout=30)


def _assert_refused(answer: requests.Response, path: str) -> None:
    """A 400/404 in the surface's own form: JSON detail on the API, an HTML page in the viewer."""
    assert answer.status_code in (400, 404), (path, answer.status_code, answer.text[:300])
    if path.startswith("/api/"):
        assert "detail" in answer.json()
    else:
        assert answer.headers["content-type"].startswith("text/html")
        assert "<h1>" in answer.text


def test_the_routes_were_found() -> None:
    assert len(ID_ROUTES) >= 15 and "/files/{file_id}/" in ID_ROUTES
    assert {"/", "/api/conversations/", "/api/spans/"} <= set(PLAIN_ROUTES)


@pytest.mark.parametrize("value", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize("template", ID_ROUTES)
def test_out_of_range_ids_are_refused(server: LocalServer, template: str, value: str) -> None:
    path = _PARAM.sub(lambda _: value, template)
    _assert_refused(_get(server, path), path)


@pytest.mark.parametrize("value", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize("path", PLAIN_ROUTES)
def test_out_of_range_pages_are_refused(server: LocalServer, path: str, value: str) -> None:
    if _get(server, path, page="2").status_code != 404:
        # Not a paged route (the store holds one page): a page number changes nothing.
        assert _get(server, path, page=value).status_code == _get(server, path).status_code
        return
    _assert_refused(_get(server, path, page=value), path)


def test_the_paged_routes_are_recognised(server: LocalServer) -> None:
    paged = {path for path in PLAIN_ROUTES if _get(server, path, page="2").status_code == 404}
    expected = {"/", "/api/conversations/", "/api/actions/", "/api/spans/", "/api/token-usage/"}
    assert paged == expected


@pytest.mark.parametrize("value", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize("path", PLAIN_ROUTES)
def test_any_page_size_is_clamped(server: LocalServer, path: str, value: str) -> None:
    answer = _get(server, path, page_size=value)
    assert answer.status_code == _get(server, path).status_code
    if answer.headers["content-type"] == "application/json" and "page_size" in answer.json():
        assert 1 <= answer.json()["page_size"] <= 100


def test_a_20_digit_conversation_id_is_still_a_conversation_id(server: LocalServer) -> None:
    digits = "99999999999999999999"
    created = requests.post(
        f"{server.url}/api/conversations/",
        json={"conversation_id": digits},
        headers=_KEY,
        timeout=10,
    )
    assert created.status_code == 201
    found = _get(server, f"/api/conversations/{digits}/transcript/")
    assert found.status_code == 200 and found.json()["conversation_id"] == digits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("42", 42),
        (str(SQLITE_MAX), SQLITE_MAX),
        (str(SQLITE_MAX + 1), None),
        ("0" * 19 + "1", None),  # 20 characters: refused before int()
        ("9" * 5000, None),
        ("", None),
        ("-1", None),
        (" 1", None),
        ("1e3", None),
        ("\u0661", None),  # ARABIC-INDIC DIGIT ONE: a digit to str.isdigit()
    ],
)
def test_whole_number(text: str, expected: int | None) -> None:
    assert whole_number(text) == expected


def test_the_last_page_offset_fits_sqlite() -> None:
    assert (MAX_PAGE - 1) * 100 <= SQLITE_MAX
