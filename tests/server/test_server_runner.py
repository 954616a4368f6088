"""LocalServer lifecycle, serve() for the CLI, and the vendor SDK as a real client."""

from __future__ import annotations

import gzip
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from agentsight_otel.server import LocalServer
from tests.server.server_helpers import CID, KEY, Api, block, body, load_sample

REPO = Path(__file__).resolve().parents[2]


def test_url_is_known_once_started_and_stop_is_prompt() -> None:
    server = LocalServer()
    with pytest.raises(RuntimeError):
        _ = server.url
    server.start()
    assert server.url.startswith("http://127.0.0.1:")
    assert int(server.url.rsplit(":", 1)[1]) > 0
    assert Api(server.url).get("/api/me/").status_code == 200
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 3
    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/api/me/", timeout=2)


def test_a_server_starts_only_once() -> None:
    with LocalServer() as server, pytest.raises(RuntimeError):
        server.start()


def test_unknown_routes_and_methods_answer_json(api: Api) -> None:
    missing = api.get("/api/nothing-here/")
    assert missing.status_code == 404
    assert "detail" in missing.json()
    wrong = api.session.delete(f"{api.url}/api/ingest/")
    assert wrong.status_code == 405
    assert "detail" in wrong.json()


def test_serve_prints_its_url_and_stops_on_interrupt(tmp_path: Path) -> None:
    script = (
        "import sys; from agentsight_otel.server import serve;"
        " serve('127.0.0.1', 0, sys.argv[1], api_keys=[sys.argv[2]])"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    db = tmp_path / "cli.db"
    with subprocess.Popen(
        [sys.executable, "-c", script, str(db), KEY], stdout=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("AgentSight local server listening on http://127.0.0.1:")
            client = Api(line.split()[-1])
            assert client.ingest(body(block())).status_code == 200
            assert client.conversation_ids() == [CID]
            client.session.close()
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == 0
            # Nothing but the two requests' access lines: no traceback on the way out.
            rest = process.stdout.read().splitlines()
            assert [line.split()[:3] for line in rest] == [
                ["POST", "/api/ingest/", "200"],
                ["GET", "/api/conversations/", "200"],
            ]
        finally:
            process.kill()
    assert db.exists()


@pytest.fixture
def vendor() -> Any:
    """The vendor SDK (a test-only oracle), with its learned capabilities reset afterwards."""
    agentsight = pytest.importorskip("agentsight")
    from agentsight import _settings

    _settings._reset_capabilities_for_tests()
    yield agentsight
    _settings._reset_capabilities_for_tests()


def test_vendor_transport_reads_me(vendor: Any, server_and_api: tuple[LocalServer, Api]) -> None:
    from agentsight._transport import Transport

    server, _ = server_and_api
    transport = Transport(KEY, server.url, max_retries=1)
    try:
        identity = transport.request("GET", "/api/me/")
    finally:
        transport.close()
    assert identity["capabilities"] == ["gzip-ingest"]


def test_vendor_exporter_posts_plain_and_gzip(
    vendor: Any, server_and_api: tuple[LocalServer, Api]
) -> None:
    from agentsight import _settings
    from agentsight.sdk.exporter import AgentSightSpanExporter as VendorExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    server, api = server_and_api
    exporter = VendorExporter(server.url, KEY, logging.getLogger("vendor-test"))
    sent: list[dict[str, str]] = []
    post = exporter._session.post

    def recording_post(url: str, **kwargs: Any) -> requests.Response:
        sent.append(kwargs.get("headers") or {})
        return post(url, **kwargs)

    exporter._session.post = recording_post
    assert exporter._post(load_sample()) == SpanExportResult.SUCCESS
    assert exporter.last_response == {"accepted": {"conversations": 1, "spans": 7, "duplicates": 0}}
    _settings.learn_capabilities(["gzip-ingest"])
    assert exporter._post(load_sample()) == SpanExportResult.SUCCESS
    assert sent[-1].get("Content-Encoding") == "gzip"
    assert exporter.last_response == {"accepted": {"conversations": 1, "spans": 0, "duplicates": 7}}
    assert len(api.read("web-1", "transcript")["messages"]) == 2


def test_vendor_reads_our_400_block_by_block(vendor: Any, api: Api) -> None:
    from agentsight.sdk.exporter import _rejection_detail

    bad = load_sample()
    bad["conversations"][0]["environment"] = "staging"
    response = api.ingest(bad)
    assert response.status_code == 400
    detail = _rejection_detail(response)
    assert "Offending block(s): web-1 (environment: Unknown environment" in detail


def test_gzip_helper_matches_the_stdlib(api: Api) -> None:
    data = gzip.compress(b'{"sdk": {"name": "x", "version": "1"}, "conversations": []}')
    response = api.post_bytes("/api/ingest/", data, **{"Content-Encoding": "GZIP"})
    assert response.status_code == 200, response.text
