"""The spool on its own: atomic files, claims between processes, the byte bound, redelivery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agentsight_otel._config import resolve_settings
from agentsight_otel._delivery.client import IngestClient, RetryPolicy
from agentsight_otel._delivery.transport import HttpResponse
from agentsight_otel._export.redelivery import Redelivery
from agentsight_otel._export.spool import CLAIM, STALE_S, Spool
from agentsight_otel._export.stats import DeliveryStats
from agentsight_otel._log import RateLimitedLog
from agentsight_otel.exceptions import ConfigurationError
from agentsight_otel.testing import TEST_API_KEY, FakeClock, ScriptedTransport

INGEST = "/api/ingest/"
HERE = "0123456789abcdef"  # a destination fingerprint


def body(*cids: str) -> bytes:
    """An ingest body with one span per conversation."""
    blocks = [{"conversation_id": cid, "spans": [{"span_id": cid}]} for cid in cids]
    return json.dumps({"sdk": {"name": "t"}, "conversations": blocks}).encode()


def test_bodies_are_written_whole_and_come_back_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 1_000_000, destination=HERE)
    for n in range(5):
        assert spool.put(body(f"c{n}"), 1)
    assert not list((tmp_path / "spool").glob("*.tmp"))
    taken = [spool.claim_oldest() for _ in range(5)]
    assert [json.loads(b.read())["conversations"][0]["conversation_id"] for b in taken if b] == [
        f"c{n}" for n in range(5)
    ]
    assert spool.claim_oldest() is None
    spool.release(taken[0])  # type: ignore[arg-type]
    again = spool.claim_oldest()
    assert again is not None and again.name == taken[0].name  # type: ignore[union-attr]
    spool.remove(again)
    assert spool.size() == sum(len(b.read()) for b in taken[1:] if b)


def test_past_its_bound_the_oldest_bodies_are_evicted_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    evicted: list[int] = []
    spool = Spool(
        tmp_path,
        3 * len(body("c0")),
        destination=HERE,
        log=RateLimitedLog(),
        on_evict=evicted.append,
    )
    for n in range(6):
        spool.put(body(f"c{n}"), 1)
    left = [
        json.loads(p.read_bytes())["conversations"][0]["conversation_id"] for p in spool.pending()
    ]
    assert left == ["c3", "c4", "c5"]
    assert (spool.evicted_bodies, spool.evicted_spans, sum(evicted)) == (3, 3, 3)
    warnings = [r for r in caplog.records if "evicted" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited: the count carries on in the next one


def test_concurrent_claimers_never_take_the_same_body(tmp_path: Path) -> None:
    writer = Spool(tmp_path, 10_000_000, destination=HERE)
    for n in range(200):
        writer.put(body(f"c{n}"), 1)
    taken: list[str] = []
    lock = threading.Lock()

    def drain() -> None:
        # Each as another process would have its own.
        reader = Spool(tmp_path, 10_000_000, destination=HERE)
        while (claimed := reader.claim_oldest()) is not None:
            with lock:
                taken.append(claimed.name)
            reader.remove(claimed)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(taken) == len(set(taken)) == 200


def test_claims_and_half_written_files_of_dead_processes_are_recovered(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(dead.stdout)
    stem = f"{1:020d}-{pid}-{0:08d}-{HERE}-4"
    (tmp_path / f"{stem}.{pid}{CLAIM}").write_bytes(body("claimed"))
    (tmp_path / f"{2:020d}-{pid}-{1:08d}-{HERE}-1.tmp").write_bytes(b"half")
    spool = Spool(tmp_path, 1_000_000, destination=HERE)
    claimed = spool.claim_oldest()
    assert claimed is not None and claimed.spans == 4 and claimed.name == stem
    assert not list(tmp_path.glob("*.tmp"))


def test_a_stale_claim_under_a_live_pid_is_recovered_and_a_fresh_one_is_not(
    tmp_path: Path,
) -> None:
    # A process restarted under the pid of the one that died (pid 1 in a container).
    pid = os.getpid()
    stale, fresh = f"{1:020d}-{pid}-{0:08d}-{HERE}-2", f"{2:020d}-{pid}-{1:08d}-{HERE}-3"
    for stem in (stale, fresh):
        (tmp_path / f"{stem}.{pid}{CLAIM}").write_bytes(body(stem))
    long_ago = time.time() - STALE_S - 60
    os.utime(tmp_path / f"{stale}.{pid}{CLAIM}", (long_ago, long_ago))
    spool = Spool(tmp_path, 1_000_000, destination=HERE)
    claimed = spool.claim_oldest()
    assert claimed is not None and claimed.name == stale
    assert spool.claim_oldest() is None


def _redelivery(tmp_path: Path, transport: ScriptedTransport) -> Redelivery:
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint="https://agentsight.test")
    policy = RetryPolicy(max_attempts=3)
    client = IngestClient(settings, transport, clock=FakeClock(), policy=policy)
    return Redelivery(str(tmp_path), 1_000_000, client, DeliveryStats(), retry_interval=5.0)


def test_redelivery_waits_while_the_backend_is_down_then_drains(tmp_path: Path) -> None:
    transport = ScriptedTransport().script(INGEST, *[HttpResponse(503)] * 3)
    redelivery = _redelivery(tmp_path, transport)
    for n in range(3):
        redelivery.hold(body(f"c{n}"), 1, "test")
    redelivery.replay(False, lambda: False)  # the oldest tried (three attempts), kept
    assert redelivery.down and len(redelivery.spool.pending()) == 3
    tried = len(transport.requests)
    redelivery.replay(False, lambda: False)  # not due yet: no request
    assert len(transport.requests) == tried
    redelivery.client.clock.time += 5.0  # type: ignore[attr-defined]
    redelivery.replay(False, lambda: False)
    assert not redelivery.down and redelivery.spool.pending() == []
    assert redelivery.stats.replayed_spans == 3


def test_redelivery_keeps_what_a_400_did_not_name_and_splits_on_413(tmp_path: Path) -> None:
    named = HttpResponse(
        400,
        {},
        json.dumps(
            {
                "detail": "bad",
                "conversations": [{"index": 0, "conversation_id": "bad", "errors": {"x": ["no"]}}],
            }
        ).encode(),
    )
    transport = ScriptedTransport().script(INGEST, named, HttpResponse(413))
    redelivery = _redelivery(tmp_path, transport)
    redelivery.hold(body("bad", "good-1", "good-2"), 3, "test")
    redelivery.replay(False, lambda: False)
    sent = [[b["conversation_id"] for b in r["conversations"]] for r in transport.bodies()]
    assert sent == [["bad", "good-1", "good-2"], ["good-1", "good-2"], ["good-1"], ["good-2"]]
    assert redelivery.stats.rejected_spans == 1 and redelivery.stats.replayed_spans == 2


def test_a_refused_key_keeps_the_spool_for_later(tmp_path: Path) -> None:
    transport = ScriptedTransport().script(INGEST, HttpResponse(401))
    redelivery = _redelivery(tmp_path, transport)
    redelivery.hold(body("c"), 1, "test")
    redelivery.replay(False, lambda: False)
    assert redelivery.down and len(redelivery.spool.pending()) == 1


def test_spool_settings_from_arguments_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_settings().spool_dir is None
    assert resolve_settings(spool_dir=tmp_path).spool_dir == str(tmp_path)
    monkeypatch.setenv("AGENTSIGHT_SPOOL_DIR", str(tmp_path / "from-env"))
    assert resolve_settings().spool_dir == str(tmp_path / "from-env")
    assert resolve_settings(spool_dir=tmp_path / "arg").spool_dir == str(tmp_path / "arg")
    for bad in ({"spool_dir": "  "}, {"spool_max_bytes": 0}, {"max_queue_bytes": -1}):
        with pytest.raises(ConfigurationError):
            resolve_settings(**bad)
