"""The Starlette application: AgentSight's ingest, identity and read routes over a Store."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ExceptionHandler

from agentsight_otel._bodies import BodyError
from agentsight_otel._delivery.clock import Clock
from agentsight_otel._host_guard import LoopbackHostGuard
from agentsight_otel._server.auth import accepted_keys, check_authorization
from agentsight_otel._server.body import decode_body, read_body
from agentsight_otel._server.downloads import file_response
from agentsight_otel._server.headers import SecuredStarlette
from agentsight_otel._server.paths import raw_path, split_reference
from agentsight_otel._server.read_api import ReadApi, path_id, read_routes, with_file_urls
from agentsight_otel._server.read_conversations import full, resolve
from agentsight_otel._server.sessions import ViewerSessions
from agentsight_otel._server.store import Store
from agentsight_otel._server.uploads import receive_upload
from agentsight_otel._server.validation import (
    Rejection,
    conversation_fields_errors,
    conversation_id_errors,
    loads_strict,
    normalize_environment,
    validate_ingest,
)
from agentsight_otel._server.viewer import viewer_routes

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_CAPABILITIES = ("gzip-ingest",)
ENVIRONMENTS = ["production", "development"]
CONVERSATIONS_PREFIX = b"/api/conversations/"
SUB_RESOURCES = frozenset(
    {"transcript", "actions", "buttons", "attachments", "files", "usage", "spans"}
)
Endpoint = Callable[[Request], Awaitable[Response]]
logger = logging.getLogger("agentsight_otel.server")


@dataclass(frozen=True)
class AppOptions:
    """What one application instance serves and how strictly."""

    store: Store
    api_keys: frozenset[str] | None
    capabilities: tuple[str, ...]
    max_body_bytes: int


def create_app(
    store: Store,
    *,
    api_keys: Iterable[str] | None = None,
    capabilities: Iterable[str] = DEFAULT_CAPABILITIES,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    loopback: bool = False,
    clock: Clock | None = None,
) -> Starlette:
    """The AgentSight API and the viewer over store.

    loopback=True is for a listener on this machine only: the viewer opens without a key,
    api_keys=None accepts any well-formed key, and requests whose Host is not a loopback name
    get 421 (DNS rebinding). Otherwise api_keys are required (ValueError without) and the viewer
    asks for one of them. ``clock`` times viewer sessions.
    """
    if max_body_bytes <= 0:
        raise ValueError("max_body_bytes must be positive")
    keys = accepted_keys(api_keys)
    if not loopback and not keys:
        raise ValueError("api_keys are required unless the app is served on loopback only")
    options = AppOptions(store, keys, tuple(capabilities), max_body_bytes)
    api = _Api(options)
    routes = [
        Route("/api/me/", _protected(options, api.me), methods=["GET"]),
        Route("/api/ingest/", _protected(options, api.ingest), methods=["POST"]),
        Route(
            "/api/conversations/", _protected(options, api.conversations), methods=["GET", "POST"]
        ),
        Route(
            "/api/conversations/{rest:path}",
            _protected(options, api.conversation),
            methods=["GET"],
        ),
        Route("/api/attachments/", _protected(options, api.upload), methods=["POST"]),
        Route(
            "/api/attachments/{file_id}/content/",
            _protected(options, api.download),
            methods=["GET"],
        ),
        *read_routes(store, lambda endpoint: _protected(options, endpoint)),
        *viewer_routes(store, options.api_keys, not loopback, ViewerSessions(clock)),
    ]
    handlers: dict[Any, ExceptionHandler] = {
        HTTPException: _http_error,
        BodyError: _body_error,
        Exception: _server_error,
    }
    guards = [Middleware(LoopbackHostGuard)] if loopback else []
    app = SecuredStarlette(routes=routes, exception_handlers=handlers, middleware=guards)
    # A redirect would hide a client that forgot the trailing slash the real backend requires.
    app.router.redirect_slashes = False
    return app


def _protected(options: AppOptions, endpoint: Endpoint) -> Endpoint:
    """Wrap an endpoint so it runs only for an acceptable API key."""

    async def guarded(request: Request) -> Response:
        """Answer 401/403 before the endpoint sees the request."""
        failure = check_authorization(request.headers.get("authorization"), options.api_keys)
        if failure is None:
            return await endpoint(request)
        headers = {"WWW-Authenticate": "Api-Key"} if failure.status == 401 else None
        return JSONResponse({"detail": failure.detail}, failure.status, headers=headers)

    return guarded


class _Api:
    """The route handlers, sharing one AppOptions."""

    def __init__(self, options: AppOptions) -> None:
        """Bind the handlers to options."""
        self._options = options
        self._store = store = options.store
        self._reads = ReadApi(store)
        self._readers: dict[str, Callable[[str], object]] = {
            "transcript": store.messages,
            "actions": store.actions,
            "buttons": store.buttons,
            "attachments": store.attachments,
            "files": store.files,
            "usage": store.usage,
            "spans": store.spans,
        }

    async def me(self, request: Request) -> Response:
        """Identity and capabilities, as the vendor SDK's key preflight reads them."""
        return JSONResponse(
            {
                "agent_id": 1,
                "agent_name": "local",
                "role": "write",
                "agent": {"name": "local"},
                "capabilities": list(self._options.capabilities),
                "environments": ENVIRONMENTS,
            }
        )

    async def ingest(self, request: Request) -> Response:
        """Validate a whole batch, then store all of it or none of it."""
        _require_json(request)
        raw = await read_body(request, self._options.max_body_bytes)
        encoding = request.headers.get("content-encoding")
        status, payload = await run_in_threadpool(self._ingest_sync, raw, encoding)
        return JSONResponse(payload, status)

    def _ingest_sync(self, raw: bytes, encoding: str | None) -> tuple[int, dict[str, Any]]:
        """Decode, parse, validate and store; CPU-bound, so it runs off the event loop."""
        options = self._options
        gzip_allowed = "gzip-ingest" in options.capabilities
        data = decode_body(raw, encoding, gzip_allowed=gzip_allowed, limit=options.max_body_bytes)
        outcome = validate_ingest(_parse_json(data))
        if isinstance(outcome, Rejection):
            logger.info("ingest rejected: %s", outcome.detail)
            return 400, outcome.to_json()
        return 200, {"accepted": self._store.ingest(outcome)}

    async def upload(self, request: Request) -> Response:
        """Attachment bytes (JSON base64 or multipart), stored under AgentSight's limits."""
        return await receive_upload(request, self._store)

    async def download(self, request: Request) -> Response:
        """An uploaded file's bytes, as they were received (inline only for raster images)."""
        found = await run_in_threadpool(self._store.file, path_id(request, "file_id"))
        if found is None:
            raise HTTPException(404, "File not found.")
        return file_response(*found)

    async def conversations(self, request: Request) -> Response:
        """GET lists conversations; POST upserts one by conversation_id."""
        if request.method == "GET":
            return await self._reads.conversations(request)
        _require_json(request)
        body = _parse_json(await read_body(request, self._options.max_body_bytes))
        if not isinstance(body, dict):
            raise BodyError(400, "The body must be a JSON object.")
        errors = _upsert_errors(body)
        if errors:
            return JSONResponse({"detail": "Invalid conversation.", "errors": errors}, 400)
        fields = dict(body)
        if "environment" in fields:
            fields["environment"] = normalize_environment(fields["environment"])
        upsert = self._store.upsert_conversation
        record, created = await run_in_threadpool(upsert, body["conversation_id"], fields)
        return JSONResponse(record, 201 if created else 200)

    async def conversation(self, request: Request) -> Response:
        """One conversation or one of its projections, addressed by the client's id."""
        parsed = split_conversation_path(raw_path(request))
        if parsed is None:
            raise HTTPException(404, "Not found.")
        conversation_id = await run_in_threadpool(self._resolve, parsed[0])
        resource = parsed[1]
        record = await run_in_threadpool(self._store.conversation, conversation_id)
        if record is None:
            raise HTTPException(404, "Conversation not found.")
        if resource is None:
            if request.query_params.get("full", "true").lower() != "false":
                record = await run_in_threadpool(self._store.run_query, full, conversation_id)
            return JSONResponse(with_file_urls(record, request))
        result = await run_in_threadpool(self._readers[resource], conversation_id)
        body: dict[str, Any] = {"conversation_id": conversation_id}
        if isinstance(result, dict):
            body.update(result)
        else:
            body["messages" if resource == "transcript" else resource] = result
        if resource == "attachments":
            body["files"] = await run_in_threadpool(self._store.files, conversation_id)
        return JSONResponse(with_file_urls(body, request))

    def _resolve(self, reference: str) -> str:
        """A conversation_id from a path segment: an integer names a pk first, as in AgentSight."""
        return self._store.run_query(resolve, reference) or reference


