"""Slow clients cannot starve the bridge: request heads have a deadline, connections a cap, and
exporters that send promptly are served while hundreds of connections trickle their headers."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.bridge.conftest import StartBridge
from tests.bridge.helpers import captured_spans, ingest_bodies

SLOW_CLIENTS = 300


@contextlib.contextmanager
def trickling_clients(url: str, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that have each sent the first bytes of a request head, and no more."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    clients: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
            clients.append(sock)
        yield clients
    finally:
        for sock in clients:
            sock.close()


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` (EOF or reset) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.mark.slow
def test_exporters_are_served_while_hundreds_of_connections_trickle_their_heads(
    start_bridge: StartBridge,
) -> None:
    bridge, backend = start_bridge(
        grpc_address=None, token="bridge-token", head_timeout=2.0, max_connections=100
    )
    exporter = OTLPSpanExporter(
        endpoint=f"{bridge.http_url}/v1/traces",
        headers={"Authorization": "Bearer bridge-token"},
        timeout=10,
    )
    with trickling_clients(bridge.http_url, SLOW_CLIENTS) as clients:
        # More slow clients than the cap: the longest-waiting are closed to make room.
        assert _closed_by_server(clients[0], within=10)
        for round_ in range(3):
            assert exporter.export(captured_spans(f"served-{round_}")) is SpanExportResult.SUCCESS
        # Every slow client is closed by its head deadline, whatever the cap.
        assert _closed_by_server(clients[-1], within=10)
    exporter.shutdown()
    assert bridge.flush(10)
    delivered = b"".join(ingest_bodies(backend))
    assert all(f'"served-{n}"'.encode() in delivered for n in range(3))


def test_a_head_sent_a_byte_at_a_time_is_cut_off_at_the_deadline(
    start_bridge: StartBridge,
) -> None:
    bridge, _ = start_bridge(grpc_address=None, head_timeout=1.0)
    with trickling_clients(bridge.http_url, 1) as (client,):
        client.settimeout(10)
        closed = False
        for _ in range(40):  # a byte every 0.25 s, each well within any read timeout
            try:
                client.sendall(b"x")
                time.sleep(0.25)
                if _closed_by_server(client, within=0.01):
                    closed = True
                    break
            except OSError:
                closed = True
                break
        assert closed, "the bridge kept a connection that never finished its head"
