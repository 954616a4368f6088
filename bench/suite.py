"""Running every benchmark in one go: sizes for a full and a quick run, and the results."""

from __future__ import annotations

from dataclasses import dataclass

from bench import export_throughput, genai, hot_path, spans, wire_size

# Targets from the issue: ours <= 1.2x a raw add_event; export >= 3x the vendor's builder.
HOT_PATH_TARGET = 1.2
EXPORT_TARGET = 3.0


@dataclass(frozen=True)
class Config:
    """How much work each benchmark does."""

    name: str
    hot_calls: int = 100  # per sample; below the SDK's 128 events per span
    hot_samples: int = 150
    conversations: int = 20  # 20 x 5 turns: about one BatchSpanProcessor batch (480 spans)
    turns: int = 5
    export_samples: int = 40

    @classmethod
    def full(cls) -> Config:
        """The run whose figures are reported."""
        return cls("full")

    @classmethod
    def quick(cls) -> Config:
        """A fast smoke run: same code paths, few samples, noisy figures."""
        return cls(
            "quick", hot_calls=50, hot_samples=10, conversations=8, turns=3, export_samples=4
        )

    @classmethod
    def tiny(cls) -> Config:
        """Just enough to exercise everything (tests)."""
        return cls("tiny", hot_calls=3, hot_samples=2, conversations=2, turns=2, export_samples=2)


@dataclass
class Results:
    """Everything one run measured."""

    config: Config
    hot: hot_path.HotPathResult
    export: export_throughput.ThroughputResult
    sizes: dict[str, wire_size.WireSize]
    wire_spans: dict[str, tuple[int, int]]
    span_description: str
    genai: genai.GenAIResult

    @property
    def hot_ratio(self) -> float:
        """Ours over the raw add_event with the same attributes (best samples)."""
        return self.hot.ratio(hot_path.OURS, hot_path.RAW)

    @property
    def export_ratio(self) -> float:
        """Our export throughput over the vendor builder's (best samples)."""
        return self.export.ratio(export_throughput.OURS, export_throughput.VENDOR)

    @property
    def hot_pass(self) -> bool:
        """Whether the hot-path target is met."""
        return self.hot_ratio <= HOT_PATH_TARGET

    @property
    def export_pass(self) -> bool:
        """Whether the export target is met."""
        return self.export_ratio >= EXPORT_TARGET


def collect(config: Config) -> Results:
    """Run the three benchmarks."""
    hot = hot_path.run(calls=config.hot_calls, samples=config.hot_samples)
    batch = spans.make_spans(config.conversations, config.turns)
    export = export_throughput.run(batch, samples=config.export_samples)
    return Results(
        config=config,
        hot=hot,
        export=export,
        sizes=wire_size.measure(batch),
        wire_spans=wire_size.wire_span_counts(batch),
        span_description=spans.describe(batch),
        genai=genai.run(batch, config.export_samples, config.turns),
    )
