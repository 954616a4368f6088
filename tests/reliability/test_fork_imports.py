"""Forked children of a busy parent deliver every conversation exactly once.

A fork copies the import locks other threads hold: a child whose parent's delivery thread was
importing a module waits on that lock forever. So the delivery thread never imports lazily
(checked with an import spy in a real process, on the happy and the failing paths), and
children made by ``os.fork`` and by multiprocessing's fork start method, while the parent's
delivery thread is busy, deliver theirs.
"""

from __future__ import annotations

import pytest

from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY
from tests.reliability.helpers import ServerView, assert_exactly, report, run_script
from tests.support.faults import FaultProxy, Respond

SPY = """
import builtins, sys, tempfile, threading
from agentsight_otel import ConversationTracker

lazy = []
real_import = builtins.__import__

def spy(name, globals=None, locals=None, fromlist=(), level=0):
    before = len(sys.modules)
    module = real_import(name, globals, locals, fromlist, level)
    if len(sys.modules) != before and threading.current_thread() is not threading.main_thread():
        lazy.append((threading.current_thread().name, name))
    return module

builtins.__import__ = spy
for n, endpoint in enumerate(sys.argv[1:]):
    tracker = ConversationTracker(endpoint=endpoint, spool_dir=tempfile.mkdtemp())
    for k in range(1 if n else 4):  # 503, 400, 413, 200 from the proxy; a non-ASCII host fails
        tracker.track_human_message("x" * 3000, conversation_id=f"spy-{n}-{k}")
        tracker.send_tracked_data(f"spy-{n}-{k}", timeout=5)
    tracker.shutdown(5)
print("lazy imports:", lazy, flush=True)
"""


def test_the_delivery_thread_imports_nothing_lazily(proxy: FaultProxy) -> None:
    rejected = b'{"detail": "bad", "conversations": [{"index": 0, "errors": {"a": ["b"]}}]}'
    proxy.script("/api/ingest/", Respond(503), Respond(400, body=rejected), Respond(413))
    port = proxy.url.rsplit(":", 1)[1]
    process = run_script(
        SPY, argv=[proxy.url, f"http://bücher.invalid:{port}"], AGENTSIGHT_API_KEY=TEST_API_KEY
    )
    out, err = process.communicate(timeout=90)
    assert process.returncode == 0, out + err
    assert "lazy imports: []" in out, out


FORKING = """
import multiprocessing, os, sys, threading
from agentsight_otel import ConversationTracker
from tests.reliability.helpers import converse

tracker = ConversationTracker()
stop = threading.Event()
made = []

def busy():  # the parent keeps its delivery thread busy while it forks
    while not stop.wait(0.002):
        made.append(f"busy-{len(made)}")
        converse(tracker, made[-1])

def child(name):
    # What arrives, and only once, the test reads on the server; a stuck child never exits.
    results = [converse(tracker, f"{name}-{k}", timeout=20) for k in range(5)]
    ok = all(result["status"] in ("delivered", "pending") for result in results)
    tracker.shutdown(20)
    os._exit(0 if ok else 1)

thread = threading.Thread(target=busy)
thread.start()
codes = []
context = multiprocessing.get_context("fork")
for trial in range(int(sys.argv[1])):
    while len(made) < 3 * (trial + 1):
        threading.Event().wait(0.01)
    pid = os.fork()
    if pid == 0:
        child(f"os-fork-{trial}")
    process = context.Process(target=child, args=(f"mp-fork-{trial}",))
    process.start()
    process.join(60)
    codes.append(process.exitcode)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
stop.set()
thread.join(30)
ok = tracker.shutdown(20)
print("busy", len(made), "codes", codes, flush=True)
sys.exit(0 if set(codes) == {0} else 1)
"""
TRIALS = 5


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_children_of_a_busy_parent_deliver_every_conversation_once(
    server: LocalServer, view: ServerView
) -> None:
    process = run_script(
        FORKING,
        argv=[str(TRIALS)],
        AGENTSIGHT_API_KEY=TEST_API_KEY,
        AGENTSIGHT_API_ENDPOINT=server.url,
    )
    out, err = process.communicate(timeout=200)
    assert process.returncode == 0, out + err
    busy = int(out.split("busy ", 1)[1].split()[0])
    children = [
        f"{kind}-{trial}-{k}"
        for kind in ("os-fork", "mp-fork")
        for trial in range(TRIALS)
        for k in range(5)
    ]
    assert_exactly(view, [f"busy-{n}" for n in range(busy)] + children)
    report("forks of a busy parent", trials=TRIALS, children=2 * TRIALS, busy=busy)


HELD = """
import os, sys, threading, time
from agentsight_otel import ConversationTracker
from agentsight_otel._delivery.ledger import DEFAULT_LEDGER
from tests.reliability.helpers import converse

tracker = ConversationTracker()
converse(tracker, "held-parent", timeout=20)  # every part built, every thread started
exporter = tracker._wiring.recorder.pipeline.exporter
# Locks a thread of the parent holds at the moment of the fork: in the child that thread does
# not exist, and nothing will ever release them.
locks = [
    DEFAULT_LEDGER._lock,
    tracker._registry._lock,
    tracker._registry.retired._lock,
    exporter._lock,
    exporter._worker._cond,
]
holding, release = threading.Event(), threading.Event()

def hold():
    for lock in locks:
        lock.acquire()
    holding.set()
    release.wait()
    for lock in reversed(locks):
        lock.release()

threading.Thread(target=hold).start()
holding.wait()
pid = os.fork()
if pid == 0:
    results = [converse(tracker, f"held-child-{k}", timeout=20) for k in range(3)]
    tracker.shutdown(20)
    os._exit(0 if all(r["status"] == "delivered" for r in results) else 1)
end, done = time.monotonic() + 30, (0, 0)
while time.monotonic() < end and done == (0, 0):
    time.sleep(0.05)
    done = os.waitpid(pid, os.WNOHANG)
release.set()
if done == (0, 0):  # stuck: ended here, so that the test fails instead of hanging
    os.kill(pid, 9)
    os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(done[1]) if done != (0, 0) else "stuck", flush=True)
"""


@pytest.mark.timeout(120)
def test_a_child_forked_while_a_parent_thread_holds_the_librarys_locks_delivers(
    server: LocalServer, view: ServerView
) -> None:
    # Issue 18: a fork test once hung; locks another thread of the parent held when it forked
    # (the delivery ledger's, say) stayed held in the child, whose first tracking call waited
    # on them forever. One fork hook now gives the child fresh ones.
    process = run_script(HELD, AGENTSIGHT_API_KEY=TEST_API_KEY, AGENTSIGHT_API_ENDPOINT=server.url)
    out, err = process.communicate(timeout=100)
    assert process.returncode == 0, out + err
    assert "child 0" in out, out + err
    assert_exactly(view, ["held-parent", "held-child-0", "held-child-1", "held-child-2"])
