"""The decorator benchmark runs and yields numbers (no timing assertions here)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a top-level package beside tests/, not installed
    sys.path.insert(0, str(ROOT))

from bench import bench_decorator  # noqa: E402


def test_the_quick_run_measures_every_contender_and_ratio() -> None:
    rows = bench_decorator.run(quick=True)
    timings = {r["name"]: r for r in rows if r["kind"] == "timing"}
    ratios = [r for r in rows if r["kind"] == "ratio"]
    assert set(timings) == {
        bench_decorator.UNDECORATED,
        bench_decorator.RAW,
        bench_decorator.OURS,
        bench_decorator.OURS_AMBIENT,
        bench_decorator.VENDOR,
        bench_decorator.VENDOR_SHIPPED,
    }
    for row in timings.values():
        assert math.isfinite(row["median_ns"]) and row["median_ns"] > 0
    assert len(ratios) == 4
    assert all(math.isfinite(r["median"]) and r["median"] > 0 for r in ratios)
    assert "PASS" in bench_decorator.render(rows) or "MISS" in bench_decorator.render(rows)
