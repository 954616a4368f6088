"""Isolation under concurrency: every item lands in its own conversation, and forks export."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agentsight_otel import ConversationTracker, traced_action
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY
from tests.reliability.helpers import (
    ServerView,
    assert_ended_at_exit,
    assert_exactly,
    make_pipeline,
    report,
    run_script,
)

THREADS = 64
TASKS = 1_000


def test_64_threads_interleave_current_and_explicit_conversations(
    server: LocalServer, view: ServerView
) -> None:
    pipeline = make_pipeline(server.url)
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    cids: list[str] = []

    def worker(n: int) -> None:
        try:
            start.wait(30)
            for round_ in range(3):
                mine, other = f"thread-{n}-{round_}", f"thread-{n}-{round_}-by-id"
                interleave_two(pipeline.tracker, mine, other)
                cids.extend((mine, other))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert pipeline.exporter.force_flush(30_000)
    finally:
        pipeline.close()
    assert errors == []
    counts = assert_exactly(view, cids)
    report("isolation: 64 threads", **counts)


def interleave_two(tracker: ConversationTracker, mine: str, other: str) -> None:
    """One conversation made current in this thread, one by id only, call by call."""
    tracker.get_or_create_conversation(mine)
    tracker.track_human_message(f"{mine} question")
    tracker.track_human_message(f"{other} question", conversation_id=other)
    traced_action(name="lookup", conversation_id=other)(found)(other)
    found_here(mine)
    tracker.track_button("choice", f"{other} button", "yes", conversation_id=other)
    tracker.track_button("choice", f"{mine} button", "yes")
    tracker.track_agent_message(f"{other} answer", conversation_id=other)
    tracker.track_agent_message(f"{mine} answer")
    assert tracker.send_tracked_data(other, timeout=0)["summary"]["questions"] == 1
    assert tracker.send_tracked_data(timeout=0)["summary"]["buttons"] == 1


def found(cid: str) -> str:
    """A tool body, decorated per conversation id."""
    return f"found {cid}"


@traced_action(name="lookup")
def found_here(cid: str) -> str:
    """The same tool for the current conversation."""
    return f"found {cid}"


async def alookup(cid: str) -> str:
    """An async tool body, decorated per test."""
    await asyncio.sleep(0)
    return f"found {cid}"


async def step() -> None:
    """Let the other tasks run between two calls."""
    await asyncio.sleep(0)


async def both(tracker: ConversationTracker, home: str, other: str) -> None:
    """A conversation made current in the task, and another one named by id, interleaved."""
    tracker.get_or_create_conversation(home)
    tracker.track_human_message(f"{home} question")
    await step()
    tracker.track_human_message(f"{other} question", conversation_id=other)
    await traced_action(name="lookup", conversation_id=other)(alookup)(other)
    await step()
    await traced_action(name="lookup")(alookup)(home)
    tracker.track_button("choice", f"{other} button", "yes", conversation_id=other)
    tracker.track_button("choice", f"{home} button", "yes")
    await step()
    tracker.track_agent_message(f"{home} answer")
    tracker.track_agent_message(f"{other} answer", conversation_id=other)
    assert (await tracker.asend_tracked_data(timeout=0))["summary"]["questions"] == 1
    assert (await tracker.asend_tracked_data(other, timeout=0))["summary"]["answers"] == 1


async def by_id_only(tracker: ConversationTracker, cid: str) -> None:
    """A task that never makes a conversation current."""
    tracker.track_human_message(f"{cid} question", conversation_id=cid)
    await step()
    tracker.track_action("lookup", response=f"found {cid}", conversation_id=cid)
    tracker.track_button("choice", f"{cid} button", "yes", conversation_id=cid)
    await step()
    tracker.track_agent_message(f"{cid} answer", conversation_id=cid)
    assert (await tracker.asend_tracked_data(cid, timeout=0))["summary"]["actions"] == 1


async def chat(tracker: ConversationTracker, n: int) -> list[str]:
    """Task ``n``: odd ones by id only, even ones both ways; the conversations it made."""
    if n % 2:
        await by_id_only(tracker, f"task-{n}")
        return [f"task-{n}"]
    await both(tracker, f"task-{n}", f"task-{n}-by-id")
    return [f"task-{n}", f"task-{n}-by-id"]


@pytest.mark.slow
def test_1000_asyncio_tasks_interleave_their_conversations(
    server: LocalServer, view: ServerView
) -> None:
    pipeline = make_pipeline(server.url)

    async def main() -> list[list[str]]:
        return await asyncio.gather(*(chat(pipeline.tracker, n) for n in range(TASKS)))

    try:
        cids = [cid for made in asyncio.run(main()) for cid in made]
        assert pipeline.exporter.force_flush(30_000)
    finally:
        pipeline.close()
    counts = assert_exactly(view, cids)
    report("isolation: 1,000 asyncio tasks", **counts)


FORKING = """
import os, sys
from agentsight_otel import ConversationTracker
from tests.reliability.helpers import converse

tracker = ConversationTracker()
assert converse(tracker, "fork-parent-before", timeout=10)["status"] == "delivered"
# Open in the parent while it forks: the parent's to finish, never the children's.
tracker.get_or_create_conversation("fork-parent-open")
tracker.track_human_message("fork-parent-open question")
children = []
for n in range(3):
    pid = os.fork()
    if pid == 0:  # a worker: tracks its own conversations, exits the way workers do
        ok = all(
            converse(tracker, f"fork-child-{n}-{k}", timeout=10)["status"] == "delivered"
            for k in range(5)
        )
        tracker.get_or_create_conversation(f"fork-child-{n}-open")
        tracker.track_human_message(f"fork-child-{n}-open question")
        sys.exit(0 if ok else 1)
    children.append(pid)
codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
tracker.track_agent_message("fork-parent-open answer", conversation_id="fork-parent-open")
ok = tracker.send_tracked_data("fork-parent-open", timeout=10)["status"] == "delivered"
ok = ok and converse(tracker, "fork-parent-after", timeout=10)["status"] == "delivered"
print("parent", ok, "children", codes, flush=True)
sys.exit(0 if ok and codes == [0, 0, 0] else 1)
"""


OPEN = {"fork-parent-open": ["fork-parent-open answer", "fork-parent-open question"]}


def test_forked_workers_keep_exporting(server: LocalServer, view: ServerView) -> None:
    process = run_script(
        FORKING, AGENTSIGHT_API_KEY=TEST_API_KEY, AGENTSIGHT_API_ENDPOINT=server.url
    )
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    assert "parent True children [0, 0, 0]" in out
    children = [f"fork-child-{n}-{k}" for n in range(3) for k in range(5)]
    # Each child's open interaction ended at its exit; its question is read like any other.
    ended = {f"fork-child-{n}-open": [f"fork-child-{n}-open question"] for n in range(3)}
    assert_exactly(
        view, ["fork-parent-before", "fork-parent-after", *children], partial={**OPEN, **ended}
    )
    for n in range(3):  # each child's open interaction went out at its exit
        assert_ended_at_exit(view, f"fork-child-{n}-open", f"fork-child-{n}-open question")
    report("fork: 3 workers", conversations=len(children) + 2)
