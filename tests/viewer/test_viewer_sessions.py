"""Viewer sessions beyond loopback: one fresh token per login, expiring, ended by logout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import httpx
import pytest
from starlette.applications import Starlette

from agentsight_otel._server.sessions import IDLE_TIMEOUT_S, LIFETIME_S, ViewerSessions
from agentsight_otel._server.viewer import COOKIE
from agentsight_otel.server import Store, create_app
from agentsight_otel.testing import TEST_API_KEY, FakeClock

OTHER_KEY = "ags_ffffffffffffffffffffffffffffffff_000000"
T = TypeVar("T")


@pytest.fixture
def clock() -> FakeClock:
    """Time that moves only when a test moves it."""
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> Iterator[Starlette]:
    """The app as served beyond loopback, with one configured key."""
    store = Store(":memory:")
    yield create_app(store, api_keys=[TEST_API_KEY], clock=clock)
    store.close()


def _run(app: Starlette, scenario: Callable[[httpx.AsyncClient], Awaitable[T]], base: str) -> T:
    """Run a scenario with a client (its own cookie jar) over the app in process.

    On a fresh thread: the package's Playwright keeps an event loop running on this one.
    """

    async def go() -> T:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base) as client:
            return await scenario(client)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


async def _login(client: httpx.AsyncClient, key: str = TEST_API_KEY) -> httpx.Response:
    return await client.post("/login/?next=/", data={"key": key})


def _session_cookie(answer: httpx.Response) -> str:
    """The Set-Cookie header of a login answer."""
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    return cookie


def test_two_logins_get_two_different_tokens(app: Starlette) -> None:
    first = _run(app, _login, "http://viewer.example")
    second = _run(app, _login, "http://viewer.example")
    assert first.status_code == second.status_code == 303
    tokens = {_session_cookie(answer).split(";")[0] for answer in (first, second)}
    assert len(tokens) == 2
    for answer in (first, second):
        cookie = _session_cookie(answer)
        assert TEST_API_KEY not in cookie and TEST_API_KEY[4:36] not in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain http: a Secure cookie would never come back


def test_a_session_opens_the_viewer_and_logout_ends_it(app: Starlette) -> None:
    async def scenario(client: httpx.AsyncClient) -> tuple[int, ...]:
        await _login(client)
        token = client.cookies[COOKIE]
        page = await client.get("/")
        inside = page.status_code if 'action="/logout/"' in page.text else -1
        logout = await client.post("/logout/")
        cleared = f"{COOKIE}=" in logout.headers["set-cookie"] and COOKIE not in client.cookies
        client.cookies.set(COOKIE, token)  # the old cookie, replayed: the server forgot it
        after = await client.get("/")
        return inside, logout.status_code, int(cleared), after.status_code

    assert _run(app, scenario, "http://viewer.example") == (200, 303, 1, 303)


@pytest.mark.parametrize(
    ("limit", "steps"),
    [
        ("idle", [IDLE_TIMEOUT_S + 1]),
        ("absolute", [IDLE_TIMEOUT_S - 60] * (int(LIFETIME_S // (IDLE_TIMEOUT_S - 60)) + 1)),
    ],
)
def test_an_expired_session_is_refused(
    app: Starlette, clock: FakeClock, limit: str, steps: list[float]
) -> None:
    async def scenario(client: httpx.AsyncClient) -> list[int]:
        await _login(client)
        statuses = [(await client.get("/")).status_code]
        for step in steps:
            clock.time += step
            statuses.append((await client.get("/")).status_code)
        return statuses

    statuses = _run(app, scenario, "http://viewer.example")
    assert statuses[0] == 200 and statuses[-1] == 303
    assert set(statuses[1:-1]) <= {200}  # used within the idle time, until the absolute limit


def test_the_cookie_is_secure_over_https(app: Starlette) -> None:
    async def scenario(client: httpx.AsyncClient) -> tuple[str, str]:
        login = await _login(client)
        logout = await client.post("/logout/")
        return login.headers["set-cookie"], logout.headers["set-cookie"]

    login, logout = _run(app, scenario, "https://viewer.example")
    assert "Secure" in login and "Secure" in logout


@pytest.mark.parametrize("key", [OTHER_KEY, "ags_wrong", ""])
def test_a_never_issued_key_cannot_log_in(app: Starlette, key: str) -> None:
    async def scenario(client: httpx.AsyncClient) -> tuple[int, bool, int, int]:
        answer = await _login(client, key)
        page = await client.get("/")
        header = await client.get("/", headers={"Authorization": f"Api-Key {key}"})
        return (
            answer.status_code,
            "set-cookie" in answer.headers,
            page.status_code,
            header.status_code,
        )

    assert _run(app, scenario, "http://viewer.example") == (401, False, 303, 303)


def test_sessions_are_bounded_oldest_first(clock: FakeClock) -> None:
    sessions = ViewerSessions(clock, limit=3)
    tokens = [sessions.open() for _ in range(4)]
    assert len(sessions) == 3
    assert [sessions.valid(token) for token in tokens] == [False, True, True, True]
    sessions.close(tokens[1])
    assert not sessions.valid(tokens[1]) and not sessions.valid("")


def test_login_needs_a_post(app: Starlette) -> None:
    async def scenario(client: httpx.AsyncClient) -> tuple[int, bool]:
        answer = await client.get(f"/login/?key={TEST_API_KEY}&next=/")
        return answer.status_code, "set-cookie" in answer.headers

    assert _run(app, scenario, "http://viewer.example") == (200, False)
