"""Deterministic identifiers.

A conversation's trace id is the first 16 bytes of
``SHA-256("agentsight.conversation/" + conversation_id as UTF-8)`` (all zero: 1), so every
process that touches a conversation, in any language, puts its spans in one trace without
coordinating; SHA-256 is in every standard library (docs/span-contract.md has test vectors).
Records the exporter derives from span events (buttons, attachments, usage) get span ids from
a SplitMix64 mix of (trace id, parent span id, event index), so re-exporting a span never
creates new ids.
"""

import hashlib
from functools import lru_cache

_CONVERSATION_PREFIX = b"agentsight.conversation/"
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


@lru_cache(maxsize=4096)
def conversation_trace_id(conversation_id: str) -> int:
    """The 128-bit trace id of a conversation."""
    digest = hashlib.sha256(_CONVERSATION_PREFIX + conversation_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:16], "big") or 1


def derived_span_id(trace_id: int, parent_span_id: int, index: int) -> int:
    """A 64-bit span id for the ``index``-th record derived from one span (SplitMix64 mix)."""
    mixed = (parent_span_id ^ (trace_id & _MASK) ^ ((index + 1) * _GOLDEN)) & _MASK
    mixed = ((mixed ^ (mixed >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    mixed = ((mixed ^ (mixed >> 27)) * 0x94D049BB133111EB) & _MASK
    return (mixed ^ (mixed >> 31)) or 1


def hex_span_id(span_id: int) -> str:
    """A span id as 16 lowercase hex digits."""
    try:
        return span_id.to_bytes(8, "big").hex()  # a third faster than "%016x"
    except OverflowError:  # not a 64-bit id (a foreign SDK's bug): shown as it is
        return "%016x" % span_id


def hex_trace_id(trace_id: int) -> str:
    """A trace id as 32 lowercase hex digits."""
    try:
        return trace_id.to_bytes(16, "big").hex()
    except OverflowError:
        return "%032x" % trace_id
