"""The HTTP transport: one request, no retries, never traced by instrumentation."""

from __future__ import annotations

# Nothing the delivery path needs may be imported lazily on its thread: a fork while that
# thread holds an import lock leaves the child's delivery thread waiting on it forever. So what
# requests, urllib3 and socket would import on first use is imported here, with this module:
# the codecs getaddrinfo looks up by name, and idna for non-ASCII hosts. (requests' netrc lookup,
# the other one, never runs: see _keep_headers.)
import encodings.idna
import encodings.punycode  # noqa: F401
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import idna  # noqa: F401
import requests
import urllib3
from opentelemetry import context as otel_context
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

from agentsight_otel._delivery.watchdog import WATCHDOG, Watch, adopt
from agentsight_otel._runtime import RUNTIME

# Instrumentations (requests, urllib3) check these keys and stay silent, so the exporter's own
# calls never become spans that would be exported again.
_SUPPRESS_KEYS = ("suppress_instrumentation", "suppress_http_instrumentation")


@dataclass(frozen=True)
class HttpResponse:
    """Status, headers (lower-case names) and body of a response."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


MAX_RESPONSE_BYTES = 1024 * 1024


class TransportError(Exception):
    """The request did not complete (refused, reset, timed out); safe to retry."""


class StreamingBody(Protocol):
    """A body sent in chunks (attachment uploads): re-iterable for each attempt, known length."""

    def __iter__(self) -> Iterator[bytes]:
        """The body from its start."""
        ...

    def __len__(self) -> int:
        """Its length in bytes (the Content-Length)."""
        ...


Body = bytes | StreamingBody


class Transport(Protocol):
    """Sends one HTTP request."""

    def request(
        self, method: str, url: str, body: Body | None, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        """Send and return the response, or raise ``TransportError``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def suppressed_context() -> otel_context.Context:
    """The current context with instrumentation suppressed."""
    ctx = otel_context.get_current()
    ctx = otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True, ctx)
    for key in _SUPPRESS_KEYS:
        ctx = otel_context.set_value(key, True, ctx)
    return ctx


class _WatchedHTTPConnection(HTTPConnection):
    """A connection whose sockets the current request's watchdog may shut."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        adopt(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        adopt(self.sock)  # a kept-alive connection reused for this request
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    """The TLS twin of ``_WatchedHTTPConnection`` (its socket is wrapped after connecting)."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        adopt(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        adopt(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    """``requests``' adapter with pools whose connections report their sockets to the watchdog."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        _watch_pools(manager)
        return manager


