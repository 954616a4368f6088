"""Running the app under uvicorn: LocalServer in a background thread, serve() for the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from agentsight_otel.server.app import DEFAULT_CAPABILITIES, DEFAULT_MAX_BODY_BYTES, create_app
from agentsight_otel.server.store import Store

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
# Shorter than STOP_TIMEOUT_S, so in-flight requests are cut off before stop() stops waiting.
GRACEFUL_SHUTDOWN_S = 3


class ThreadedUvicorn(uvicorn.Server):
    """A uvicorn server that reports when it is accepting requests."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        """Remember who to tell once startup has finished."""
        super().__init__(config)
        self._on_started = on_started
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start listening, then call back."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()

    async def main_loop(self) -> None:
        """uvicorn's once-a-tick housekeeping loop, but woken at once by request_exit()."""
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            assert self._wake is not None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)

    def request_exit(self) -> None:
        """Ask the server to shut down, from any thread."""
        self.should_exit = True
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                self._loop.call_soon_threadsafe(self._wake.set)


class LocalServer:
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
        """Open the store and build the app; nothing listens until start()."""
        self.store = Store(db_path)
        try:
            self.app: Starlette = create_app(
                self.store,
                api_keys=api_keys,
                capabilities=capabilities,
                max_body_bytes=max_body_bytes,
            )
        except ValueError:
            self.store.close()
            raise
        self._host = host
        self._port = port
        self._url: str | None = None
        self._server: ThreadedUvicorn | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:54321 (known once start() returned)."""
        if self._url is None:
            raise RuntimeError("LocalServer is not started")
        return self._url

    def start(self) -> LocalServer:
        """Bind, serve on a daemon thread, and return once requests are being answered."""
        if self._closed or self._thread is not None:
            raise RuntimeError("LocalServer can be started once")
        sock = bind_socket(self._host, self._port)
        self._url = socket_url(sock)
        started = threading.Event()
        # log_config=None: an embedded server must not reconfigure the host process's logging.
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        self._server = server = ThreadedUvicorn(config, started.set)
        self._thread = threading.Thread(
            target=run_server,
            args=(server, sock, started),
            name="agentsight-local-server",
            daemon=True,
        )
        self._thread.start()
        if not started.wait(START_TIMEOUT_S) or not server.started:
            self.stop()
            raise RuntimeError("the local AgentSight server did not start")
        return self

    def stop(self) -> None:
        """Stop serving, wait for the thread, close the store; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.request_exit()
            thread.join(STOP_TIMEOUT_S)
            if thread.is_alive():
                server.force_exit = True
                thread.join(STOP_TIMEOUT_S)
        self.store.close()

    def __enter__(self) -> LocalServer:
        """Start on entering a with block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop on leaving a with block."""
        self.stop()


def serve(host: str, port: int, db_path: str, api_keys: Iterable[str] | None = None) -> None:
    """Serve in the foreground until interrupted, printing the URL once it listens."""
    store = Store(db_path)
    try:
        _serve_store(store, host, port, api_keys)
    except KeyboardInterrupt:
        # uvicorn has already shut down gracefully and re-raises Ctrl-C; the CLI just returns.
        pass
    finally:
        store.close()


def _serve_store(store: Store, host: str, port: int, api_keys: Iterable[str] | None) -> None:
    """Run uvicorn in this thread over store until it is told to exit."""
    app = create_app(store, api_keys=api_keys)
    sock = bind_socket(host, port)
    url = socket_url(sock)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    announce = functools.partial(print, f"AgentSight local server listening on {url}", flush=True)
    try:
        ThreadedUvicorn(config, announce).run(sockets=[sock])
    finally:
        sock.close()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket; port 0 picks a free port."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def socket_url(sock: socket.socket) -> str:
    """The http:// URL a bound socket answers on."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def run_server(server: ThreadedUvicorn, sock: socket.socket, started: threading.Event) -> None:
    """Thread body: serve until told to exit; always release a waiting start()."""
    try:
        server.run(sockets=[sock])
    finally:
        started.set()
        sock.close()
