"""A spooled body only ever goes to the endpoint, under the key, it was accepted for (issue 17
item 9): bridges for other destinations on the same state directory leave it alone, and so does
an exporter sharing an explicit spool directory."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from agentsight_otel._config import resolve_settings
from agentsight_otel._delivery.client import IngestClient, RetryPolicy
from agentsight_otel._delivery.transport import HttpResponse
from agentsight_otel._export.redelivery import Redelivery
from agentsight_otel._export.stats import DeliveryStats
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY, FakeClock, ScriptedTransport
from tests.bridge.helpers import captured_spans, otlp_protobuf
from tests.bridge.test_bridge_cli import start_cli_bridge
from tests.reliability.helpers import ServerView, wait_until
from tests.support.faults import FaultProxy, Forward, Respond
from tests.support.private import assert_private

KEY_B = "ags_" + "b" * 32 + "_" + "c" * 6
PROTOBUF = {"Content-Type": "application/x-protobuf"}
INGEST = "/api/ingest/"


def post(url: str, cid: str) -> None:
    """One whole conversation, which the bridge answers 200 for."""
    body = otlp_protobuf(captured_spans(cid))
    assert requests.post(url, data=body, headers=PROTOBUF, timeout=10).status_code == 200


def finish(process: subprocess.Popen[str]) -> str:
    """SIGTERM; what the bridge logged."""
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    return err


def spooled(root: Path) -> dict[str, bytes]:
    """Every waiting body under the default spool root, by path."""
    return {str(path.relative_to(root)): path.read_bytes() for path in root.glob("*/*.body")}


@pytest.mark.usefixtures("umask_022")
def test_a_bridge_never_sends_what_another_destination_spooled(
    server: LocalServer, proxy: FaultProxy, view: ServerView, tmp_path: Path
) -> None:
    state = Path(os.environ["XDG_STATE_HOME"])
    root = state / "agentsight-otel" / "bridge"
    # Bridge A accepts a conversation while its backend is down: it waits in A's spool.
    proxy.default = Respond(503)
    bridge_a, url = start_cli_bridge(proxy.url, "--drain-timeout", "3")
    post(url, "for-a")
    assert wait_until(lambda: proxy.requests[INGEST] >= 1, timeout=30)  # tried, refused
    log_first = finish(bridge_a)
    held = spooled(root)
    assert held, log_first
    assert_private(state)

    # Bridge B: another endpoint and key, the same default state directory.
    with LocalServer(tmp_path / "b.db", api_keys=[KEY_B]) as server_b:
        bridge_b, url = start_cli_bridge(server_b.url, "--api-key", KEY_B)
        post(url, "for-b")
        seen_b = ServerView(tmp_path / "b.db")
        try:
            assert wait_until(lambda: seen_b.conversation_count() >= 1, timeout=30)
            log_b = finish(bridge_b)
            assert seen_b.per_conversation("messages", "content").keys() == {"for-b"}
        finally:
            seen_b.close()
    assert {name: data for name, data in spooled(root).items() if name in held} == held
    assert "0 body(ies) spooled there" in log_b
    assert "for-a" not in log_b

    # Bridge A again, its backend back: what it spooled arrives where it was meant to go.
    proxy.default = Forward()
    bridge_a, url = start_cli_bridge(proxy.url)
    assert wait_until(lambda: view.conversation_count() >= 1, timeout=30)
    log_a = finish(bridge_a)
    assert f"{len(held)} body(ies) spooled there" in log_a
    assert view.per_conversation("messages", "content").keys() == {"for-a"}
    assert not any(name in held for name in spooled(root))


def _redelivery(
    directory: Path, endpoint: str, key: str, transport: ScriptedTransport
) -> Redelivery:
    settings = resolve_settings(api_key=key, endpoint=endpoint)
    client = IngestClient(settings, transport, clock=FakeClock(), policy=RetryPolicy(1))
    return Redelivery(str(directory), 1_000_000, client, DeliveryStats())


def test_an_explicit_shared_spool_sends_only_its_own_destinations_bodies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps({"sdk": {}, "conversations": [{"conversation_id": "a"}]}).encode()
    down = ScriptedTransport().script(INGEST, HttpResponse(503))
    first = _redelivery(tmp_path, "https://a.test", TEST_API_KEY, down)
    first.hold(body, 1, "test")
    other = ScriptedTransport()
    with caplog.at_level(logging.WARNING, "agentsight_otel"):
        for endpoint, key in (("https://b.test", TEST_API_KEY), ("https://a.test", KEY_B)):
            _redelivery(tmp_path, endpoint, key, other).replay(False, lambda: False)
    assert other.requests == []
    warnings = [r.getMessage() for r in caplog.records if "left untouched" in r.getMessage()]
    assert len(warnings) == 2 and all("1 body(ies)" in text for text in warnings)
    same = ScriptedTransport()
    _redelivery(tmp_path, "https://A.test/", TEST_API_KEY, same).replay(False, lambda: False)
    assert [r.path for r in same.requests] == [INGEST]
    assert list(tmp_path.glob("*.body")) == []
