"""The HTTP transport: one request, no retries, never traced by instrumentation."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import requests
import urllib3
from opentelemetry import context as otel_context

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


class RequestsTransport:
    """A pooled ``requests`` session with TLS verification on unless told otherwise."""

    def __init__(self, *, verify_tls: bool = True) -> None:
        self._verify_tls = verify_tls
        self._pid = os.getpid()
        self._session = self._new_session()

    def _new_session(self) -> requests.Session:
        """A session with the configured TLS verification."""
        session = requests.Session()
        session.verify = self._verify_tls
        session.trust_env = True
        return session

    def request(
        self, method: str, url: str, body: Body | None, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        """One request under suppressed instrumentation."""
        if self._pid != os.getpid():
            # A forked child must not share the parent's pooled sockets; the parent's session
            # is left as it is (closing it here would close nothing the child may use).
            self._pid, self._session = os.getpid(), self._new_session()
        token = otel_context.attach(suppressed_context())
        try:
            response = self._session.request(
                method,
                url,
                data=body,
                headers=dict(headers),
                timeout=timeout,
                allow_redirects=False,
                stream=True,
                # Per request: with trust_env, REQUESTS_CA_BUNDLE would override the session's
                # verify=False. True still lets that variable name the CA bundle.
                verify=self._verify_tls,
            )
            with response:
                # Only the detail of an answer is ever read: cap what a backend can make us hold.
                content = response.raw.read(MAX_RESPONSE_BYTES, decode_content=True)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            # A reset while the body is read surfaces from urllib3, not from requests.
            raise TransportError(_describe(exc)) from None
        finally:
            otel_context.detach(token)
        lowered = {name.lower(): value for name, value in response.headers.items()}
        return HttpResponse(response.status_code, lowered, content)

    def close(self) -> None:
        """Close the session's pool."""
        self._session.close()


def _describe(exc: Exception) -> str:
    """A short reason without the request (whose headers hold the key)."""
    kind = type(exc).__name__
    reason = str(exc.args[0]) if exc.args else ""
    return f"{kind}: {reason[:200]}" if reason else kind
