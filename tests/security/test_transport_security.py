"""TLS is verified unless explicitly turned off, and a key bound for plain http off this machine
is announced with one warning."""

from __future__ import annotations

import http.server
import logging
import shutil
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from urllib3.exceptions import InsecureRequestWarning

from agentsight_otel import AgentSightSpanExporter, ConversationTracker
from agentsight_otel._config import resolve_settings
from agentsight_otel._delivery import transport as transport_module
from agentsight_otel._delivery.client import IngestClient
from agentsight_otel._delivery.plaintext import exposes_key
from agentsight_otel._delivery.transport import RequestsTransport, TransportError
from agentsight_otel._loopback import is_loopback
from agentsight_otel.exceptions import ConfigurationError
from agentsight_otel.testing import TEST_API_KEY, ScriptedTransport

WARNING_TEXT = "sent over plain http"

# -- TLS -----------------------------------------------------------------------------------------


def test_the_transport_verifies_tls_by_default_and_only_an_explicit_false_turns_it_off() -> None:
    assert RequestsTransport()._session.verify is True
    assert RequestsTransport(verify_tls=False)._session.verify is False
    assert resolve_settings().verify_tls is True
    for wrong in ("no", "false", "", 0, 1, 0.0):
        with pytest.raises(ConfigurationError):
            resolve_settings(verify_tls=wrong)


def test_every_transport_the_library_builds_verifies_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[bool] = []
    original = RequestsTransport.__init__

    def spy(self: RequestsTransport, *, verify_tls: bool = True) -> None:
        built.append(verify_tls)
        original(self, verify_tls=verify_tls)

    monkeypatch.setattr(transport_module.RequestsTransport, "__init__", spy)
    exporter = AgentSightSpanExporter(api_key=TEST_API_KEY, endpoint="https://agentsight.test")
    tracker = ConversationTracker(api_key=TEST_API_KEY, endpoint="https://agentsight.test")
    tracker.track_attachments([{"filename": "a.txt", "data": "aGk="}], conversation_id="tls")
    _ = tracker.settings  # the private pipeline's exporter
    tracker.shutdown(timeout=0.1)
    exporter.shutdown(timeout_millis=100)
    assert len(built) >= 3 and all(built)  # exporter, private pipeline, attachment uploader


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    _self_signed(cert, key)
    return cert, key


