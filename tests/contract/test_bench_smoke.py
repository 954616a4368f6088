"""Smoke test for ``bench/``: every benchmark runs with tiny counts and yields numbers.

No timing assertions: the figures of a tiny run mean nothing; only that they exist.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a top-level package beside tests/, not installed
    sys.path.insert(0, str(ROOT))

from bench import export_throughput, hot_path  # noqa: E402
from bench.report import render  # noqa: E402
from bench.suite import Config, collect  # noqa: E402


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_benchmarks_produce_numbers_and_a_report() -> None:
    results = collect(Config.tiny())

    assert set(results.hot.measurements) == {
        hot_path.RAW,
        hot_path.RAW_PREBUILT,
        hot_path.OURS,
        hot_path.OURS_REDACTING,
        hot_path.VENDOR,
    }
    for measurement in results.hot.measurements.values():
        assert len(measurement.per_unit_ns) == Config.tiny().hot_samples
        assert _positive(measurement.best) and _positive(measurement.median)
    for name in export_throughput.PIPELINES:
        assert _positive(results.export.spans_per_second(name))
    assert all(_positive(m.best) for m in results.export.stages.values())
    for size in results.sizes.values():
        assert size.bodies >= 1 and _positive(size.plain_per_span) and _positive(size.gzip_per_span)
    # Ours and the vendor's builder carry the same conversations and spans.
    assert len(set(results.wire_spans.values())) == 1
    assert _positive(results.hot_ratio) and _positive(results.export_ratio)

    report = render(results)
    assert "PASS" in report or "MISS" in report
    assert "spans/s" in report and "gzip" in report


def test_the_genai_benchmark_reports_both_shapes_and_both_turns() -> None:
    from bench import genai

    results = collect(Config.tiny())
    assert set(results.genai.throughput) == {genai.TRACKER, genai.GENAI}
    assert _positive(results.genai.ratio)
    assert _positive(results.genai.flatness)
    assert "4. GenAI-shaped traces" in render(results)


def test_end_to_end_benchmark_delivers_every_span_and_reports_ratios() -> None:
    from bench import end_to_end

    result = end_to_end.run(conversations=1, rounds=1)

    assert set(result.contenders) == {"ours", "ours-wait", "vendor", "otlp"}
    for contender in result.contenders.values():
        assert _positive(contender.best) and contender.requests >= 1
    # Every application's spans reached the capture server (warm-up + one conversation each).
    assert result.contenders["ours"].spans == result.contenders["vendor"].spans == 2 * 4 * 5
    assert result.contenders["otlp"].spans == 2 * 4 * 3
    report = end_to_end.render(result)
    assert "ours / otlp" in report and "ours / vendor" in report


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_fault_run_accounts_for_every_accepted_conversation() -> None:
    from bench import bench_faults

    # The quick scenarios (make bench runs all six; tests/reliability covers each fault,
    # the poison body included).
    rows = [bench_faults.scenario(route, "outage", 1.0) for route in bench_faults.ROUTES]
    rows.append(bench_faults.scenario("exporter", "trickle", 1.0))
    for row in rows:
        poison = row["fault"] == "poison"
        assert row["accepted_conversations"] > 0, row
        assert row["delivered_conversations"] == row["accepted_conversations"] - poison, row
        assert row["bodies_waiting_in_spool"] + bool(row["lost_spans"]) == poison, row
