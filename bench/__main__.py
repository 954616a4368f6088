"""``python -m bench [--quick] [--profile]``: run the benchmarks and print the report."""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from collections.abc import Sequence

from bench import bench_collector, bench_faults, export_throughput, hot_path, spans
from bench.report import render
from bench.suite import Config, collect


def profile(top: int = 15) -> str:
    """cProfile of our two hot paths, heaviest functions (own time) first."""
    out = io.StringIO()
    batch = spans.make_spans()
    for title, work in (
        ("ours: track_human_message x 20,000", hot_path.profile_ours),
        (
            f"ours: export pipeline x 20 batches of {len(batch)} spans",
            lambda: export_throughput.profile_ours(batch),
        ),
    ):
        profiler = cProfile.Profile()
        profiler.runcall(work)
        out.write(f"\n--- profile: {title} ---\n")
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a fast smoke run (few samples; figures are only indicative)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also print cProfile output for our hot paths"
    )
    parser.add_argument(
        "--no-collector",
        action="store_true",
        help="skip the Collector -> bridge benchmark (real processes, tens of seconds)",
    )
    parser.add_argument(
        "--outage",
        type=float,
        default=None,
        metavar="SECONDS",
        help="length of each fault in the fault run (default 60, 5 with --quick; 0 skips it)",
    )
    args = parser.parse_args(argv)
    results = collect(Config.quick() if args.quick else Config.full())
    print(render(results), flush=True)
    if not args.no_collector:
        print(bench_collector.run(args.quick), flush=True)
    if args.profile:
        print(profile(), flush=True)
    outage = args.outage if args.outage is not None else (5.0 if args.quick else 60.0)
    if outage > 0:
        print("\nfault run: accepted / delivered / counted lost, per route and fault", flush=True)
        bench_faults.main(["--outage", str(outage)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
