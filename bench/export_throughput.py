"""Export mapping + serialization throughput, in spans per second, on the same ReadableSpans.

- ours: ``records_from_spans`` → ``TraceAssembler.add`` → ``PayloadBuilder.build`` → ``pack``
  → body bytes, exactly the stages ``AgentSightSpanExporter.export`` and
  ``DeliveryWorker._deliver`` run (a fresh assembler per batch, so nothing counts as late);
- vendor: ``agentsight.sdk.exporter.build_payload(spans)`` then ``json.dumps(...).encode()``,
  as its ``AgentSightSpanExporter._post`` does;
- OTLP: ``encode_spans(spans).SerializeToString()``, the OTLP/protobuf exporters' encoder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from agentsight_otel._config import Settings
from agentsight_otel._export.assembler import TraceAssembler
from agentsight_otel._export.posting import SDK
from agentsight_otel._mapping.packing import pack
from agentsight_otel._mapping.payload import DEFAULT_ENVIRONMENTS, PayloadBuilder
from agentsight_otel._mapping.records import records_from_spans
from bench.timing import Measurement, interleave, timed

OURS = "ours: records → assemble → build → pack"
VENDOR = "vendor: build_payload + json.dumps"
OTLP = "OTLP: encode_spans + SerializeToString"
MAX_BODY_BYTES = Settings().max_body_bytes
Pipeline = Callable[[Sequence[ReadableSpan]], list[bytes]]


def ours(spans: Sequence[ReadableSpan]) -> list[bytes]:
    """This project's exporter path from finished spans to ingest bodies."""
    groups = TraceAssembler().add(records_from_spans(spans), 0.0)
    blocks = PayloadBuilder(DEFAULT_ENVIRONMENTS).build(groups)
    return [body.data for body in pack(blocks, SDK, MAX_BODY_BYTES)]


def vendor(spans: Sequence[ReadableSpan]) -> list[bytes]:
    """The vendor SDK's exporter path (its ``_post`` serialises exactly like this)."""
    from agentsight.sdk.exporter import build_payload

    return [json.dumps(build_payload(spans), allow_nan=False).encode("utf-8")]


def otlp(spans: Sequence[ReadableSpan]) -> list[bytes]:
    """The OTLP protobuf request body."""
    return [encode_spans(spans).SerializeToString()]


PIPELINES: dict[str, Pipeline] = {OURS: ours, VENDOR: vendor, OTLP: otlp}


@dataclass
class ThroughputResult:
    """ns per span of each pipeline, and of each of our stages."""

    measurements: dict[str, Measurement]
    stages: dict[str, Measurement]
    spans: int
    samples: int

    def spans_per_second(self, name: str, *, best: bool = True) -> float:
        """Throughput from the best (or median) sample."""
        measurement = self.measurements[name]
        return 1e9 / (measurement.best if best else measurement.median)

    def ratio(self, name: str, reference: str, *, best: bool = True) -> float:
        """Throughput of ``name`` over that of ``reference``."""
        return self.spans_per_second(name, best=best) / self.spans_per_second(reference, best=best)


def _sample(pipeline: Pipeline, spans: Sequence[ReadableSpan]) -> Callable[[], tuple[int, int]]:
    """One sample: map the whole batch once."""

    def run() -> int:
        pipeline(spans)
        return len(spans)

    return lambda: timed(run)


def _stage_samples(spans: Sequence[ReadableSpan]) -> dict[str, Callable[[], tuple[int, int]]]:
    """Our stages timed one by one, each on the previous stage's (precomputed) output."""
    records = records_from_spans(spans)
    groups = TraceAssembler().add(records, 0.0)
    blocks = PayloadBuilder(DEFAULT_ENVIRONMENTS).build(groups)
    count = len(spans)

    def stage(work: Callable[[], object]) -> Callable[[], tuple[int, int]]:
        def run() -> int:
            work()
            return count

        return lambda: timed(run)

    return {
        "records_from_spans": stage(lambda: records_from_spans(spans)),
        "TraceAssembler.add": stage(lambda: TraceAssembler().add(records, 0.0)),
        "PayloadBuilder.build": stage(lambda: PayloadBuilder(DEFAULT_ENVIRONMENTS).build(groups)),
        "pack (bodies)": stage(lambda: pack(blocks, SDK, MAX_BODY_BYTES)),
    }


def run(spans: Sequence[ReadableSpan], *, samples: int = 25) -> ThroughputResult:
    """All three pipelines interleaved, then our stages interleaved."""
    measurements = interleave({name: _sample(p, spans) for name, p in PIPELINES.items()}, samples)
    stages = interleave(_stage_samples(spans), samples)
    return ThroughputResult(measurements, stages, len(spans), samples)


def profile_ours(spans: Sequence[ReadableSpan], repeat: int = 20) -> None:
    """Only our pipeline, for cProfile."""
    for _ in range(repeat):
        ours(spans)
