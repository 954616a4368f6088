"""DNS rebinding: on loopback the server answers only loopback Host names, on every route."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from starlette.applications import Starlette

from agentsight_otel.server import LocalServer, Store, create_app
from agentsight_otel.testing import TEST_API_KEY
from tests.server.server_helpers import block, body, message, turn
from tests.support.hosts import ALLOWED_HOSTS, REFUSED_HOSTS, every_route

AUTH = {"Authorization": f"Api-Key {TEST_API_KEY}"}


@pytest.fixture
def store() -> Iterator[Store]:
    """An in-memory store."""
    opened = Store(":memory:")
    yield opened
    opened.close()


def _answers(app: Starlette, host: str) -> dict[tuple[str, str], httpx.Response]:
    """Every route of app called once with this Host header (JSON body for POSTs)."""

    async def call_all() -> dict[tuple[str, str], httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            answers = {}
            for method, path in every_route(app):
                payload: Any = {} if method == "POST" else None
                headers = {**AUTH, "Host": host}
                answers[method, path] = await client.request(
                    method, path, json=payload, headers=headers
                )
            return answers

    return asyncio.run(call_all())


def test_every_route_is_enumerated(store: Store) -> None:
    calls = every_route(create_app(store, loopback=True))
    paths = {path for _, path in calls}
    assert {"/api/ingest/", "/api/me/", "/", "/login/", "/logout/", "/static/viewer.css"} <= paths
    assert len(calls) > 15


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_on_loopback_a_foreign_host_gets_421_on_every_route(store: Store, host: str) -> None:
    answers = _answers(create_app(store, loopback=True), host)
    refused = {call: answer.status_code for call, answer in answers.items()}
    assert set(refused.values()) == {421}, refused
    assert all("Misdirected" in answer.json()["detail"] for answer in answers.values())


@pytest.mark.parametrize("host", ALLOWED_HOSTS)
def test_on_loopback_a_loopback_host_is_answered_on_every_route(store: Store, host: str) -> None:
    answers = _answers(create_app(store, loopback=True), host)
    assert 421 not in {answer.status_code for answer in answers.values()}
    assert answers["GET", "/api/me/"].status_code == 200


@pytest.mark.parametrize("host", REFUSED_HOSTS[:6] + ALLOWED_HOSTS[:3])
def test_beyond_loopback_any_host_is_answered(store: Store, host: str) -> None:
    answers = _answers(create_app(store, api_keys=[TEST_API_KEY]), host)
    assert 421 not in {answer.status_code for answer in answers.values()}
    assert answers["GET", "/api/me/"].status_code == 200


@pytest.mark.parametrize(
    "headers",
    [[], [(b"host", b"localhost"), (b"host", b"attacker.example")], [(b"host", b"\xff")]],
)
def test_no_host_or_two_hosts_are_refused(store: Store, headers: list[tuple[bytes, bytes]]) -> None:
    app = create_app(store, loopback=True)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/me/",
        "raw_path": b"/api/me/",
        "query_string": b"",
        "headers": [*headers, (b"authorization", AUTH["Authorization"].encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8600),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 421


def test_over_real_http_a_rebound_name_plants_and_reads_nothing() -> None:
    with LocalServer() as server, requests.Session() as http:
        port = server.url.rsplit(":", 1)[1]
        planted_body = body(
            block(
                turn(message("end_user", "hi", 0), conversation_id="planted"),
                conversation_id="planted",
            )
        )
        for host in (f"rebind.attacker.example:{port}", f"127.0.0.1.nip.io:{port}"):
            headers = {**AUTH, "Host": host}
            planted = http.post(
                f"{server.url}/api/ingest/", json=planted_body, headers=headers, timeout=10
            )
            listed = http.get(f"{server.url}/api/conversations/", headers=headers, timeout=10)
            viewer = http.get(f"{server.url}/", headers={"Host": host}, timeout=10)
            assert (planted.status_code, listed.status_code, viewer.status_code) == (421, 421, 421)
        assert server.store.conversation("planted") is None
        own = http.post(f"{server.url}/api/ingest/", json=planted_body, headers=AUTH, timeout=10)
        assert own.status_code == 200 and server.store.conversation("planted") is not None
