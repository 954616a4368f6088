"""A fault-injecting HTTP proxy: real TCP on 127.0.0.1 in front of a server, for tests.

Each request that reaches the proxy takes the next scripted fault for its path (then the
default one): forward it, answer a status without forwarding, reset the connection while the
request body arrives or while the response goes back, or hang. ``refuse()`` closes the
listener (and drops open connections) so connecting fails the way it does against a stopped
server, until ``accept()`` listens again on the same port. A ``judge`` sees each request whole
and may answer it with a fault of its own (a backend that refuses one body, say).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
CALL_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Forward:
    """Pass the request to the server and its answer back."""


@dataclass(frozen=True)
class Respond:
    """Answer with this status (and headers) without forwarding."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b'{"detail": "injected fault"}'


@dataclass(frozen=True)
class ResetRequest:
    """Reset the connection after ``after`` bytes of the request body: nothing is forwarded."""

    after: int = 64


@dataclass(frozen=True)
class ResetResponse:
    """Forward (the server acts on it), then reset halfway through the answer's body."""


@dataclass(frozen=True)
class Hang:
    """Take the request and answer nothing for ``seconds`` (None: until released), then close.

    With ``forward`` the server receives the request (and acts on it) before the hang.
    """

    seconds: float | None = None
    forward: bool = False


@dataclass(frozen=True)
class Trickle:
    """Answer a 503 one byte every ``every`` seconds without forwarding: a backend too slow."""

    every: float = 1.0


Fault = Forward | Respond | ResetRequest | ResetResponse | Hang | Trickle


@dataclass(frozen=True)
class Request:
    """One parsed HTTP/1.1 request as it came in."""

    method: str
    path: str
    headers: Mapping[str, str]
    head: bytes
    body: bytes


Observer = Callable[[Request], None]
Judge = Callable[[Request], "Fault | None"]


