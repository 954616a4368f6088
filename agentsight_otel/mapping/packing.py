"""Packing encoded blocks into ingest bodies under a size limit, splitting by conversation."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from agentsight_otel.mapping.payload import EncodedBlock, encode_body


@dataclass(frozen=True, slots=True)
class Body:
    """One request body: its bytes, and per conversation entry its block index and text."""

    data: bytes
    parts: tuple[int, ...]
    texts: tuple[str, ...]

    @classmethod
    def of(cls, sdk: str, parts: Sequence[int], texts: Sequence[str]) -> Body:
        """A body carrying the given conversation entries."""
        return cls(encode_body(sdk, texts), tuple(parts), tuple(texts))

    def halves(self, sdk: str) -> list[Body]:
        """The entries split in two bodies (after a 413)."""
        middle = len(self.parts) // 2
        return [
            Body.of(sdk, self.parts[:middle], self.texts[:middle]),
            Body.of(sdk, self.parts[middle:], self.texts[middle:]),
        ]

    def without(self, positions: Collection[int], sdk: str) -> Body | None:
        """The body minus the entries at ``positions`` (after a 400 naming them)."""
        kept = [i for i in range(len(self.parts)) if i not in positions]
        if not kept:
            return None
        return Body.of(sdk, [self.parts[i] for i in kept], [self.texts[i] for i in kept])


def pack(blocks: Sequence[EncodedBlock], sdk: str, max_bytes: int) -> list[Body]:
    """Bodies of at most ``max_bytes`` (a lone oversized span still gets its own body)."""
    overhead = len(encode_body(sdk, []))
    bodies: list[Body] = []
    parts: list[int] = []
    texts: list[str] = []
    size = overhead
    for index, block in enumerate(blocks):
        for text in _parts(block, max_bytes - overhead):
            if texts and size + len(text) + 1 > max_bytes:
                bodies.append(Body.of(sdk, parts, texts))
                parts, texts, size = [], [], overhead
            parts.append(index)
            texts.append(text)
            size += len(text) + 1
    if texts:
        bodies.append(Body.of(sdk, parts, texts))
    return bodies


def _parts(block: EncodedBlock, budget: int) -> list[str]:
    """The block as one text, or as several texts of the same conversation that each fit."""
    whole = block.encode()
    if len(whole) <= budget or len(block.spans) <= 1:
        return [whole]
    parts: list[str] = []
    chunk: list[str] = []
    size = len(block.head) + 2
    for span in block.spans:
        if chunk and size + len(span) + 1 > budget:
            parts.append(block.encode(chunk))
            chunk, size = [], len(block.head) + 2
        chunk.append(span)
        size += len(span) + 1
    parts.append(block.encode(chunk))
    return parts
