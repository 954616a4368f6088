"""Where actions land: in the current conversation's interaction, or the ambient trace."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentsight_otel import _semconv as sc
from agentsight_otel import traced_action

from .helpers import Rig, arguments, attrs, current_name, of_kind, parent_id, span_id


@traced_action
def leaf(label: str) -> str:
    return current_name()


@traced_action
def branch(label: str) -> str:
    with trace.get_tracer("user.code").start_as_current_span("http GET"):
        leaf(label)
    return current_name()


def test_inside_a_conversation_the_action_is_a_child_of_the_interaction(rig: Rig) -> None:
    rig.tracker.get_or_create_conversation("placed")
    rig.tracker.track_human_message("hello")
    assert leaf("a") == "leaf"  # the action span is current while the function runs
    wire = rig.send("placed")
    [turn] = of_kind(wire, "turn")
    [tool] = of_kind(wire, "tool")
    assert tool["parent_span_id"] == turn["span_id"]
    assert tool["trace_id"] == turn["trace_id"]
    assert tool["attributes"][sc.CONVERSATION_ID] == "placed"
    assert tool["attributes"][sc.TURN_ID] == turn["span_id"]


def test_the_first_action_of_an_interaction_opens_it(rig: Rig) -> None:
    rig.tracker.get_or_create_conversation("opened-by-action")
    leaf("only")
    wire = rig.send("opened-by-action")
    [turn] = of_kind(wire, "turn")
    assert [t["parent_span_id"] for t in of_kind(wire, "tool")] == [turn["span_id"]]
    summary = rig.tracker.get_tracked_data_summary("opened-by-action")
    assert summary is not None


def test_spans_started_inside_the_action_nest_under_it(rig: Rig, ambient: Any) -> None:
    rig.tracker.get_or_create_conversation("nested")
    assert branch("x") == "branch"
    outer, http, inner = rig.span("branch"), ambient.get_finished_spans(), rig.span("leaf")
    [http_span] = http
    assert parent_id(http_span) == span_id(outer)
    assert parent_id(inner) == span_id(http_span)
    wire = rig.send("nested")
    names = {s["name"]: s for s in wire["spans"]}
    assert names["leaf"]["attributes"][sc.TURN_ID] == names["turn"]["span_id"]


def test_an_action_in_another_trace_still_goes_under_the_interaction(
    rig: Rig, ambient: Any
) -> None:
    rig.tracker.get_or_create_conversation("linked")
    rig.tracker.track_human_message("hi")
    # A span of another trace is current (a request handled before the conversation was known).
    with trace.get_tracer("web").start_as_current_span("POST /chat", context=Context()):
        leaf("from a request")
    wire = rig.send("linked")
    [turn] = of_kind(wire, "turn")
    [tool] = of_kind(wire, "tool")
    assert tool["parent_span_id"] == turn["span_id"]


def test_conversation_id_names_the_conversation(rig: Rig) -> None:
    @traced_action(conversation_id="pinned")
    def pinned_tool() -> str:
        return "ok"

    rig.tracker.get_or_create_conversation("current")
    rig.tracker.track_human_message("in current")
    pinned_tool()
    current = rig.send("current")
    pinned = rig.send("pinned")
    assert of_kind(current, "tool") == []
    [tool] = of_kind(pinned, "tool")
    assert tool["parent_span_id"] == of_kind(pinned, "turn")[0]["span_id"]


def test_conversation_id_without_a_current_tracker_uses_the_package_tracker(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentsight_otel._tracker.registry import shared_registry

    @traced_action(conversation_id="by-id")
    def by_id() -> str:
        return "ok"

    # The package's tracker is the shared registry's owner (issue 18: no import of the package
    # from inside it), so the stand-in goes there rather than on the module attribute.
    monkeypatch.setattr(shared_registry(), "owner", rig.tracker)
    assert by_id() == "ok"  # no get_or_create_conversation anywhere in this context
    [tool] = of_kind(rig.send("by-id"), "tool")
    assert tool["attributes"][sc.CONVERSATION_ID] == "by-id"


def test_outside_any_conversation_it_is_a_plain_span_in_the_ambient_trace(
    rig: Rig, ambient: InMemorySpanExporter
) -> None:
    with trace.get_tracer("web").start_as_current_span("request") as request:
        assert leaf("free") == "leaf"
    spans = {s.name: s for s in ambient.get_finished_spans()}
    assert parent_id(spans["leaf"]) == request.get_span_context().span_id
    assert attrs(spans["leaf"])[sc.SPAN_KIND] == "tool"
    assert sc.CONVERSATION_ID not in attrs(spans["leaf"])
    assert rig.spans() == []
    assert rig.capture.blocks() == []


def test_outside_any_conversation_without_a_provider_nothing_is_recorded() -> None:
    assert leaf("nowhere") == "-"


def test_gather_and_to_thread_carry_the_conversation_and_the_span(rig: Rig) -> None:
    @traced_action
    async def fan_out(n: int) -> list[str]:
        found = await asyncio.gather(*(child(i) for i in range(n)))
        found.append(await asyncio.to_thread(leaf, "thread"))
        return found

    @traced_action
    async def child(i: int) -> str:
        await asyncio.sleep(0)
        return current_name()

    async def main() -> list[str]:
        rig.tracker.get_or_create_conversation("fan-out")
        return await fan_out(3)

    assert asyncio.run(main()) == ["child", "child", "child", "leaf"]
    outer = span_id(rig.span("fan_out"))
    assert [parent_id(s) for s in rig.spans("child")] == [outer] * 3
    assert parent_id(rig.span("leaf")) == outer
    wire = rig.send("fan-out")
    assert sorted(s["name"] for s in of_kind(wire, "tool")) == ["child"] * 3 + ["fan_out", "leaf"]


def test_thread_pools_carry_the_context_when_submitted_through_copy_context(
    rig: Rig, library_warnings: list[logging.LogRecord]
) -> None:
    @traced_action
    def batch(labels: list[str]) -> None:
        with ThreadPoolExecutor(max_workers=2) as pool:
            # The documented way: one context copy per submission.
            futures = [pool.submit(contextvars.copy_context().run, leaf, label) for label in labels]
            assert [f.result() for f in futures] == ["leaf"] * len(labels)
            # Without it, the worker thread is outside any conversation.
            assert pool.submit(leaf, "lost").result() == "-"

    rig.tracker.get_or_create_conversation("pooled")
    batch(["a", "b", "c"])
    outer = span_id(rig.span("batch"))
    carried = rig.spans("leaf")
    assert sorted(arguments(s)["label"] for s in carried) == ["a", "b", "c"]
    assert [parent_id(s) for s in carried] == [outer] * 3
    wire = rig.send("pooled")
    assert sorted(s["name"] for s in of_kind(wire, "tool")) == ["batch", "leaf", "leaf", "leaf"]
    # The lost call is not lost silently (the carried ones raised nothing).
    [warning] = [r.getMessage() for r in library_warnings]
    assert "@traced_action leaf() ran outside any conversation" in warning


def test_200_concurrent_async_calls_across_50_conversations_stay_apart(rig: Rig) -> None:
    in_flight = 0
    peak = 0

    @traced_action
    async def lookup(conversation: str, n: int) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1
        return f"{conversation}/{n}"

    async def conversation(i: int) -> str:
        cid = f"conv-{i:02d}"
        rig.tracker.get_or_create_conversation(cid)
        rig.tracker.track_human_message(f"question {i}")
        await asyncio.sleep(0)
        answers = await asyncio.gather(*(lookup(cid, n) for n in range(4)))
        assert answers == [f"{cid}/{n}" for n in range(4)]
        return cid

    async def main() -> list[str]:
        return await asyncio.gather(*(conversation(i) for i in range(50)))

    cids = asyncio.run(main())
    assert peak > 50  # the calls really overlapped
    for cid in cids:
        rig.tracker.send_tracked_data(cid)
    sent = rig.capture.blocks()
    assert sorted(b["conversation_id"] for b in sent) == sorted(cids)
    total = 0
    for block in sent:
        cid = block["conversation_id"]
        [turn] = of_kind(block, "turn")
        tools = of_kind(block, "tool")
        assert sorted(arguments(t)["n"] for t in tools) == [0, 1, 2, 3]
        for tool in tools:
            assert arguments(tool)["conversation"] == cid
            assert tool["attributes"][sc.CONVERSATION_ID] == cid
            assert tool["parent_span_id"] == turn["span_id"]
            assert tool["trace_id"] == turn["trace_id"]
        total += len(tools)
    assert total == 200


def test_run_in_executor_and_threads_carry_the_context_the_documented_way(rig: Rig) -> None:
    @traced_action
    async def offload() -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, contextvars.copy_context().run, leaf, "executor")

    @traced_action
    def spawn() -> None:
        worker = threading.Thread(target=contextvars.copy_context().run, args=(leaf, "thread"))
        worker.start()
        worker.join()

    async def main() -> str:
        rig.tracker.get_or_create_conversation("offloaded")
        return await offload()

    assert asyncio.run(main()) == "leaf"
    rig.tracker.get_or_create_conversation("offloaded")
    spawn()
    leaves = {arguments(s)["label"]: s for s in rig.spans("leaf")}
    assert parent_id(leaves["executor"]) == span_id(rig.span("offload"))
    assert parent_id(leaves["thread"]) == span_id(rig.span("spawn"))
    wire = rig.send("offloaded")
    assert sorted(s["name"] for s in of_kind(wire, "tool")) == ["leaf", "leaf", "offload", "spawn"]
