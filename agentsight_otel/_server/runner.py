"""Running the app under uvicorn: LocalServer in a background thread, serve() for the CLI."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from agentsight_otel._loopback import KEY_RECIPE, is_loopback, refuse_open_listener
from agentsight_otel._server.access_log import AccessLog
from agentsight_otel._server.app import DEFAULT_CAPABILITIES, DEFAULT_MAX_BODY_BYTES, create_app
from agentsight_otel._server.auth import accepted_keys
from agentsight_otel._server.store import Store
from agentsight_otel._serving import (
    GRACEFUL_SHUTDOWN_S,
    BackgroundServer,
    Served,
    bind_socket,
    serve_in_foreground,
    uvicorn_config,
)


class LocalServer(Served):
    """An AgentSight-compatible server on a background thread, for tests and demos."""

    def __init__(
        self,
        db_path: str | Path = ":memory:",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] | None = None,
        capabilities: Iterable[str] = DEFAULT_CAPABILITIES,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        """Open the store and build the app; nothing listens until start().

        Beyond loopback (host not localhost, 127.0.0.0/8 or ::1) api_keys are required:
        ValueError without them, before anything is opened.
        """
        _refuse_open(host, api_keys)
        self.store = Store(db_path)
        try:
            self.app: Starlette = create_app(
                self.store,
                api_keys=api_keys,
                capabilities=capabilities,
                max_body_bytes=max_body_bytes,
                loopback=is_loopback(host),
            )
        except ValueError:
            self.store.close()
            raise
        self._host = host
        self._port = port
        self._url: str | None = None
        self._server: BackgroundServer | None = None
        self._closed = False

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:54321 (known once start() returned)."""
        if self._url is None:
            raise RuntimeError("LocalServer is not started")
        return self._url

    def start(self) -> LocalServer:
        """Bind, serve on a daemon thread, and return once requests are being answered."""
        if self._closed or self._server is not None:
            raise RuntimeError("LocalServer can be started once")
        self._server = BackgroundServer(
            uvicorn_config(self.app), self._host, self._port, "agentsight-local-server"
        )
        self._url = self._server.url
        try:
            self._server.start()
        except RuntimeError:
            self.stop()
            raise RuntimeError("the local AgentSight server did not start") from None
        return self

    def stop(self) -> None:
        """Stop serving, wait for the thread, close the store; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.stop()
        self.store.close()


def serve(
    host: str,
    port: int,
    db_path: str,
    api_keys: Iterable[str] | None = None,
    *,
    quiet: bool = False,
) -> None:
    """Serve in the foreground until interrupted, printing the URL once it listens.

    One access line per request (method, path, status, duration; never headers) unless quiet.

    A malformed key, or no key beyond loopback (ValueError), or a busy port (OSError) fails
    before the database exists.
    """
    _refuse_open(host, api_keys)
    sock = bind_socket(host, port)
    try:
        store = Store(db_path)
    except BaseException:
        sock.close()
        raise
    try:
        _serve_store(store, sock, host, port, api_keys, quiet=quiet)
    except KeyboardInterrupt:
        # uvicorn has already shut down gracefully and re-raises Ctrl-C; the CLI just returns.
        pass
    finally:
        store.close()


def _serve_store(
    store: Store,
    sock: socket.socket,
    host: str,
    port: int,
    api_keys: Iterable[str] | None,
    *,
    quiet: bool,
) -> None:
    """Run uvicorn in this thread over store until it is told to exit."""
    app = create_app(store, api_keys=api_keys, loopback=is_loopback(host))
    config = uvicorn.Config(
        app if quiet else AccessLog(app),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    serve_in_foreground(config, host, port, "AgentSight local server listening on {url}", sock)


def _refuse_open(host: str, api_keys: Iterable[str] | None) -> None:
    """ValueError for a malformed key, or for no key on a listener beyond loopback."""
    keys = accepted_keys(api_keys)
    refuse_open_listener(
        host, bool(keys), f"--api-key (api_keys in Python); make a key with: {KEY_RECIPE}"
    )
