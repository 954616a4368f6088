"""The end of a resent chat history, parsed without the history before it.

GenAI instrumentation resends a conversation's whole history with every model call, and a
turn's new end-user messages are at its end, after the last message of anyone else: parsed from
that message on, a turn costs the same however long its conversation has grown.

Why what is parsed is the array's own last elements: if the text is a JSON array and ``[`` plus
its end from some ``{`` parses, that ``{`` starts one of the array's elements. Had it been
inside a string, every quote after it would swap string and structure, leaving the array's
closing bracket inside a string (and a backslash, which only strings hold, fails sooner); had
it been inside a nested value, the end would close more brackets than the one ``[`` opens.
A text that is not JSON as a whole but whose end is (one corrupted at its start) so gives the
messages at its end, where parsing it whole gave none.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import orjson

# Where to try: a role key and its string value (a guess; the parse is what decides).
_ROLE = re.compile(r'"role"\s*:\s*"([^"\\]*)"')
# The end user's role and the assistant's as json.dumps and compact writers put them.
_USER = ('"role": "user"', '"role":"user"')
_ASSISTANT = ('"role": "assistant"', '"role":"assistant"')
# Messages of the run looked past before the whole text is parsed instead.
_TRIES = 8


def history_end(text: str, run_roles: Collection[str]) -> list[Any] | None:
    """The array's elements from its last message of a role not in ``run_roles``, or None.

    ``run_roles`` holds the user's role and never the assistant's. None when no such message
    is found among the last few, or its end does not parse alone: the caller parses the whole
    text instead.
    """
    end = len(text)
    for _ in range(_TRIES):
        key = text.rfind('"role"', 0, end)
        if key < 0:
            return None
        end = key
        if text.startswith(_USER, key):  # the usual message of the run, told without the regex
            continue
        if not text.startswith(_ASSISTANT, key):  # the usual end of the run, told without it
            match = _ROLE.match(text, key)
            if match is None or match[1] in run_roles:
                continue
        start = text.rfind("{", 0, key)
        if start < 0:
            return None
        try:
            found = orjson.loads("[" + text[start:])
        except orjson.JSONDecodeError:
            return None
        return found if type(found) is list else None
    return None
