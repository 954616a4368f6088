"""The transcript viewer: server-rendered pages over the Store, open on loopback, keyed beyond."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_from_bytes, urlencode

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from agentsight_otel._attachments.mime import shown_inline
from agentsight_otel._server import read_conversations, reads
from agentsight_otel._server.auth import check_authorization
from agentsight_otel._server.body import read_body
from agentsight_otel._server.downloads import file_response
from agentsight_otel._server.numbers import page_number
from agentsight_otel._server.paths import raw_path, split_reference
from agentsight_otel._server.read_api import path_id
from agentsight_otel._server.sessions import ViewerSessions
from agentsight_otel._server.store import Store
from agentsight_otel._server.viewer_format import FILTERS, NO_CONTENT_HINT
from agentsight_otel._server.viewer_model import build_turns, unplaced_files

PAGE_SIZE = 50
COOKIE = "agentsight_viewer"
_HERE = Path(__file__).resolve().parent
_LIST_FILTERS = ("q", "environment", "engaged", "source", "device")
_CATCH_ALL = "/{path:path}"
_URL_SYNTAX = "/%!$&'()*+,;=:@-._~"
_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
Endpoint = Callable[[Request], Awaitable[Response]]


def viewer_routes(
    store: Store, api_keys: frozenset[str] | None, key_required: bool, sessions: ViewerSessions
) -> list[BaseRoute]:
    """The viewer's pages, its stylesheet, its login form and logout."""
    viewer = Viewer(store, api_keys, key_required, sessions)
    return [
        Route("/", viewer.gate(viewer.conversations), methods=["GET"]),
        # By pk or by conversation_id (percent-encoded, read from the raw path).
        Route(
            "/conversations/{reference:path}/", viewer.gate(viewer.conversation), methods=["GET"]
        ),
        Route("/files/{file_id}/", viewer.gate(viewer.file), methods=["GET"]),
        Route("/login/", viewer.login, methods=["GET", "POST"]),
        Route("/logout/", viewer.logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
        # Keep this last: it answers every path no route above took.
        Route(_CATCH_ALL, viewer.missing, methods=_EVERY_METHOD),
    ]


class Viewer:
    """The page handlers and the gate in front of them."""

    def __init__(
        self,
        store: Store,
        api_keys: frozenset[str] | None,
        key_required: bool,
        sessions: ViewerSessions,
    ) -> None:
        """Bind to store; logins become sessions in ``sessions``."""
        self._store = store
        self._keys = api_keys
        self._key_required = key_required
        self._sessions = sessions
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True
        )
        environment.filters.update(FILTERS)
        environment.globals["no_content_hint"] = NO_CONTENT_HINT
        environment.tests["shown_inline"] = shown_inline
        self._templates = Jinja2Templates(env=environment)

    def gate(self, endpoint: Endpoint) -> Endpoint:
        """Let a request through on loopback, or with a key (header) or a session (cookie).

        What the page refuses (an unknown id, a page that does not exist) is an HTML page too.
        """

        async def gated(request: Request) -> Response:
            """Redirect to the login form when a key is needed and none was shown."""
            if not self._allowed(request):
                target = "/login/?" + urlencode({"next": request.url.path})
                return RedirectResponse(target, 303)
            try:
                return await endpoint(request)
            except HTTPException as exc:
                context = {"status": exc.status_code, "detail": exc.detail}
                return self._templates.TemplateResponse(
                    request, "error.html", context, status_code=exc.status_code
                )

        return gated

    async def conversations(self, request: Request) -> Response:
        """The conversation list: newest first, searchable, filterable, paged."""
        params = {name: request.query_params.get(name, "").strip() for name in _LIST_FILTERS}
        number = page_number(request.query_params.get("page", "1"))
        if number is None:
            raise HTTPException(404, "Invalid page.")
        total, rows, choices = await run_in_threadpool(
            self._store.run_query, _list_page, params, number
        )
        pages = max(1, math.ceil(total / PAGE_SIZE))
        if number > pages:
            raise HTTPException(404, "Invalid page.")
        kept = {name: value for name, value in params.items() if value}
        context = {
            "rows": rows,
            "total": total,
            "params": params,
            "choices": choices,
            "page": number,
            "pages": pages,
            "previous": urlencode({**kept, "page": number - 1}) if number > 1 else None,
            "next": urlencode({**kept, "page": number + 1}) if number < pages else None,
        }
        return self._templates.TemplateResponse(request, "list.html", context)

    async def conversation(self, request: Request) -> Response:
        """One conversation: header, usage, and its turns in chat form with timelines."""
        parsed = split_reference(raw_path(request), b"/conversations/")
        found = None
        if parsed is not None:
            found = await run_in_threadpool(self._store.run_query, _detail, parsed[0])
        if found is None:
            raise HTTPException(404, "Conversation not found.")
        return self._templates.TemplateResponse(request, "conversation.html", found)

    async def missing(self, request: Request) -> Response:
        """No route took the path: a viewer page without its slash is sent to it, else 404.

        The API's paths keep their JSON 404 and are never redirected: the real backend
        requires the slash, and a redirect would hide a client that forgot it.
        """
        path = request.url.path
        allowed = _allowed_methods(request, path)
        if allowed:
            raise HTTPException(405, headers={"Allow": ", ".join(sorted(allowed))})
        if path == "/api" or path.startswith("/api/"):
            raise HTTPException(404)
        if request.method in ("GET", "HEAD") and _is_page(request, path + "/"):
            # Escapes the client sent stay as sent; any other byte outside URL syntax is escaped.
            target = quote_from_bytes(raw_path(request), safe=_URL_SYNTAX) + "/"
            query = request.url.query
            return RedirectResponse(_local_path(target + (f"?{query}" if query else "")), 307)
        context = {"status": 404, "detail": "Page not found."}
        return self._templates.TemplateResponse(request, "error.html", context, status_code=404)

    async def file(self, request: Request) -> Response:
        """An uploaded file, shown inline when it is a raster image and downloaded otherwise."""
        found = await run_in_threadpool(self._store.file, path_id(request, "file_id"))
        if found is None:
            raise HTTPException(404, "File not found.")
        return file_response(*found)

    async def login(self, request: Request) -> Response:
        """Ask for an API key; a good one opens a session of its own (the key is not kept)."""
        target = _local_path(request.query_params.get("next"))
        failed = False
        if request.method == "POST":
            form = parse_qs((await read_body(request, 4096)).decode("utf-8", "replace"))
            key = (form.get("key") or [""])[0].strip()
            if check_authorization(f"Api-Key {key}", self._keys) is None:
                response = RedirectResponse(target, 303)
                response.set_cookie(
                    COOKIE,
                    self._sessions.open(),
                    max_age=int(self._sessions.lifetime),
                    path="/",
                    secure=_over_https(request),
                    httponly=True,
                    samesite="strict",
                )
                return response
            failed = True
        context = {"next": target, "failed": failed}
        return self._templates.TemplateResponse(
            request, "login.html", context, status_code=401 if failed else 200
        )

    async def logout(self, request: Request) -> Response:
        """End this browser's session on the server and drop its cookie."""
        self._sessions.close(request.cookies.get(COOKIE, ""))
        response = RedirectResponse("/login/", 303)
        response.delete_cookie(
            COOKIE, path="/", secure=_over_https(request), httponly=True, samesite="strict"
        )
        return response

    def _allowed(self, request: Request) -> bool:
        """Whether this request may see the viewer."""
        if not self._key_required:
            return True
        if self._sessions.valid(request.cookies.get(COOKIE, "")):
            return True
        header = request.headers.get("authorization")
        return header is not None and check_authorization(header, self._keys) is None