@pytest.fixture(scope="module")
def https_server(self_signed: tuple[Path, Path]) -> Iterator[tuple[str, list[Any]]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate; requests it answered."""
    cert, key = self_signed
    seen: list[Any] = []
    handler = type("Handler", (_Ok,), {"seen": seen})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_port}", seen
    server.shutdown()


def _self_signed(cert: Path, key: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


class _Ok(http.server.BaseHTTPRequestHandler):
    seen: list[Any]

    def do_POST(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        return None


def test_an_untrusted_certificate_is_refused_before_the_key_is_sent(
    https_server: tuple[str, list[Any]],
) -> None:
    url, seen = https_server
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint=url)
    before = len(seen)
    with pytest.raises(TransportError) as refused:
        RequestsTransport().request("POST", f"{url}/api/ingest/", b"{}", {}, 5)
    assert "SSL" in str(refused.value) or "certificate" in str(refused.value).lower()
    outcome = IngestClient(settings, RequestsTransport()).post_json(
        "/api/ingest/", b"{}", deadline=1
    )
    assert not outcome.ok and "network error" in outcome.detail
    assert len(seen) == before  # no request (and so no key) ever reached the server


def test_verification_can_be_turned_off_explicitly(
    https_server: tuple[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a CA bundle in the environment, requests used to prefer it over verify=False.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    url, seen = https_server
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint=url, verify_tls=False)
    client = IngestClient(settings, RequestsTransport(verify_tls=settings.verify_tls))
    with pytest.warns(InsecureRequestWarning):  # urllib3 says so on every unverified request
        outcome = client.post_json("/api/ingest/", b"{}", deadline=5)
    assert outcome.ok and seen[-1] == f"Api-Key {TEST_API_KEY}"


def test_a_ca_bundle_the_environment_names_is_trusted(
    https_server: tuple[str, list[Any]],
    self_signed: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(self_signed[0]))
    url, seen = https_server
    answer = RequestsTransport().request("POST", f"{url}/api/ingest/", b"{}", {}, 5)
    assert answer.status == 200 and len(seen) > 0


# -- proxies from the environment ----------------------------------------------------------------


class _Proxy(http.server.BaseHTTPRequestHandler):
    """A forward proxy that answers every request itself: what it was asked for is recorded."""

    asked: list[str]

    def do_POST(self) -> None:
        self.asked.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture()
def proxy() -> Iterator[tuple[str, list[str]]]:
    """A proxy on 127.0.0.1; the URLs it was asked for."""
    asked: list[str] = []
    server = http.server.HTTPServer(("127.0.0.1", 0), type("Proxy", (_Proxy,), {"asked": asked}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", asked
    server.shutdown()


def test_requests_go_through_the_proxy_the_environment_names_unless_no_proxy_exempts_them(
    proxy: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, asked = proxy
    monkeypatch.setenv("HTTP_PROXY", address)
    monkeypatch.setenv("NO_PROXY", "exempt.test")
    transport = RequestsTransport()
    for _ in range(2):  # the environment is read once per origin: the second is the same
        answer = transport.request("POST", "http://agentsight.test/api/ingest/", b"{}", {}, 5)
        assert answer.status == 202
    assert asked == ["http://agentsight.test/api/ingest/"] * 2
    with pytest.raises(TransportError):  # exempt: asked directly, and no such host answers
        transport.request("POST", "http://exempt.test:9/api/ingest/", b"{}", {}, 2)
    assert len(asked) == 2


# -- the plain-http warning ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("192.168.1.10", False),
        ("::2", False),
        ("localhost.example.com", False),
        ("agentsight.test", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("endpoint", "exposed"),
    [
        ("http://collector.internal:8600", True),
        ("HTTP://10.1.2.3", True),
        ("http://127.0.0.1:8600", False),
        ("http://[::1]:8600", False),
        ("http://localhost:8600", False),
        ("https://collector.internal", False),
    ],
)
def test_which_endpoints_expose_the_key(endpoint: str, exposed: bool) -> None:
    assert exposes_key(endpoint) is exposed


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if WARNING_TEXT in r.getMessage()]


def test_one_warning_per_plain_http_endpoint_when_a_key_is_about_to_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = f"http://agentsight-{uuid.uuid4().hex}.example"  # the warning is once per process
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint=endpoint)
    with caplog.at_level(logging.DEBUG, logger="agentsight_otel"):
        client = IngestClient(settings, ScriptedTransport())
        assert _warnings(caplog) == []  # nothing is sent yet
        for _ in range(3):
            client.post_json("/api/ingest/", b"{}")
        IngestClient(settings, ScriptedTransport()).post_json("/api/ingest/", b"{}")
    [record] = _warnings(caplog)
    assert record.name == "agentsight_otel" and record.levelno == logging.WARNING
    assert TEST_API_KEY not in record.getMessage() and "https://" in record.getMessage()


@pytest.mark.parametrize(
    ("endpoint", "key"),
    [
        ("http://127.0.0.1:8600", TEST_API_KEY),
        ("http://localhost:8600", TEST_API_KEY),
        ("http://[::1]:8600", TEST_API_KEY),
        ("https://remote-{}.example", TEST_API_KEY),
        ("http://remote-{}.example", None),  # no key, nothing to expose
    ],
)
def test_no_warning_for_loopback_https_or_no_key(
    caplog: pytest.LogCaptureFixture, endpoint: str, key: str | None
) -> None:
    settings = resolve_settings(api_key=key, endpoint=endpoint.format(uuid.uuid4().hex))
    with caplog.at_level(logging.DEBUG, logger="agentsight_otel"):
        IngestClient(settings, ScriptedTransport()).post_json("/api/ingest/", b"{}")
    assert _warnings(caplog) == []
