"""Interleaved, repeated timing: the machine is noisy, so contenders take turns sample by sample.

Each contender is a *sample* function that does one small unit of timed work and returns
``(elapsed_ns, units)``. ``interleave`` runs one sample of every contender per round, rotating
the order, with the garbage collector off (and a collection between rounds, outside any timed
region), and keeps every sample. Noise only ever adds time, so the best sample is the figure of
record; the median is printed beside it to show how noisy the run was.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import perf_counter_ns

Sample = Callable[[], tuple[int, int]]


@dataclass
class Measurement:
    """Nanoseconds per unit (call, span) of one contender, one figure per sample."""

    name: str
    per_unit_ns: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        """The fastest sample: the least disturbed by the rest of the machine."""
        return min(self.per_unit_ns)

    @property
    def median(self) -> float:
        """The middle sample."""
        return statistics.median(self.per_unit_ns)

    @property
    def spread(self) -> float:
        """Median over best: how noisy the samples were (1.0 means perfectly steady)."""
        return self.median / self.best if self.best else float("nan")


@contextmanager
def gc_off() -> Iterator[None]:
    """Collect once, then keep the collector out until the block ends."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def timed(run: Callable[[], int]) -> tuple[int, int]:
    """Time one call of ``run``, which returns how many units it did."""
    start = perf_counter_ns()
    units = run()
    return perf_counter_ns() - start, units


def interleave(samples: dict[str, Sample], rounds: int, warmup: int = 2) -> dict[str, Measurement]:
    """One sample per contender per round, order rotating, after ``warmup`` untimed rounds."""
    names = list(samples)
    results = {name: Measurement(name) for name in names}
    with gc_off():
        for index in range(warmup + rounds):
            gc.collect()
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                elapsed, units = samples[name]()
                if index >= warmup:
                    results[name].per_unit_ns.append(elapsed / max(units, 1))
    return results
