"""Token usage as written by OTel GenAI, OpenInference and OpenLLMetry instrumentation."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from agentsight_otel import _semconv as sc
from agentsight_otel._mapping.records import Attributes

# (input, output, cache read, cache write, reasoning) key candidates, first present wins.
_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
_OUTPUT = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
_CACHE_READ = (
    sc.CACHE_READ_TOKENS,
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
    "ai.usage.inputTokenDetails.cacheReadTokens",  # the Vercel AI SDK's (v6+)
    "ai.usage.cachedInputTokens",  # v5's
)
_CACHE_WRITE = (
    sc.CACHE_WRITE_TOKENS,
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
    "ai.usage.inputTokenDetails.cacheWriteTokens",
)
_REASONING = (
    sc.REASONING_TOKENS,
    "gen_ai.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
    "ai.usage.reasoningTokens",
)
# The vendor SDK files usage under the model that answered (what is billed and priced), and
# keeps the one asked for under REQUESTED_MODEL when the two differ: so do we.
_MODEL = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
_REQUESTED = "gen_ai.request.model"
_SYSTEM = ("gen_ai.system", "gen_ai.provider.name", "llm.provider", "llm.system")
_PROVIDER = _SYSTEM[1]
_MODEL_LAST = _MODEL[2:]
_COUNTS = frozenset(_INPUT + _OUTPUT)
# Most model calls carry none of the optional counts: one C-level test skips their lookups.
_OPTIONAL = frozenset(_CACHE_READ + _CACHE_WRITE + _REASONING)
# Instrumentations whose input count includes cached tokens; the contract wants them apart.
_INPUT_INCLUDES_CACHE = frozenset({"gen_ai.usage.input_tokens", "llm.token_count.prompt"})


@dataclass(slots=True)  # not frozen: its __init__ is on every model call's path, and ~3x faster
class Usage:
    """One model call's token counts, with uncached input as the contract defines it."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    model: str | None
    system: str | None
    operation: str
    requested_model: str | None = None
    # Whether the instrumentation's input count included the cached tokens (now taken out).
    cache_in_input: bool = False


def usage_from_attributes(attributes: Attributes, *, own: bool = False) -> Usage | None:
    """The usage a span or event records, or None when it records none.

    ``own`` marks the tracker's records: exact keys, input already uncached.
    """
    if own:
        return _own_usage(attributes)
    if _COUNTS.isdisjoint(attributes):  # most spans: one pass in C instead of six lookups
        return None
    # The first key of each is what most instrumentations write: read it before the loop.
    input_tokens = attributes.get(_INPUT[0])
    if type(input_tokens) is int and input_tokens >= 0:
        input_key: str | None = _INPUT[0]
    else:
        input_key, input_tokens = _first_int(attributes, _INPUT)
    output_tokens = attributes.get(_OUTPUT[0])
    if type(output_tokens) is not int or output_tokens < 0:
        output_tokens = _first_int(attributes, _OUTPUT)[1]
    if input_key is None and output_tokens == 0:
        return None
    cache_in_input = input_key in _INPUT_INCLUDES_CACHE
    cache_read = cache_write = reasoning = 0
    if not _OPTIONAL.isdisjoint(attributes):
        cache_read, cache_write, reasoning = _optional_counts(attributes)
        if cache_in_input:
            input_tokens = max(0, input_tokens - cache_read - cache_write)
    operation = attributes.get("gen_ai.operation.name")
    requested = attributes.get(_REQUESTED)
    model = attributes.get(_MODEL[0])
    if not isinstance(model, str) or not model:  # then the requested one, read once
        if isinstance(requested, str) and requested:
            model = requested
        else:
            model = _first_str(attributes, _MODEL_LAST)
    if not isinstance(requested, str) or not requested or requested == model:
        requested = None
    # Positional: this runs once per model call, and keywords cost measurably more.
    return Usage(
        input_tokens,
        output_tokens,
        cache_read,
        cache_write,
        reasoning,
        model,
        _system(attributes),
        operation if isinstance(operation, str) and operation else "chat",
        requested,
        cache_in_input,
    )


def _system(attributes: Attributes) -> str | None:
    """The provider: the first non-empty string among ``_SYSTEM`` (the current key read first)."""
    system = attributes.get(_PROVIDER)
    if isinstance(system, str) and system and _SYSTEM[0] not in attributes:
        return system
    return _first_str(attributes, _SYSTEM)


def _optional_counts(attributes: Attributes) -> tuple[int, int, int]:
    """Cache read, cache write and reasoning tokens (0 when absent)."""
    return (
        _first_int(attributes, _CACHE_READ)[1],
        _first_int(attributes, _CACHE_WRITE)[1],
        _first_int(attributes, _REASONING)[1],
    )


