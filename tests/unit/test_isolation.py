"""Multi-conversation isolation: the current conversation is per thread and per asyncio task."""

from __future__ import annotations

import asyncio
import threading

from agentsight_otel.testing import FakeBackend

from .helpers import blocks, messages


def test_threads_do_not_inherit_the_current_conversation(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("main-conv")
    t.track_human_message("from main")
    seen: dict[str, str] = {}

    def worker() -> None:
        t.track_human_message("from thread")
        [item] = [i for i in t.get_tracked_data_summary()["items"] if i["preview"] == "from thread"]
        seen["cid"] = item["conversation_id"]

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["cid"] != "main-conv"
    assert t.get_tracked_data_summary("main-conv")["summary"]["total"] == 1
    t.send_tracked_data()
    assert messages(backend.transport, "main-conv") == ["from main"]


def test_concurrent_threads_each_with_their_own_conversation(backend: FakeBackend) -> None:
    t = backend.tracker
    barrier = threading.Barrier(6)
    results: dict[int, dict] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            t.get_or_create_conversation(f"thread-{n}")
            barrier.wait(timeout=10)
            for i in range(20):
                t.track_human_message(f"{n}-q{i}")
                t.track_agent_message(f"{n}-a{i}")
            barrier.wait(timeout=10)
            results[n] = t.send_tracked_data()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for n in range(6):
        assert results[n]["summary"]["questions"] == 20
        assert results[n]["summary"]["answers"] == 20
        expected = [x for i in range(20) for x in (f"{n}-q{i}", f"{n}-a{i}")]
        assert messages(backend.transport, f"thread-{n}") == expected
    assert {b["conversation_id"] for b in blocks(backend.transport)} == {
        f"thread-{n}" for n in range(6)
    }


def test_asyncio_tasks_each_keep_their_own_conversation(backend: FakeBackend) -> None:
    t = backend.tracker

    async def chat(n: int) -> dict:
        t.get_or_create_conversation(f"task-{n}")
        for i in range(5):
            t.track_human_message(f"{n}:{i}")
            await asyncio.sleep(0)  # let the other tasks interleave
        # On a running loop the blocking send returns 'pending' at once (issue 11 item 1).
        return await t.asend_tracked_data()

    async def main() -> list[dict]:
        return await asyncio.gather(*(chat(n) for n in range(5)))

    results = asyncio.run(main())
    assert [r["summary"]["questions"] for r in results] == [5] * 5
    for n in range(5):
        assert messages(backend.transport, f"task-{n}") == [f"{n}:{i}" for i in range(5)]


def test_task_conversation_does_not_leak_to_the_caller(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("outer")

    async def inner() -> None:
        t.get_or_create_conversation("inner")
        t.track_human_message("inside")

    asyncio.run(inner())
    t.track_human_message("outside")
    assert [i["preview"] for i in t.get_tracked_data_summary("outer")["items"]] == ["outside"]
    assert [i["preview"] for i in t.get_tracked_data_summary("inner")["items"]] == ["inside"]


def test_explicit_ids_from_many_threads_land_in_their_conversations(backend: FakeBackend) -> None:
    t = backend.tracker

    def worker(n: int) -> None:
        for i in range(10):
            t.track_human_message(f"m{i}", conversation_id=f"shared-{i % 2}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert t.get_tracked_data_summary("shared-0")["summary"]["total"] == 20
    assert t.get_tracked_data_summary("shared-1")["summary"]["total"] == 20
    t.send_tracked_data(conversation_id="shared-0")
    t.send_tracked_data(conversation_id="shared-1")
    assert sorted(messages(backend.transport, "shared-0")) == sorted(
        [f"m{i}" for i in range(0, 10, 2)] * 4
    )
    assert len(messages(backend.transport, "shared-1")) == 20


def test_two_trackers_do_not_share_a_current_conversation(make_backend) -> None:
    first, second = make_backend(), make_backend()
    first.tracker.get_or_create_conversation("first-conv")
    second.tracker.track_human_message("second")
    [item] = second.tracker.get_tracked_data_summary()["items"]
    assert item["conversation_id"] != "first-conv"
    assert first.tracker.get_tracked_data_summary()["summary"]["total"] == 0
