"""A database the demo filled through the real exporter, plus a hostile and an unfinished one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from agentsight_otel._serving import BackgroundServer, uvicorn_config
from agentsight_otel.server import LocalServer, Store, create_app
from agentsight_otel.testing import TEST_API_KEY

HOSTILE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts" / "viewer"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make browser)"),
]


def run_cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """The console command in a fresh process, with no AGENTSIGHT_/OTEL_ settings but env."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTSIGHT_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, "-m", "agentsight_otel._cli", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _span(kind: str, span_id: str, parent: str | None, **attributes: object) -> dict[str, object]:
    """One span of the hostile conversation, all at 05:00:00-05:00:01 UTC."""
    return {
        "span_id": span_id,
        "trace_id": "f" * 32,
        "parent_span_id": parent,
        "kind": kind,
        "name": kind,
        "started_at": "2026-11-21T05:00:00.100000+00:00",
        "ended_at": "2026-11-21T05:00:00.600000+00:00",
        "duration_ms": 500.0,
        "status": "error" if kind == "tool" else "ok",
        "attributes": {"agentsight.conversation.id": "hostile", **attributes},
        "events": [],
        "otel": {"span_kind": "INTERNAL"},
    }


def hostile_body() -> dict[str, object]:
    """A conversation whose every text field is markup, with a turn that never completed."""
    turn = _span("turn", "a" * 16, None, **{"agentsight.turn.id": "t-1"})
    turn["attributes"]["agentsight.turn.complete"] = False  # type: ignore[index]
    turn["attributes"]["agentsight.turn.incomplete_reason"] = "abandoned"  # type: ignore[index]
    turn["events"] = [
        {
            "name": "agentsight.message",
            "timestamp": "2026-11-21T05:00:00.200000+00:00",
            "attributes": {
                "agentsight.message.sender": "end_user",
                "agentsight.message.content": HOSTILE,
            },
        }
    ]
    tool = _span(
        "tool",
        "b" * 16,
        "a" * 16,
        **{
            "agentsight.tool.name": HOSTILE,
            "agentsight.tool.arguments": json.dumps({"q": HOSTILE}),
            "agentsight.tool.error": HOSTILE,
        },
    )
    block = {
        "conversation_id": "hostile",
        "name": HOSTILE,
        "customer_id": HOSTILE,
        "environment": "development",
        "metadata": {"note": HOSTILE},
        "spans": [turn, tool],
    }
    return {"sdk": {"name": "tests", "version": "0"}, "conversations": [block]}


@pytest.fixture(scope="package")
def viewer_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's conversation (real exporter, real HTTP), a hostile one and a visit."""
    path = tmp_path_factory.mktemp("viewer") / "demo.db"
    done = run_cli("demo", "--db", str(path))
    assert done.returncode == 0, done.stderr
    with LocalServer(path, api_keys=[TEST_API_KEY]) as server:
        headers = {"Authorization": f"Api-Key {TEST_API_KEY}"}
        answer = requests.post(
            f"{server.url}/api/ingest/", json=hostile_body(), headers=headers, timeout=10
        )
        assert answer.status_code == 200, answer.text
        visit = {"conversation_id": "visit-only", "source": "whatsapp", "device": "mobile"}
        answer = requests.post(
            f"{server.url}/api/conversations/", json=visit, headers=headers, timeout=10
        )
        assert answer.status_code == 201, answer.text
    return path


@pytest.fixture(scope="package")
def viewer(viewer_db: Path) -> Iterator[LocalServer]:
    """A local server on 127.0.0.1 over the seeded database: the viewer is open."""
    with LocalServer(viewer_db, api_keys=[TEST_API_KEY]) as server:
        yield server


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless (Playwright never downloads a browser here)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def guarded(viewer_db: Path) -> Iterator[str]:
    """The app as `serve` builds it for a non-loopback bind, served on 127.0.0.1 for the test."""
    store = Store(viewer_db)
    app = create_app(store, api_keys=[TEST_API_KEY])
    server = BackgroundServer(uvicorn_config(app), "127.0.0.1", 0, "viewer-guarded")
    server.start()
    yield server.url
    server.stop()
    store.close()
