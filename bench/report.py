"""The printed report: absolute figures, ratios to same-run references, PASS/MISS per target."""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from bench import export_throughput, genai, hot_path
from bench.suite import EXPORT_TARGET, HOT_PATH_TARGET, Results

WIDTH = 100
PACKAGES = ("agentsight-otel", "agentsight", "opentelemetry-sdk", "orjson", "protobuf")


def _version(package: str) -> str:
    """An installed distribution's version, or '-'."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def print_rows(rows: Iterable[dict[str, Any]]) -> int:
    """Print a standalone benchmark's rows as JSON lines, as they come; the exit status."""
    for row in rows:
        print(json.dumps(row), flush=True)
    return 0


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def header(results: Results) -> list[str]:
    """What ran, where, and how the figures were taken."""
    versions = ", ".join(f"{p} {_version(p)}" for p in PACKAGES)
    return [
        "=" * WIDTH,
        f"agentsight_otel benchmarks ({results.config.name} run)",
        f"Python {platform.python_version()} on {platform.machine()}; {versions}",
        "Figures: best of N interleaved samples (median in the next column); gc off in timed "
        "loops; ratios use best samples.",
        "=" * WIDTH,
    ]


def hot_section(results: Results) -> list[str]:
    """Benchmark 1: the tracking hot path."""
    hot = results.hot
    lines = [
        "",
        f"1. Tracking hot path: one message with a 3-key metadata dict into an open span "
        f"({hot.calls_per_sample} calls per sample, {hot.samples} samples)",
        f"   {'contender':<58}{'ns/call':>10}{'median':>10}{'vs raw':>9}",
    ]
    for name, measurement in hot.measurements.items():
        ratio = hot.ratio(name, hot_path.RAW)
        lines.append(
            f"   {name:<58}{measurement.best:>10,.0f}{measurement.median:>10,.0f}{ratio:>8.2f}x"
        )
    lines += [
        f"   ours / raw add_event (same attributes from the same input): "
        f"{results.hot_ratio:.2f}x best, {hot.ratio(hot_path.OURS, hot_path.RAW, best=False):.2f}x "
        f"median   target <= {HOT_PATH_TARGET:.1f}x  ->  {_verdict(results.hot_pass)}",
        f"   ours / raw add_event with pre-built attributes (the floor): "
        f"{hot.ratio(hot_path.OURS, hot_path.RAW_PREBUILT):.2f}x;  ours / vendor: "
        f"{hot.ratio(hot_path.OURS, hot_path.VENDOR):.2f}x",
    ]
    return lines


def export_section(results: Results) -> list[str]:
    """Benchmark 2: mapping and serialization throughput, with our stage breakdown."""
    export = results.export
    lines = [
        "",
        f"2. Export mapping + serialization on the same ReadableSpans ({export.samples} samples)",
        f"   batch: {results.span_description}",
        f"   {'pipeline':<46}{'spans/s':>11}{'median':>11}{'ns/span':>10}{'vs vendor':>11}",
    ]
    for name, measurement in export.measurements.items():
        ratio = export.ratio(name, export_throughput.VENDOR)
        lines.append(
            f"   {name:<46}{export.spans_per_second(name):>11,.0f}"
            f"{export.spans_per_second(name, best=False):>11,.0f}"
            f"{measurement.best:>10,.0f}{ratio:>10.2f}x"
        )
    total = sum(m.best for m in export.stages.values())
    stages = ", ".join(
        f"{name} {m.best:,.0f} ns ({m.best / total:.0%})" for name, m in export.stages.items()
    )
    otlp = export.ratio(export_throughput.OURS, export_throughput.OTLP)
    lines += [
        f"   our stages, each alone (ns/span): {stages}",
        f"   ours / vendor builder: {results.export_ratio:.2f}x best, "
        f"{export.ratio(export_throughput.OURS, export_throughput.VENDOR, best=False):.2f}x "
        f"median   target >= {EXPORT_TARGET:.1f}x  ->  {_verdict(results.export_pass)}",
        f"   ours / OTLP protobuf encoder: {otlp:.2f}x",
    ]
    return lines


def wire_section(results: Results) -> list[str]:
    """Benchmark 3: bytes per span on the wire."""
    vendor = results.sizes[export_throughput.VENDOR]
    lines = [
        "",
        "3. Bytes per span on the wire (same spans; each body gzipped on its own at the level its "
        "exporter uses: ours 3, the others 6)",
        f"   {'pipeline':<46}{'bodies':>7}{'plain B/span':>14}{'gzip B/span':>13}"
        f"{'plain vs vendor':>17}{'gzip vs vendor':>16}",
    ]
    for name, size in results.sizes.items():
        lines.append(
            f"   {name:<46}{size.bodies:>7}{size.plain_per_span:>14,.0f}"
            f"{size.gzip_per_span:>13,.0f}"
            f"{size.plain_per_span / vendor.plain_per_span:>16.2f}x"
            f"{size.gzip_per_span / vendor.gzip_per_span:>15.2f}x"
        )
    counts = "; ".join(
        f"{name.split(':')[0]} {c} conversation(s), {s} wire spans"
        for name, (c, s) in results.wire_spans.items()
    )
    lines.append(f"   sanity: {counts}")
    return lines


def genai_section(results: Results) -> list[str]:
    """Benchmark 4: GenAI-shaped traces beside tracker-shaped ones, and the cost per turn."""
    result = results.genai
    lines = [
        "",
        f"4. GenAI-shaped traces through the same pipeline ({result.samples} samples)",
        f"   {'batch':<46}{'spans/s':>11}{'median':>11}{'ns/span':>10}",
    ]
    for name, measurement in result.throughput.items():
        lines.append(
            f"   {name:<46}{result.spans_per_second(name):>11,.0f}"
            f"{1e9 / measurement.median:>11,.0f}{measurement.best:>10,.0f}"
        )
    ok = result.ratio >= genai.GENAI_TARGET
    lines.append(
        f"   GenAI / tracker-shaped: {result.ratio:.2f}x   target >= {genai.GENAI_TARGET:.1f}x"
        f"  ->  {_verdict(ok)}"
    )
    last = genai.LONG_CONVERSATION
    lines.append(
        f"   one turn mapped alone, whole history resent: turn 1 {result.ns_per_byte(1):.1f} "
        f"ns/byte ({result.turn_bytes[1]:,} B), turn {last} {result.ns_per_byte(last):.1f} "
        f"ns/byte ({result.turn_bytes[last]:,} B): turn {last} / turn 1 = "
        f"{result.flatness:.2f}x (<= 1.0 is flat)"
    )
    return lines


def render(results: Results) -> str:
    """The whole report."""
    lines = [
        *header(results),
        *hot_section(results),
        *export_section(results),
        *wire_section(results),
        *genai_section(results),
        "",
        f"Targets: hot path {_verdict(results.hot_pass)} ({results.hot_ratio:.2f}x <= "
        f"{HOT_PATH_TARGET:.1f}x); export {_verdict(results.export_pass)} "
        f"({results.export_ratio:.2f}x >= {EXPORT_TARGET:.1f}x)",
        "=" * WIDTH,
    ]
    return "\n".join(lines)