def merged_usage(inner: Usage, outer: Usage) -> Usage:
    """One call's usage seen by nested instrumentations: the inner's, gaps filled by the outer's.

    An outer span (a framework's) often carries the cache and reasoning counts the inner one
    (the model client's) lacks; cached tokens the inner input count included are taken out.
    """
    read = inner.cache_read_tokens or outer.cache_read_tokens
    write = inner.cache_write_tokens or outer.cache_write_tokens
    input_tokens = inner.input_tokens
    if inner.cache_in_input:
        taken = inner.cache_read_tokens + inner.cache_write_tokens
        input_tokens = max(0, input_tokens + taken - read - write)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=inner.output_tokens,
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=inner.reasoning_tokens or outer.reasoning_tokens,
        model=inner.model or outer.model,
        system=inner.system or outer.system,
        operation=inner.operation,
        requested_model=inner.requested_model or outer.requested_model,
        cache_in_input=inner.cache_in_input,
    )


def _own_usage(attributes: Attributes) -> Usage:
    """Usage from the tracker's own event, whose keys and types are known."""
    model = attributes.get("gen_ai.request.model")
    system = attributes.get("gen_ai.system")
    return Usage(
        input_tokens=_count(attributes.get("gen_ai.usage.input_tokens")),
        output_tokens=_count(attributes.get("gen_ai.usage.output_tokens")),
        cache_read_tokens=_count(attributes.get(sc.CACHE_READ_TOKENS)),
        cache_write_tokens=_count(attributes.get(sc.CACHE_WRITE_TOKENS)),
        reasoning_tokens=_count(attributes.get(sc.REASONING_TOKENS)),
        model=model if isinstance(model, str) else None,
        system=system if isinstance(system, str) else None,
        operation="chat",
    )


def usage_attributes(usage: Usage, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    """The contract's ``llm`` attributes for a usage (added to ``attributes`` when given).

    Optional counts only when non-zero.
    """
    if attributes is None:
        attributes = {}
    if usage.system:
        attributes["gen_ai.system"] = usage.system
    if usage.model:
        attributes["gen_ai.request.model"] = usage.model
    if usage.requested_model:
        attributes[sc.REQUESTED_MODEL] = usage.requested_model
    attributes["gen_ai.operation.name"] = usage.operation
    attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
    attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
    if usage.cache_read_tokens:
        attributes[sc.CACHE_READ_TOKENS] = usage.cache_read_tokens
    if usage.cache_write_tokens:
        attributes[sc.CACHE_WRITE_TOKENS] = usage.cache_write_tokens
    if usage.reasoning_tokens:
        attributes[sc.REASONING_TOKENS] = usage.reasoning_tokens
    return attributes


_SAME_CALL = (
    sc.TURN_ID,
    "gen_ai.request.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    sc.CACHE_READ_TOKENS,
    sc.CACHE_WRITE_TOKENS,
)


def drop_repeated_usage(tracked: list[dict[str, Any]], instrumented: list[dict[str, Any]]) -> int:
    """Remove from ``tracked`` the ``track_token_usage`` records an instrumented span also made.

    Same turn, model and counts as an instrumentation's ``llm`` record is the same call told
    twice: it counts once. Returns how many were removed.
    """
    if not any(span["kind"] == sc.KIND_LLM for span in tracked):
        return 0
    seen = Counter(_call_key(s) for s in instrumented if s["kind"] == sc.KIND_LLM)
    if not seen:
        return 0
    kept = []
    for span in tracked:
        key = _call_key(span) if span["kind"] == sc.KIND_LLM else None
        if key is not None and seen[key] > 0:
            seen[key] -= 1
            continue
        kept.append(span)
    removed = len(tracked) - len(kept)
    tracked[:] = kept
    return removed


def _call_key(span: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies one model call's usage within a conversation."""
    attributes = span["attributes"]
    return tuple(attributes.get(key) for key in _SAME_CALL)


def _first_int(attributes: Attributes, keys: tuple[str, ...]) -> tuple[str | None, int]:
    """The first non-negative integer among ``keys``, with the key it came from."""
    for key in keys:
        value = attributes.get(key)
        if value is None:
            continue
        if type(value) is int:  # the usual case, checked first: this runs for every span
            if value >= 0:
                return key, value
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
            return key, int(value)
    return None, 0


def _count(value: object) -> int:
    """A token count, or 0 for anything that is not a non-negative integer."""
    return value if type(value) is int and value >= 0 else 0


def _first_str(attributes: Attributes, keys: tuple[str, ...]) -> str | None:
    """The first non-empty string among ``keys``."""
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return None