def split_conversation_path(raw_path: bytes) -> tuple[str, str | None] | None:
    """(conversation_id, sub-resource or None) from a still percent-encoded request path."""
    return split_reference(raw_path, CONVERSATIONS_PREFIX, SUB_RESOURCES)


def _require_json(request: Request) -> None:
    """Refuse bodies declared as something other than JSON; a missing type is tolerated."""
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media = declared.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise BodyError(415, "Content-Type must be application/json.")


def _parse_json(data: bytes) -> object:
    """The parsed body, or BodyError(400) for anything that is not strict UTF-8 JSON."""
    try:
        return loads_strict(data)
    except ValueError as exc:
        raise BodyError(400, "The body is not valid JSON.") from exc


def _upsert_errors(body: dict[str, Any]) -> dict[str, list[str]]:
    """Field errors for POST /api/conversations/; keys it does not know are ignored."""
    errors: dict[str, list[str]] = {}
    id_errors = conversation_id_errors(body.get("conversation_id"))
    if id_errors:
        errors["conversation_id"] = id_errors
    conversation_fields_errors(body, errors)
    return errors


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing and lookup errors as JSON."""
    error = cast(HTTPException, exc)  # registered for HTTPException only
    return JSONResponse({"detail": error.detail}, error.status_code, headers=error.headers)


async def _body_error(request: Request, exc: Exception) -> Response:
    """Body problems (size, encoding, JSON) as JSON."""
    error = cast(BodyError, exc)  # registered for BodyError only
    return JSONResponse({"detail": error.detail}, error.status)


async def _server_error(request: Request, exc: Exception) -> Response:
    """Unexpected failures: logged here, answered without internals."""
    logger.exception("local server error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "Internal server error."}, 500)