def _is_page(request: Request, path: str) -> bool:
    """Whether a viewer route (not the API, not the catch-all) serves path."""
    scope = {**request.scope, "path": path}
    return any(
        route.matches(scope)[0] == Match.FULL and not route.path.startswith("/api/")
        for route in _routes(request)
    )


def _allowed_methods(request: Request, path: str) -> set[str]:
    """The methods of a route that serves path, but not with this request's method."""
    scope = {**request.scope, "path": path}
    for route in _routes(request):
        if isinstance(route, Route) and route.matches(scope)[0] == Match.PARTIAL:
            return set(route.methods or ())
    return set()


def _routes(request: Request) -> list[Route | Mount]:
    """The application's routes, without the catch-all."""
    routes = request.app.router.routes
    return [r for r in routes if isinstance(r, (Route, Mount)) and r.path != _CATCH_ALL]


def _list_page(
    db: Any, params: dict[str, str], number: int
) -> tuple[int, list[reads.Record], dict[str, list[str]]]:
    """Matching conversations (one page), their count, and the values the filters offer."""
    filters = {"search": params["q"], "environment": params["environment"]}
    filters.update(source=params["source"], device=params["device"])
    filters["is_used"] = {"engaged": "true", "visit": "false"}.get(params["engaged"], "")
    query = read_conversations.conversation_query(filters)
    total = read_conversations.count(db, query)
    rows = read_conversations.page(db, query, (number - 1) * PAGE_SIZE, PAGE_SIZE)
    for row in rows:
        row["last_message"] = reads.last_message(db, row["id"])
        row["cost_usd"] = reads.usage(db, row["id"])["cost_usd"]
    choices = {
        column: [
            row[0]
            for row in db.execute(
                f"SELECT DISTINCT {column} FROM conversations WHERE {column} IS NOT NULL"
                f" ORDER BY {column}"
            )
        ]
        for column in ("environment", "source", "device")
    }
    return total, rows, choices


def _detail(db: Any, reference: str) -> dict[str, Any] | None:
    """Everything the conversation page shows; reference is a pk or a conversation_id."""
    conversation_id = read_conversations.resolve(db, reference)
    if conversation_id is None:
        return None
    conversation = read_conversations.summary(db, conversation_id)
    pk = conversation["id"]
    files = reads.files(db, pk)
    page = build_turns(reads.spans(db, pk), files)
    return {
        "conversation": conversation,
        "metadata": json.dumps(conversation["metadata"], indent=2, ensure_ascii=False),
        "turns": page.turns,
        "outside": page.outside,
        "outside_spans": page.outside_spans,
        "loose_files": unplaced_files(page.turns, files),
        "usage": reads.usage(db, pk),
    }


def _over_https(request: Request) -> bool:
    """Whether the browser reached us over https.

    The scheme is uvicorn's: https behind TLS, or from X-Forwarded-Proto when the proxy's address
    is one uvicorn trusts (127.0.0.1 and ::1 unless FORWARDED_ALLOW_IPS says otherwise).
    """
    return request.url.scheme == "https"


def _local_path(value: str | None) -> str:
    """A redirect target on this server only (never another host)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"
