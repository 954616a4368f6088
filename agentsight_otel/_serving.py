"""Serving an ASGI app with uvicorn: on a background thread, or in the foreground for the CLI."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from agentsight_otel._delivery.daemon import daemon_thread

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
# Shorter than STOP_TIMEOUT_S, so in-flight requests are cut off before stop() stops waiting.
GRACEFUL_SHUTDOWN_S = 3
_Served = TypeVar("_Served", bound="Served")


class Served(abc.ABC):
    """Something that serves between ``start()`` and ``stop()``, or for a with block."""

    @abc.abstractmethod
    def start(self: _Served) -> _Served:
        """Start serving; returns self."""

    @abc.abstractmethod
    def stop(self) -> object:
        """Stop serving; safe to call twice."""

    def __enter__(self: _Served) -> _Served:
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
        wake = self._wake or asyncio.Event()
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), 0.1)

    def request_exit(self) -> None:
        """Ask the server to shut down, from any thread."""
        self.should_exit = True
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                self._loop.call_soon_threadsafe(self._wake.set)


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client may hold: time to send a request head, and connections in all."""

    head_timeout: float = 10.0
    max_connections: int = 512


class _GuardedH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request head and a connection cap.

    uvicorn bounds idle keep-alive time but not a head sent a byte at a time, so slow clients
    could hold sockets without end. Over the cap, the connection waiting longest for its head
    goes first: clients that send requests promptly (exporters) are still served.
    """

    limits = ConnectionLimits()
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        waiting = _waiting_heads(self)
        self._await_head(waiting)
        if len(self.connections) > self.limits.max_connections:
            oldest = next(iter(waiting))
            oldest._head_timed_out()

    def _await_head(self, waiting: dict[_GuardedH11, None]) -> None:
        """Start the clock for the next request head."""
        waiting[self] = None
        self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_timed_out)

    def _head_arrived(self) -> None:
        """Stop the head clock."""
        _waiting_heads(self).pop(self, None)
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        """Close a connection that did not send its request head in time (or lost its place)."""
        self._head_arrived()
        if not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:
            self._head_arrived()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_head(_waiting_heads(self))

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)


def _waiting_heads(protocol: _GuardedH11) -> dict[_GuardedH11, None]:
    """The server's connections still waiting for a request head, oldest first."""
    state = protocol.server_state
    waiting: dict[_GuardedH11, None] | None = getattr(state, "agentsight_waiting_heads", None)
    if waiting is None:
        waiting = {}
        state.agentsight_waiting_heads = waiting  # type: ignore[attr-defined]
    return waiting


def guarded_http(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """The HTTP protocol class enforcing ``limits``."""
    return type("GuardedH11", (_GuardedH11,), {"limits": limits})


def uvicorn_config(
    app: Any,
    *,
    graceful_shutdown: float = GRACEFUL_SHUTDOWN_S,
    limits: ConnectionLimits | None = None,
) -> uvicorn.Config:
    """uvicorn settings for an embedded server: quiet, no lifespan, the host's logging kept."""
    # log_config=None: an embedded server must not reconfigure the host process's logging.
    return uvicorn.Config(
        app,
        log_level="warning",
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=int(graceful_shutdown),
        http=guarded_http(limits or ConnectionLimits()),
    )


class BackgroundServer:
    """An ASGI app served by uvicorn on a daemon thread; the calling thread keeps its signals."""

    def __init__(self, config: uvicorn.Config, host: str, port: int, thread_name: str) -> None:
        """Bind at once (port 0 picks a free one); nothing is answered until start()."""
        self._sock = bind_socket(host, port)
        self.url = socket_url(self._sock)
        self._started = threading.Event()
        self._server = ThreadedUvicorn(config, self._started.set)
        self._thread = daemon_thread(self._run, thread_name)

    def start(self) -> None:
        """Serve, returning once requests are answered; RuntimeError when it did not start."""
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S) or not self._server.started:
            self.stop()
            raise RuntimeError(f"{self._thread.name} did not start")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop serving and wait for the thread (forcing in-flight requests after ``timeout``)."""
        self._server.request_exit()
        if not self._thread.is_alive():
            with contextlib.suppress(OSError):
                self._sock.close()
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)

    def _run(self) -> None:
        """Thread body: serve until told to exit; always release a waiting start()."""
        try:
            self._server.run(sockets=[self._sock])
        finally:
            self._started.set()
            self._sock.close()


def serve_in_foreground(
    config: uvicorn.Config, host: str, port: int, announce: str, sock: socket.socket | None = None
) -> None:
    """Serve in this thread until interrupted, printing ``announce`` (with {url}) once listening."""
    sock = sock or bind_socket(host, port)
    message = announce.format(url=socket_url(sock))
    try:
        ThreadedUvicorn(config, lambda: print(message, flush=True)).run(sockets=[sock])
    finally:
        sock.close()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket; port 0 picks a free port.

    OSError naming ``host:port`` as its filename when the address cannot be listened on.
    """
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = found[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, OverflowError, UnicodeError) as exc:
        raise OSError(getattr(exc, "errno", None), _why(exc), shown) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, exc.strerror, shown) from None
    return sock


def _why(exc: Exception) -> str:
    """The operating system's words for an address that cannot be looked up."""
    return str(getattr(exc, "strerror", None) or exc)


def socket_url(sock: socket.socket) -> str:
    """The http:// URL a bound socket answers on."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
