"""Encoding blocks into ingest bodies under a size limit, splitting by conversation."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from agentsight_otel._mapping.payload import Block, dumps

Entry = dict[str, Any]


@dataclass(frozen=True, slots=True)
class IngestBody:
    """One request body: its bytes, and per conversation entry its block index and object."""

    data: bytes
    parts: tuple[int, ...]
    entries: tuple[Entry, ...]

    @classmethod
    def of(cls, sdk: Entry, parts: Sequence[int], entries: Sequence[Entry]) -> IngestBody:
        """A body carrying the given conversation entries."""
        return cls(
            dumps({"sdk": sdk, "conversations": list(entries)}), tuple(parts), tuple(entries)
        )

    def halves(self, sdk: Entry) -> list[IngestBody]:
        """The entries split in two bodies (after a 413)."""
        middle = len(self.parts) // 2
        return [
            IngestBody.of(sdk, self.parts[:middle], self.entries[:middle]),
            IngestBody.of(sdk, self.parts[middle:], self.entries[middle:]),
        ]

    def without(self, positions: Collection[int], sdk: Entry) -> IngestBody | None:
        """The body minus the entries at ``positions`` (after a 400 naming them)."""
        kept = [i for i in range(len(self.parts)) if i not in positions]
        if not kept:
            return None
        return IngestBody.of(sdk, [self.parts[i] for i in kept], [self.entries[i] for i in kept])


def pack(blocks: Sequence[Block], sdk: Entry, max_bytes: int) -> list[IngestBody]:
    """Bodies of at most ``max_bytes``; one encoding pass when everything fits (the usual case)."""
    if not blocks:
        return []
    whole = IngestBody.of(sdk, range(len(blocks)), [block.as_wire() for block in blocks])
    if len(whole.data) <= max_bytes:
        return [whole]
    overhead = len(dumps({"sdk": sdk, "conversations": []}))
    bodies: list[IngestBody] = []
    parts: list[int] = []
    entries: list[Entry] = []
    size = overhead
    for index, block in enumerate(blocks):
        for entry, length in _entries(block, max_bytes - overhead):
            if entries and size + length + 1 > max_bytes:
                bodies.append(IngestBody.of(sdk, parts, entries))
                parts, entries, size = [], [], overhead
            parts.append(index)
            entries.append(entry)
            size += length + 1
    if entries:
        bodies.append(IngestBody.of(sdk, parts, entries))
    return bodies


def _entries(block: Block, budget: int) -> list[tuple[Entry, int]]:
    """The block whole, or cut into entries of the same conversation that each fit."""
    whole = block.as_wire()
    size = len(dumps(whole))
    if size <= budget or len(block.spans) <= 1:
        return [(whole, size)]
    head = len(dumps(block.as_wire([])))
    entries: list[tuple[Entry, int]] = []
    chunk: list[dict[str, Any]] = []
    used = head
    for span in block.spans:
        length = len(dumps(span)) + 1
        if chunk and used + length > budget:
            entries.append((block.as_wire(chunk), used))
            chunk, used = [], head
        chunk.append(span)
        used += length
    entries.append((block.as_wire(chunk), used))
    return entries
