"""docs/span-contract.md: its trace-id test vectors are what the library derives."""

from __future__ import annotations

import hashlib
import re

from agentsight_otel._ids import conversation_trace_id, hex_trace_id
from tests.collector.stack import ROOT

DOC = ROOT / "docs" / "span-contract.md"
VECTOR = re.compile(r"^\| (`(?P<id>[^`]*)`|\*\(empty string\)\*) \| `(?P<trace>[0-9a-f]{32})` \|$")


def vectors() -> list[tuple[str, str]]:
    """(conversation id, trace id hex) rows of the doc's test-vector table."""
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = VECTOR.match(line)
        if match:
            rows.append((match.group("id") or "", match.group("trace")))
    return rows


def test_the_documented_vectors_match_the_library() -> None:
    rows = vectors()
    assert len(rows) >= 5 and "" in dict(rows)  # the empty id is among them
    for conversation_id, trace in rows:
        assert hex_trace_id(conversation_trace_id(conversation_id)) == trace, conversation_id


def test_the_documented_formula_is_sha256_of_the_prefixed_id() -> None:
    for conversation_id, trace in vectors():
        data = b"agentsight.conversation/" + conversation_id.encode("utf-8")
        assert hashlib.sha256(data).hexdigest()[:32] == trace


def test_every_name_the_doc_gives_is_one_the_mapping_knows() -> None:
    from agentsight_otel import _semconv as sc

    known = {value for value in vars(sc).values() if isinstance(value, str)}
    known |= set(sc.CONVERSATION_FIELDS.values())
    text = DOC.read_text(encoding="utf-8")
    for name in re.findall(r"`(agentsight\.[a-z_.]+)`", text):
        assert name in known, name
