"""Bytes per span on the wire, plain and gzipped, for the same spans through each pipeline."""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.sdk.trace import ReadableSpan

from agentsight_otel._delivery.client import GZIP_LEVEL as OUR_GZIP_LEVEL
from bench.export_throughput import OURS, PIPELINES

GZIP_LEVEL = 6  # what the vendor's exporter uses (and zlib's default); ours uses its own


@dataclass(frozen=True)
class WireSize:
    """Bytes per input span of one pipeline's bodies."""

    name: str
    bodies: int
    plain_bytes: int
    gzip_bytes: int
    spans: int

    @property
    def plain_per_span(self) -> float:
        """Uncompressed bytes per span."""
        return self.plain_bytes / self.spans

    @property
    def gzip_per_span(self) -> float:
        """Gzipped bytes per span (each body compressed on its own, as it is sent)."""
        return self.gzip_bytes / self.spans


def measure(spans: Sequence[ReadableSpan]) -> dict[str, WireSize]:
    """Every pipeline's bodies for ``spans``, measured."""
    sizes = {}
    for name, pipeline in PIPELINES.items():
        bodies = pipeline(spans)
        level = OUR_GZIP_LEVEL if name == OURS else GZIP_LEVEL
        sizes[name] = WireSize(
            name=name,
            bodies=len(bodies),
            plain_bytes=sum(len(body) for body in bodies),
            gzip_bytes=sum(len(gzip.compress(body, compresslevel=level)) for body in bodies),
            spans=len(spans),
        )
    return sizes


def wire_span_counts(spans: Sequence[ReadableSpan]) -> dict[str, tuple[int, int]]:
    """(conversations, spans) in the JSON bodies of ours and the vendor: a sanity check."""
    counts = {}
    for name, pipeline in PIPELINES.items():
        if name.startswith("OTLP"):
            continue
        conversations = total = 0
        for body in pipeline(spans):
            blocks = json.loads(body)["conversations"]
            conversations += len(blocks)
            total += sum(len(block["spans"]) for block in blocks)
        counts[name] = (conversations, total)
    return counts
