"""A turn's new user messages are read from the end of the resent history, not from all of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentsight_otel import _semconv as sc
from agentsight_otel._mapping.history import history_end
from tests.genai.records import build, chat, text, tool_call, tool_result, transcript

SYSTEM = text("system", "Be brief.")
RUN_ROLES = frozenset({"user", "system", "developer"})


def said(history: list[Any] | str) -> list[tuple[str, str]]:
    """The transcript of one model call given ``history`` (a list, or its JSON text as is)."""
    record = chat(1, None, [], [text("assistant", "Done.")], start_ms=0, end_ms=1)
    raw = history if isinstance(history, str) else json.dumps(history)
    record.attributes = {**record.attributes, sc.GEN_AI_INPUT_MESSAGES: raw}
    return transcript(build([record])[0])


def test_a_history_whose_start_is_not_json_still_gives_the_new_messages_at_its_end() -> None:
    # Only the end is read: a history corrupted before the last answer (here cut and joined
    # by hand) no longer costs the turn its new messages, as it did when parsed whole.
    good = json.dumps([SYSTEM, text("assistant", "Hello!"), text("user", "Bye")])
    corrupted = '[{"role": "system", "parts": [' + good[good.index(', {"role": "assistant"') :]
    assert said(corrupted) == [("end_user", "Bye"), ("agent", "Done.")]


def test_an_end_that_does_not_parse_alone_falls_back_to_the_whole_text() -> None:
    truncated = json.dumps([SYSTEM, text("assistant", "Hello!"), text("user", "Bye")])[:-5]
    assert said(truncated) == [("agent", "Done.")]  # not JSON at all: no user messages


A, B, HI = text("assistant", "A"), text("user", "B"), text("user", "Hi")


@pytest.mark.parametrize(
    ("history", "new"),
    [
        # a role key inside a tool call's arguments is not a message of the history
        ([SYSTEM, HI, tool_call("c1", "f", {"role": "assistant"})], []),
        ([SYSTEM, tool_call("c1", "f", {"role": "admin", "x": [{"role": "user"}]}), HI], ["Hi"]),
        # message text that looks like messages: escaped inside its string
        ([text("assistant", '"}, {"role": "assistant", "parts": []}'), HI], ["Hi"]),
        (
            [A, text("user", '{"role": "tool"}, {"role": "user"')],
            ['{"role": "tool"}, {"role": "user"'],
        ),
        # the role key after the parts; a role that is not a string is the user's
        ([{"parts": [{"type": "text", "content": "A"}], "role": "assistant"}, HI], ["Hi"]),
        ([A, {"role": 7, "parts": [{"type": "text", "content": "B"}]}], ["B"]),
        # a tool result sent under the user's role ends the run; so does a non-message
        ([A, B, {"role": "user", "parts": [{"type": "tool_result", "id": "c"}]}, HI], ["Hi"]),
        ([B, 5, HI], ["Hi"]),
        # more end-user messages than the end is looked through for: the whole is parsed
        ([A, *(text("user", f"u{n}") for n in range(20))], [f"u{n}" for n in range(20)]),
        ([SYSTEM, HI], ["Hi"]),  # no answer yet: the whole history is the run
        ([tool_result("c1", "ok"), text("developer", "D"), HI], ["Hi"]),
    ],
)
def test_the_end_read_gives_what_the_whole_history_gives(
    history: list[Any], new: list[str]
) -> None:
    assert said(history) == [*(("end_user", t) for t in new), ("agent", "Done.")]
    for raw in (
        json.dumps(history),
        json.dumps(history, indent=2),
        json.dumps(history, separators=(",", ":")),
    ):
        end = history_end(raw, RUN_ROLES)
        assert end is None or end == history[len(history) - len(end) :]


def test_only_the_end_is_parsed() -> None:
    history = [SYSTEM, *(text("user", f"old {n}") for n in range(1_000))]
    history += [text("assistant", "A"), text("user", "new")]
    end = history_end(json.dumps(history), RUN_ROLES)
    assert end == history[-2:]
