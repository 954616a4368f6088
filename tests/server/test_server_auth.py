"""Api-Key authentication on every /api route; the key never comes back."""

from __future__ import annotations

import logging

import pytest
import requests

from agentsight_otel._server.auth import check_authorization
from agentsight_otel.server import LocalServer
from tests.server.server_helpers import KEY, OTHER_KEY, Api, StartServer, body, load_sample

MALFORMED = "ags_not-a-real-key-but-secret-1234"
ROUTES = [
    ("GET", "/api/me/"),
    ("POST", "/api/ingest/"),
    ("GET", "/api/conversations/"),
    ("POST", "/api/conversations/"),
    ("GET", "/api/conversations/web-1/"),
    ("GET", "/api/conversations/web-1/transcript/"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "header",
    [None, f"Bearer {KEY}", "Api-Key", f"Api-Key {KEY} extra"],
    ids=["none", "bearer", "empty", "two"],
)
def test_missing_or_foreign_scheme_is_401(
    empty_api: Api, method: str, path: str, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    url = f"{empty_api.url}{path}"
    response = requests.request(method, url, headers=headers, json={}, timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Api-Key"
    assert set(response.json()) == {"detail"}
    assert KEY not in response.text


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_malformed_key_is_403_and_not_echoed(empty_api: Api, method: str, path: str) -> None:
    headers = {"Authorization": f"Api-Key {MALFORMED}"}
    url = f"{empty_api.url}{path}"
    response = requests.request(method, url, headers=headers, json=load_sample(), timeout=10)
    assert response.status_code == 403
    assert MALFORMED not in response.text
    assert "not-a-real-key" not in response.text
    assert empty_api.conversation_ids() == []


def test_keys_and_scheme_are_case_insensitive(empty_api: Api) -> None:
    headers = {"Authorization": f"Api-Key {KEY}".upper()}
    response = requests.get(f"{empty_api.url}/api/me/", headers=headers, timeout=10)
    assert response.status_code == 200


def test_configured_keys_refuse_unknown_ones(start_server: StartServer) -> None:
    running, client = start_server(api_keys=[KEY.upper()])
    assert client.ingest(load_sample()).status_code == 200
    headers = {"Authorization": f"Api-Key {OTHER_KEY}"}
    response = requests.post(f"{running.url}/api/ingest/", json=body(), headers=headers, timeout=10)
    assert response.status_code == 403
    assert response.json() == {"detail": "Unknown API key."}
    assert OTHER_KEY not in response.text


def test_malformed_configured_key_is_refused_without_echo() -> None:
    with pytest.raises(ValueError, match="api_keys") as caught:
        LocalServer(api_keys=[MALFORMED])
    assert MALFORMED not in str(caught.value)


def test_keys_never_reach_the_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"Authorization": f"Api-Key {MALFORMED}"}
    requests.post(f"{api.url}/api/ingest/", json=load_sample(), headers=headers, timeout=10)
    bad = load_sample()
    bad["conversations"][0]["environment"] = "nope"
    assert api.ingest(bad).status_code == 400
    assert api.ingest(load_sample()).status_code == 200
    assert MALFORMED not in caplog.text
    assert KEY not in caplog.text


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("", 401),
        ("Token abc", 401),
        (f"api-key {KEY}", None),
        (f"Api-Key   {KEY}  ", None),
        ("Api-Key ags_0123_abc", 403),
        (f"Api-Key {KEY}0", 403),
    ],
)
def test_check_authorization(header: str | None, status: int | None) -> None:
    failure = check_authorization(header, None)
    assert (failure.status if failure else None) == status