def _watch_pools(manager: PoolManager) -> None:
    """Make a pool manager build watched pools."""
    manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def _keep_headers(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """An auth hook that changes nothing: with it, requests never applies ~/.netrc credentials."""
    return request


class RequestsTransport:
    """A pooled ``requests`` session with TLS verification on unless told otherwise.

    ``timeout`` bounds the whole request (connecting, sending, every read): a watchdog shuts
    the sockets of a request that outlives it or whose cancel event is set.
    """

    def __init__(self, *, verify_tls: bool = True) -> None:
        self._verify_tls = verify_tls
        self._session = self._new_session()
        self._environments: dict[tuple[str, str], tuple[dict[str, str], bool | str]] = {}
        RUNTIME.adopt(self, RequestsTransport._forked)

    def _forked(self) -> None:
        """In a forked child: never the parent's pooled sockets (the parent keeps its session)."""
        self._session = self._new_session()

    def _new_session(self) -> requests.Session:
        """A session with the configured TLS verification and watched connections."""
        session = requests.Session()
        session.verify = self._verify_tls
        # Proxies and CA bundles from the environment apply (read once per origin: _environment);
        # ~/.netrc never does (_keep_headers).
        session.trust_env = False
        adapter = _WatchedAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def request(
        self, method: str, url: str, body: Body | None, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        """One request under suppressed instrumentation."""
        token = otel_context.attach(suppressed_context())
        try:
            with WATCHDOG.watching(timeout) as watch:
                try:
                    response, content = self._send(method, url, body, headers, timeout)
                except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                    # A reset while the body is read surfaces from urllib3, not from requests.
                    raise TransportError(_cut_off(watch, timeout) or _describe(exc)) from None
                if watch.expired:  # cut short by the deadline just as it completed
                    raise TransportError(_cut_off(watch, timeout))
        finally:
            otel_context.detach(token)
        lowered = {name.lower(): value for name, value in response.headers.items()}
        return HttpResponse(response.status_code, lowered, content)

    def _send(
        self, method: str, url: str, body: Body | None, headers: Mapping[str, str], timeout: float
    ) -> tuple[requests.Response, bytes]:
        """The request and at most ``MAX_RESPONSE_BYTES`` of its answer."""
        proxies, verify = self._environment(url)
        response = self._session.request(
            method,
            url,
            data=body,
            headers=dict(headers),
            timeout=timeout,
            allow_redirects=False,
            stream=True,
            proxies=proxies,
            verify=verify,
            auth=_keep_headers,
        )
        with response:
            # Only the detail of an answer is ever read: cap what a backend can make us hold.
            content = response.raw.read(MAX_RESPONSE_BYTES, decode_content=True)
        return response, content

    def _environment(self, url: str) -> tuple[dict[str, str], bool | str]:
        """The proxies and CA bundle the environment names for ``url``'s origin, read once.

        As requests reads them (``*_PROXY``/``NO_PROXY``, ``REQUESTS_CA_BUNDLE``,
        ``CURL_CA_BUNDLE``), but not on every request: requests' scan of the environment costs
        about 0.15 ms a request. verify_tls=False is never overridden by a bundle.
        """
        origin = _origin(url)
        found = self._environments.get(origin)
        if found is None:
            proxies = requests.utils.get_environ_proxies(url)
            verify: bool | str = self._verify_tls
            if verify:
                bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                verify = bundle or True
            found = (proxies, verify)
            if len(self._environments) < _MAX_ORIGINS:
                self._environments[origin] = found
        return dict(found[0]), found[1]

    def close(self) -> None:
        """Close the session's pool."""
        self._session.close()


# Origins whose settings are remembered; a client talks to one or two.
_MAX_ORIGINS = 64


def _origin(url: str) -> tuple[str, str]:
    """A URL's scheme and authority (what proxies and pools are chosen by)."""
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _cut_off(watch: Watch, timeout: float) -> str:
    """Why the watchdog ended a request ("" when it did not)."""
    if not watch.expired:
        return ""
    if watch.cancel is not None and watch.cancel.is_set():
        return "request cancelled (shutdown or a full queue)"
    return f"no complete answer within {timeout:g} s"


def _describe(exc: Exception) -> str:
    """A short reason without the request (whose headers hold the key)."""
    return network_reason(exc)


def network_reason(exc: BaseException) -> str:
    """What went wrong on the network, plainly ("connection refused", "timed out").

    The operating system's own error when there is one (requests and urllib3 wrap it in
    exceptions whose text names their internal pool classes); never the request itself.
    """
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve the host name ({cause.strerror})"
        if isinstance(cause, (TimeoutError, socket.timeout)) or "Timeout" in type(cause).__name__:
            return "timed out"
        if isinstance(cause, OSError) and cause.errno is not None and cause.strerror:
            return str(cause.strerror)[:1].lower() + str(cause.strerror)[1:]
    for cause in _causes(exc):
        if cause.__class__.__module__.startswith("ssl") or "SSL" in type(cause).__name__:
            return f"TLS failed: {str(cause)[:160]}"
    return type(exc).__name__


def _causes(exc: BaseException) -> list[BaseException]:
    """exc and what it wraps (arguments, reason, cause, context), outermost first."""
    found: list[BaseException] = []
    waiting = [exc]
    while waiting and len(found) < 20:
        current = waiting.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        waiting += [arg for arg in current.args if isinstance(arg, BaseException)]
        for linked in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                waiting.append(linked)
    return found
