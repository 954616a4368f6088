"""One request's hold on delivery is bounded, and what it sends and reports keeps the key whole.

Real sockets on 127.0.0.1: a peer that trickles its answer a byte at a time, a peer that records
the headers it got (with a ~/.netrc naming it), a peer that echoes the key in its error.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentsight_otel._config import resolve_settings
from agentsight_otel._delivery.client import IngestClient, RetryPolicy
from agentsight_otel._delivery.transport import RequestsTransport, TransportError
from agentsight_otel.testing import TEST_API_KEY

ONE_TRY = RetryPolicy(max_attempts=1)


class RawPeer:
    """A TCP server on 127.0.0.1 whose every connection is handled by ``handle`` on a thread."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self._handle = handle
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.stopped = threading.Event()
        self.requests: list[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            self.requests.append(head)
            with contextlib.suppress(OSError):
                self._handle(conn)

    def close(self) -> None:
        self.stopped.set()
        self._sock.close()


@pytest.fixture
def trickling_peer() -> Iterator[RawPeer]:
    """Answers 200 one byte every 0.5 s, forever (each read is well within any read timeout)."""

    def trickle(conn: socket.socket) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000
        for byte in answer:
            if peer.stopped.wait(0.5):
                return
            conn.sendall(bytes([byte]))

    peer = RawPeer(trickle)
    yield peer
    peer.close()


def _in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run ``target`` on a thread; the list receives its result or exception."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(target())
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_trickling_peer_cannot_stretch_a_request_past_its_timeout(
    trickling_peer: RawPeer,
) -> None:
    transport = RequestsTransport()
    thread, out = _in_thread(
        lambda: transport.request("POST", trickling_peer.url + "/api/ingest/", b"{}", {}, 1.0)
    )
    # Each byte comes well within requests' read timeout: only a total deadline ends this.
    thread.join(15)
    assert not thread.is_alive(), "the request outlived its total timeout"
    assert isinstance(out[0], TransportError)
    assert "no complete answer within 1 s" in str(out[0])


def test_the_clients_interrupt_cuts_an_in_flight_request_short(trickling_peer: RawPeer) -> None:
    settings = resolve_settings(
        api_key=TEST_API_KEY,
        endpoint=trickling_peer.url,
        request_timeout=600.0,
        export_deadline=600.0,
    )
    client = IngestClient(settings, RequestsTransport(), policy=ONE_TRY)
    thread, out = _in_thread(lambda: client.post_json("/api/ingest/", b"{}"))
    while not trickling_peer.requests:
        thread.join(0.05)
    client.interrupt.set()  # what shutdown and a full queue do
    thread.join(15)
    assert not thread.is_alive(), "the interrupt did not end the request"
    outcome = out[0]
    assert not outcome.ok and outcome.retryable  # type: ignore[attr-defined]
    assert "cancelled" in outcome.detail  # type: ignore[attr-defined]


def _answer(status: str, body: bytes) -> Callable[[socket.socket], None]:
    def handle(conn: socket.socket) -> None:
        conn.sendall(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    return handle


def test_a_netrc_entry_for_the_endpoint_never_replaces_the_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer = RawPeer(_answer("200 OK", b"{}"))
    try:
        netrc = tmp_path / ".netrc"
        netrc.write_text("machine 127.0.0.1 login someone password netrc-secret\n")
        netrc.chmod(0o600)
        monkeypatch.setenv("NETRC", str(netrc))
        monkeypatch.setenv("HOME", str(tmp_path))
        settings = resolve_settings(api_key=TEST_API_KEY, endpoint=peer.url)
        outcome = IngestClient(settings, RequestsTransport(), policy=ONE_TRY).post_json(
            "/api/ingest/", b"{}"
        )
        assert outcome.ok
        head = peer.requests[0].decode("latin-1").lower()
        assert f"authorization: api-key {TEST_API_KEY}".lower() in head
        assert "basic" not in head and "netrc-secret" not in head
    finally:
        peer.close()


def _runs_of_key(text: str, length: int = 12) -> list[str]:
    """Every ``length``-character run of the key found in ``text`` (case-insensitive)."""
    low = text.lower()
    key = TEST_API_KEY.lower()
    return [key[i : i + length] for i in range(len(key) - length + 1) if key[i : i + length] in low]


@pytest.mark.parametrize("offset", [0, 150, 270, 290, 299, 5000])
@pytest.mark.parametrize("shape", ["text", "detail", "block"])
def test_an_echoed_key_leaves_no_12_character_run_wherever_it_is_cut(
    offset: int, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    echo = "x" * offset + TEST_API_KEY.upper() + " and " + TEST_API_KEY[10:]
    body = {
        "text": echo.encode(),
        "detail": b'{"detail": "%s"}' % echo.encode(),
        "block": b'{"detail": "bad", "conversations": [{"index": 0, "errors": {"x": ["%s"]}}]}'
        % echo.encode(),
    }[shape]
    peer = RawPeer(_answer("400 Bad Request", body))
    try:
        settings = resolve_settings(api_key=TEST_API_KEY, endpoint=peer.url)
        with caplog.at_level(logging.DEBUG):
            outcome = IngestClient(settings, RequestsTransport(), policy=ONE_TRY).post_json(
                "/api/ingest/", b"{}"
            )
        assert not outcome.ok and outcome.status == 400
        seen = " ".join([outcome.detail, *outcome.rejected.values(), caplog.text, repr(outcome)])
        assert _runs_of_key(seen) == []
    finally:
        peer.close()
