"""The bridge: callers without the token are refused before anything is read, sizes and
decompression are bounded, and neither the token nor the API key shows in answers or logs.

Already covered in ``tests/bridge`` (not repeated here): 401 without or with a wrong token and
200 with it (HTTP), UNAUTHENTICATED (gRPC); 413 on the wire, streamed without a length, and
once gzip-decompressed (HTTP); RESOURCE_EXHAUSTED over the limit, plain and gzip (gRPC);
constant-time token comparison; gzip and deflate bombs stopping at the limit.
"""

from __future__ import annotations

import gzip
import logging
import socket

import grpc
import pytest
import requests

from agentsight_otel._bridge.config import Address, BridgeConfig, resolve_bridge_config
from agentsight_otel._bridge.runner import Bridge
from agentsight_otel._delivery.transport import HttpResponse
from agentsight_otel.exceptions import ConfigurationError
from agentsight_otel.testing import TEST_API_KEY, ScriptedTransport
from tests.bridge.helpers import bridge_config, captured_spans, delivery_settings, otlp_protobuf
from tests.security.conftest import BRIDGE_TOKEN, BridgeRig

PROTOBUF = {"Content-Type": "application/x-protobuf"}
AUTH = {"Authorization": f"Bearer {BRIDGE_TOKEN}"}


def test_the_token_never_shows_in_the_config() -> None:
    config = resolve_bridge_config(token=BRIDGE_TOKEN, environ={})
    assert BRIDGE_TOKEN not in repr(config) and BRIDGE_TOKEN not in str(config)


def test_many_small_gzip_members_still_stop_at_the_limit(bridge_rig: BridgeRig) -> None:
    member = gzip.compress(b"\0" * 50_000)
    body = member * 40  # 2 MB once inflated, about 2 kB on the wire; the rig's limit is 1 MB
    assert len(body) < 10_000
    headers = {**PROTOBUF, **AUTH, "Content-Encoding": "gzip"}
    response = bridge_rig.session.post(bridge_rig.url, data=body, headers=headers, timeout=10)
    assert response.status_code == 413


def test_an_unauthenticated_declared_giant_is_refused_without_reading_it(
    bridge_rig: BridgeRig,
) -> None:
    # A terabyte is declared and 64 kB sent: an answer can only come without reading the body.
    assert bridge_rig.bridge.http_url is not None
    host, port = bridge_rig.bridge.http_url.removeprefix("http://").rsplit(":", 1)
    head = (
        f"POST /v1/traces HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/x-protobuf\r\nContent-Length: 1000000000000\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head.encode() + b"\0" * 65536)
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.split()[1] == b"401"


def test_unauthenticated_grpc_callers_are_refused_whatever_they_send(bridge_rig: BridgeRig) -> None:
    assert bridge_rig.bridge.grpc_target is not None
    method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    with grpc.insecure_channel(bridge_rig.bridge.grpc_target) as channel:
        call = channel.unary_unary(method)
        for metadata in ((), (("authorization", BRIDGE_TOKEN),), (("x-token", BRIDGE_TOKEN),)):
            with pytest.raises(grpc.RpcError) as refused:
                call(otlp_protobuf(captured_spans("grpc-no-token")), timeout=10, metadata=metadata)
            assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_answers_and_logs_hold_neither_token_nor_key(caplog: pytest.LogCaptureFixture) -> None:
    echo = HttpResponse(401, {}, f'{{"detail": "bad key {TEST_API_KEY}"}}'.encode())
    backend = ScriptedTransport().script("/api/ingest/", *([echo] * 10))
    config = bridge_config(token=BRIDGE_TOKEN)
    bridge = Bridge(config, settings=delivery_settings(), transport=backend).start()
    answers: list[bytes] = []
    try:
        with caplog.at_level(logging.DEBUG), requests.Session() as session:
            url = f"{bridge.http_url}/v1/traces"
            body = otlp_protobuf(captured_spans("secret-sweep"))
            for auth in ("", "Bearer wrong", f"Basic {BRIDGE_TOKEN}", f"Bearer {BRIDGE_TOKEN}"):
                headers = {**PROTOBUF, **({"Authorization": auth} if auth else {})}
                answers.append(session.post(url, data=body, headers=headers, timeout=10).content)
            assert bridge.flush(10)
    finally:
        bridge.stop(5.0)
    texts = [*answers, caplog.text.encode()]
    for text in texts:
        assert BRIDGE_TOKEN.encode() not in text and TEST_API_KEY[4:36].encode() not in text
    assert "ags_****" in caplog.text  # the rejection was logged, with the key scrubbed


@pytest.mark.parametrize(
    ("http", "grpc_address", "token", "refused"),
    [
        (Address("0.0.0.0", 4418), None, None, True),
        (None, Address("10.0.0.5", 4417), None, True),
        (Address("127.0.0.1", 4418), Address("0.0.0.0", 4417), "  ", True),
        (Address("0.0.0.0", 4418), None, BRIDGE_TOKEN, False),
        (Address("127.0.0.1", 4418), Address("::1", 4417), None, False),
    ],
)
def test_an_open_listener_without_a_token_is_refused(
    http: Address | None, grpc_address: Address | None, token: str | None, refused: bool
) -> None:
    """Beyond loopback without a token, the config itself cannot be made (so nothing binds)."""
    if not refused:
        BridgeConfig(http_address=http, grpc_address=grpc_address, token=token)
        return
    with pytest.raises(ConfigurationError, match=r"needs a token \(--token or AGENTSIGHT_BRIDGE"):
        BridgeConfig(http_address=http, grpc_address=grpc_address, token=token)
