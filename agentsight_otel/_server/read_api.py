"""AgentSight's read API as its own client (agentsight.api.AgentSight) calls it, over a Store."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentsight_otel._server import read_archive, read_conversations
from agentsight_otel._server.numbers import page_number, page_size, whole_number
from agentsight_otel._server.store import Store

Endpoint = Callable[[Request], Any]
Protect = Callable[[Endpoint], Endpoint]


def read_routes(store: Store, protect: Protect) -> list[Route]:
    """The agent-wide read routes, each behind protect (the API-key check)."""
    api = ReadApi(store)
    table: list[tuple[str, Endpoint]] = [
        ("/api/actions/", api.actions),
        ("/api/actions/{action_id}/", api.action),
        ("/api/actions/{action_id}/logs/", api.action_logs),
        ("/api/spans/", api.spans),
        ("/api/spans/{span}/", api.span),
        ("/api/traces/{trace_id}/", api.trace),
        ("/api/token-usage/", api.usage),
        ("/api/token-usage/summary/", api.usage_summary),
        ("/api/track/{message}/", api.message),
    ]
    return [Route(path, protect(endpoint), methods=["GET"]) for path, endpoint in table]


class ReadApi:
    """The read handlers, sharing one Store."""

    def __init__(self, store: Store) -> None:
        """Bind the handlers to store."""
        self._store = store

    async def conversations(self, request: Request) -> Response:
        """GET /api/conversations/: filtered, newest first, paged; full=true unless false."""
        filters = dict(request.query_params)
        query = read_conversations.conversation_query(filters)
        full = filters.get("full", "true").lower() != "false"
        size = _page_size(request)

        def fetch(offset: int) -> tuple[int, list[dict[str, Any]]]:
            def run(db: Any) -> tuple[int, list[dict[str, Any]]]:
                total = read_conversations.count(db, query)
                rows = read_conversations.page(db, query, offset, size)
                if full:
                    rows = [read_conversations.full(db, r["conversation_id"]) for r in rows]
                return total, rows

            return self._store.run_query(run)

        return await _paged(request, size, fetch)

    async def actions(self, request: Request) -> Response:
        """GET /api/actions/: the action definitions."""
        filters = dict(request.query_params)
        found = await self._query(read_archive.actions, filters)
        size = _page_size(request)
        return await _paged(request, size, lambda offset: (len(found), found[offset:][:size]))

    async def action(self, request: Request) -> Response:
        """GET /api/actions/{id}/: one definition."""
        return _found(await self._query(read_archive.action, path_id(request, "action_id")))

    async def action_logs(self, request: Request) -> Response:
        """GET /api/actions/{id}/logs/: every invocation, as a bare list (not paginated)."""
        logs = await self._query(read_archive.action_logs, path_id(request, "action_id"))
        return _found(logs)

    async def spans(self, request: Request) -> Response:
        """GET /api/spans/: the span archive, newest first, never with payload."""
        return await self._archive(request, read_archive.span_query, read_archive.spans)

    async def span(self, request: Request) -> Response:
        """GET /api/spans/{id}/?payload=: one span."""
        payload = request.query_params.get("payload", "false").lower() == "true"
        found = await self._query(read_archive.span, path_id(request, "span"), payload=payload)
        return _found(found)

    async def trace(self, request: Request) -> Response:
        """GET /api/traces/{trace_id}/: one trace as a tree."""
        return _found(await self._query(read_archive.trace, request.path_params["trace_id"]))

    async def usage(self, request: Request) -> Response:
        """GET /api/token-usage/: one row per (turn, model), unpriced."""
        return await self._archive(request, read_archive.usage_query, read_archive.usage)

    async def usage_summary(self, request: Request) -> Response:
        """GET /api/token-usage/summary/: usage rolled up by model, conversation or day."""
        params = dict(request.query_params)
        group_by = params.get("group_by", "model")
        currency = params.get("currency", "usd")
        if group_by not in ("model", "conversation", "day") or currency not in ("usd", "eur"):
            return JSONResponse({"detail": "group_by or currency is not supported."}, 400)
        query = read_archive.usage_query(params)
        results = await self._query(read_archive.usage_summary, query, group_by)
        return JSONResponse({"group_by": group_by, "currency": currency, "results": results})

    async def message(self, request: Request) -> Response:
        """GET /api/track/{id}/: one message with its files and its turn's action logs."""
        found = await self._query(read_conversations.message, path_id(request, "message"))
        return _found(with_file_urls(found, request))

    async def _archive(
        self, request: Request, parse: Callable[..., Any], fetch: Callable[..., Any]
    ) -> Response:
        """One page of an archive list: the query parse() builds, rows from fetch()."""
        query = parse(dict(request.query_params))
        size = _page_size(request)
        run = self._store.run_query
        return await _paged(request, size, lambda at: run(fetch, query, at, size))

    async def _query(self, query: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a read query off the event loop."""
        return await run_in_threadpool(self._store.run_query, query, *args, **kwargs)


def with_file_urls(value: Any, request: Request) -> Any:
    """value with an absolute file_url beside every uploaded file's content_url."""
    if isinstance(value, list):
        return [with_file_urls(item, request) for item in value]
    if not isinstance(value, dict):
        return value
    record = {key: with_file_urls(item, request) for key, item in value.items()}
    if isinstance(record.get("content_url"), str):
        record["file_url"] = str(request.base_url).rstrip("/") + record["content_url"]
    return record


def _found(value: Any) -> Response:
    """value as JSON, or 404 when the query found nothing."""
    if value is None:
        raise HTTPException(404, "Not found.")
    return JSONResponse(value)


def _page_size(request: Request) -> int:
    """The page size the query asks for, clamped."""
    return page_size(request.query_params.get("page_size", ""))


def path_id(request: Request, name: str) -> int:
    """The id a path names, or 404 when it is not one SQLite can hold."""
    number = whole_number(request.path_params[name])
    if number is None:
        raise HTTPException(404, "Not found.")
    return number


async def _paged(
    request: Request, size: int, fetch: Callable[[int], tuple[int, list[Any]]]
) -> Response:
    """The seven-key page envelope around one page that fetch(offset) returns with the total."""
    number = page_number(request.query_params.get("page", "1"))
    if number is None:
        raise HTTPException(404, "Invalid page.")
    total, results = await run_in_threadpool(fetch, (number - 1) * size)
    pages = max(1, math.ceil(total / size))
    if number > pages:
        raise HTTPException(404, "Invalid page.")
    link = request.url.include_query_params
    return JSONResponse(
        {
            "count": total,
            "page_size": size,
            "total_pages": pages,
            "current_page": number,
            "next": str(link(page=number + 1)) if number < pages else None,
            "previous": str(link(page=number - 1)) if number > 1 else None,
            "results": with_file_urls(results, request),
        }
    )