class FaultProxy:
    """An asyncio TCP proxy on its own thread, scripted per request path."""

    def __init__(self, upstream: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._bind = (host, port)
        self.default: Fault = Forward()
        self.observer: Observer | None = None
        self.judge: Judge | None = None
        self.requests: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self._scripts: defaultdict[str, deque[Fault]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy")
        self._thread.daemon = True
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._release: asyncio.Event | None = None
        self.url = ""

    def start(self) -> FaultProxy:
        """Listen, and return once connections are accepted."""
        self._thread.start()
        self._call(self._make_release())
        self._call(self._listen())
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        self._bind = (host, port)
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        """Close everything and end the thread."""
        if not self._thread.is_alive():
            return
        self._call(self._close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CALL_TIMEOUT_S)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        """Start on entering a with block."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop on leaving a with block."""
        self.stop()

    def script(self, path: str, *faults: Fault) -> FaultProxy:
        """Queue faults for the next requests to ``path``."""
        with self._lock:
            self._scripts[path].extend(faults)
        return self

    def scripted(self, path: str) -> int:
        """How many scripted faults for ``path`` are still to be played."""
        with self._lock:
            return len(self._scripts[path])

    def refuse(self) -> None:
        """Stop listening and drop open connections: connecting is refused."""
        self._call(self._close_listener())

    def accept(self) -> None:
        """Listen again on the same port."""
        self._call(self._listen())

    def release(self) -> None:
        """End every hang that waits to be released (and let later ones through at once)."""
        self._loop.call_soon_threadsafe(self._set_release)

    def _set_release(self) -> None:
        """On the loop: wake the hanging connections."""
        assert self._release is not None
        self._release.set()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the proxy's loop and wait for it."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(CALL_TIMEOUT_S)

    async def _make_release(self) -> None:
        """The release event belongs to the loop."""
        self._release = asyncio.Event()

    async def _listen(self) -> None:
        """Open the listener (again)."""
        if self._server is None:
            host, port = self._bind
            self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True)

    async def _close_listener(self) -> None:
        """Close the listener and abort every open connection, as a crashed server would."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def _close_all(self) -> None:
        """Close the listener and connections, and end every task still running."""
        self._set_release()
        await self._close_listener()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _next_fault(self, path: str) -> Fault:
        """The scripted fault for this path, else the default; counted."""
        with self._lock:
            self.requests[path] += 1
            script = self._scripts.get(path)
            fault = script.popleft() if script else self.default
            self.faults[type(fault).__name__] += 1
        return fault

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client connection: requests one after another while it stays open."""
        self._writers.add(writer)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # stop(): a connection handler ends quietly (asyncio logs a cancelled one)
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Read a request and apply its fault; whether the connection stays usable."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        method, path, headers = parse_head(head)
        fault = self._next_fault(path)
        if isinstance(fault, ResetRequest):
            await _read_some(reader, min(fault.after, _declared_length(headers)))
            reset(writer)
            return False
        request = Request(method, path, headers, head, await read_body(reader, headers))
        if self.judge is not None:
            fault = self.judge(request) or fault
        if isinstance(fault, Respond):
            writer.write(status_response(fault))
            await writer.drain()
            return True
        if isinstance(fault, Hang):
            return await self._hang(request, fault, writer)
        if isinstance(fault, Trickle):
            for byte in status_response(Respond(503)):
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(fault.every)
            return True
        return await self._forward(request, writer, reset_midway=isinstance(fault, ResetResponse))

    async def _forward(
        self, request: Request, writer: asyncio.StreamWriter, *, reset_midway: bool
    ) -> bool:
        """Relay to the server and back, or cut the answer in half with a reset."""
        answer = await self._exchange(request)
        if reset_midway:
            # The whole head, then half the body: the client knows the status but not the answer.
            head_end = answer.find(b"\r\n\r\n") + 4
            writer.write(answer[: head_end + (len(answer) - head_end) // 2])
            await writer.drain()
            reset(writer)
            return False
        writer.write(answer)
        await writer.drain()
        return b"connection: close" not in answer.split(b"\r\n\r\n", 1)[0].lower()

    async def _hang(self, request: Request, fault: Hang, writer: asyncio.StreamWriter) -> bool:
        """Hold the request unanswered, then close the connection."""
        if fault.forward:
            await self._exchange(request)
        assert self._release is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._release.wait(), fault.seconds)
        reset(writer)
        return False

    async def _exchange(self, request: Request) -> bytes:
        """One request to the server on a fresh connection; its whole answer (502 if down)."""
        if self.observer is not None:
            self.observer(request)
        try:
            reader, writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            return status_response(Respond(502))
        try:
            writer.write(request.head + request.body)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            _, _, headers = parse_head(head, response=True)
            return head + await read_body(reader, headers, response=True)
        except (ConnectionError, asyncio.IncompleteReadError):
            return status_response(Respond(502))
        finally:
            writer.close()


def parse_head(head: bytes, *, response: bool = False) -> tuple[str, str, dict[str, str]]:
    """(method, path, lower-cased headers) of a request head; a response's status line too."""
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(" ")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    if response:
        return "", first[1] if len(first) > 1 else "", headers
    path = urlsplit(first[1]).path if len(first) > 1 else ""
    return first[0], path, headers


def _declared_length(headers: Mapping[str, str]) -> int:
    """The Content-Length, or 0."""
    value = headers.get("content-length", "0")
    return int(value) if value.isdigit() else 0


async def read_body(
    reader: asyncio.StreamReader, headers: Mapping[str, str], *, response: bool = False
) -> bytes:
    """The message body as sent (chunked bodies kept raw): by length, chunks, or to the end."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return await _read_chunked(reader)
    if "content-length" in headers:
        return await reader.readexactly(_declared_length(headers))
    return await reader.read() if response else b""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body up to and including its last chunk and trailers, unchanged."""
    raw = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        raw += line
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                raw += trailer
            raw += b"\r\n"
            return bytes(raw)
        raw += await reader.readexactly(size + 2)


async def _read_some(reader: asyncio.StreamReader, count: int) -> None:
    """Read up to ``count`` bytes of what the client sends."""
    left = count
    while left > 0:
        chunk = await reader.read(left)
        if not chunk:
            return
        left -= len(chunk)


def status_response(fault: Respond) -> bytes:
    """The bytes of a scripted answer."""
    try:
        reason = HTTPStatus(fault.status).phrase
    except ValueError:
        reason = "Status"
    lines = [f"HTTP/1.1 {fault.status} {reason}", f"Content-Length: {len(fault.body)}"]
    lines += ["Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in fault.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + fault.body


def reset(writer: asyncio.StreamWriter) -> None:
    """Abort the connection with a TCP RST (linger 0), not a clean close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
