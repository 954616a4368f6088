"""Which conversation a span belongs to, and whether it is GenAI-shaped at all."""

from __future__ import annotations

from agentsight_otel import _semconv as sc
from agentsight_otel._mapping import vercel
from agentsight_otel._mapping.records import Attributes

# First present wins: our own key, the GenAI convention's, OpenInference's and Langfuse's
# `session.id`, then the session keys Langfuse and OpenLLMetry (Traceloop association
# properties) write when they are configured without `session.id`, then the Vercel AI SDK's
# telemetry metadata (`sessionId`, `conversationId`, `threadId`).
IDENTITY_KEYS = (
    sc.CONVERSATION_ID,
    sc.GEN_AI_CONVERSATION_ID,
    sc.SESSION_ID,
    sc.LANGFUSE_SESSION_ID,
    sc.TRACELOOP_SESSION_ID,
    *vercel.IDENTITY_KEYS,
)
# Any of these marks a span as written by GenAI instrumentation (OTel GenAI, OpenInference,
# OpenLLMetry, the Vercel AI SDK), so that it can start a turn.
GENAI_MARKERS = (
    sc.GEN_AI_OPERATION,
    sc.OPENINFERENCE_KIND,
    sc.TRACELOOP_KIND,
    "gen_ai.provider.name",
    sc.GEN_AI_SYSTEM,
    "llm.system",
    sc.INPUT_TOKENS,
    vercel.OPERATION,
)


def conversation_of(attributes: Attributes) -> str | None:
    """The conversation id a span's attributes name, or None."""
    return _first_text(attributes, IDENTITY_KEYS)


def customer_of(attributes: Attributes) -> str | None:
    """The end user a framework's own metadata names (the AI SDK's ``userId``), or None."""
    return _first_text(attributes, vercel.CUSTOMER_KEYS)


def _first_text(attributes: Attributes, keys: tuple[str, ...]) -> str | None:
    """The first non-empty string among ``keys``."""
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def ranked_conversation(attributes: Attributes) -> tuple[int, str] | None:
    """The conversation id a span names with its key's rank (0 is the strongest), or None."""
    for rank, key in enumerate(IDENTITY_KEYS):
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return rank, value
    return None


_MARKERS = frozenset(GENAI_MARKERS)


def is_genai(attributes: Attributes) -> bool:
    """Whether a span was written by GenAI instrumentation."""
    return not _MARKERS.isdisjoint(attributes)
