"""End to end: CPU seconds of the application process to track and deliver N conversations.

``python -m bench.end_to_end [--quick] [--conversations N] [--rounds R]`` prints the figures.

A capture server (``bench.capture_server``) runs in a process of its own. Each sample is a fresh
application process running one contender of ``bench.e2e_apps`` (ours, the vendor SDK, plain
OTel + OTLP/HTTP): it sets its pipeline up, tracks one untimed warm-up conversation and waits
until the server holds it, then times N four-turn conversations until the server holds every
span. The figure is the process's own CPU time over that window (``getrusage``: user + system,
every thread of the process, background exporters included), so the network wait and the
server's work are not counted, and the load of the rest of the machine counts less than it
would on a wall clock. Contenders take turns round by round (the order rotating); the best
round is the figure of record, and the verdict also needs the median of the per-round ratios
(each round's samples run seconds apart, so a drifting machine moves them together); the
median of each contender's rounds is printed beside them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import cli
from bench.e2e_apps import APPS, TURNS

ROOT = Path(__file__).resolve().parents[1]
OURS, VENDOR, OTLP = "ours", "vendor", "otlp"
TARGET_OTLP = 0.75
TARGET_VENDOR = 0.6


@dataclass
class Contender:
    """One contender's rounds."""

    name: str
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    spans: int = 0
    requests: int = 0

    @property
    def best(self) -> float:
        """The least disturbed round's CPU seconds."""
        return min(self.cpu)

    @property
    def median(self) -> float:
        """The middle round's CPU seconds."""
        return statistics.median(self.cpu)


@dataclass
class EndToEndResult:
    """Every contender's rounds, and the run's size."""

    conversations: int
    rounds: int
    contenders: dict[str, Contender]

    def ratio(self, name: str, reference: str, *, best: bool = True) -> float:
        """``name``'s CPU seconds over ``reference``'s (best rounds, or medians)."""
        a, b = self.contenders[name], self.contenders[reference]
        return a.best / b.best if best else a.median / b.median

    def paired(self, name: str, reference: str) -> float:
        """The median over rounds of ``name`` over ``reference`` in the same round.

        Samples of one round run seconds apart: on a shared machine whose speed drifts, their
        ratio moves far less than a ratio of two medians taken from different rounds.
        """
        a, b = self.contenders[name], self.contenders[reference]
        return statistics.median(x / y for x, y in zip(a.cpu, b.cpu, strict=True))


def _wait(url: str, spans: int) -> dict[str, int]:
    """Wait (one request) until the server holds ``spans`` spans of this run."""
    with urllib.request.urlopen(f"{url}/wait?spans={spans}&timeout=60", timeout=90) as answer:
        seen: dict[str, int] = json.load(answer)
    if seen["spans"] != spans:
        raise RuntimeError(f"the capture server holds {seen['spans']} spans, expected {spans}")
    return seen


def child(name: str, url: str, conversations: int) -> dict[str, Any]:
    """In the application process: the measured window of one contender."""
    app = APPS[name](url)
    per_conversation = app.spans_per_turn * TURNS
    app.conversation("warm-up")
    app.flush()
    _wait(url, per_conversation)
    gc.collect()
    start, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for index in range(conversations):
        app.conversation(f"conversation-{index}")
    app.flush()
    seen = _wait(url, per_conversation * (conversations + 1))
    end, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - wall
    app.close()
    cpu = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)
    return {"cpu": cpu, "wall": wall, "spans": seen["spans"], "requests": seen["requests"]}


def _sample(name: str, url: str, conversations: int) -> dict[str, Any]:
    """One contender in a fresh process, with nothing configured from the environment."""
    command = ["-m", "bench.end_to_end", "--child", name, "--url", url]
    try:
        done = subprocess.run(
            [sys.executable, *command, "--conversations", str(conversations)],
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if not k.startswith(("AGENTSIGHT_", "OTEL_"))},
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
    except subprocess.CalledProcessError as failed:
        raise RuntimeError(f"{name} failed:\n{failed.stderr[-3000:]}") from None
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def run(conversations: int = 100, rounds: int = 5) -> EndToEndResult:
    """Every contender ``rounds`` times against one capture server, in rotating order."""
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.capture_server"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdin is not None
    names = list(APPS)
    contenders = {name: Contender(name) for name in names}
    try:
        base = f"http://127.0.0.1:{int(server.stdout.readline())}"
        for index in range(rounds):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                row = _sample(name, f"{base}/{name}-{index}", conversations)
                contender = contenders[name]
                contender.cpu.append(row["cpu"])
                contender.wall.append(row["wall"])
                contender.spans, contender.requests = row["spans"], row["requests"]
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    return EndToEndResult(conversations, rounds, contenders)


def _verdict(value: float, target: float) -> str:
    return f"target <= {target:.2f}x  ->  {'PASS' if value <= target else 'MISS'}"


def render(result: EndToEndResult) -> str:
    """The figures and ratios as text."""
    n = result.conversations
    lines = [
        f"End to end: {n} conversations x {TURNS} turns (+1 warm-up), CPU seconds of the "
        f"application process until the capture server holds every span; best of "
        f"{result.rounds} rounds (median beside it)",
        f"{'contender':<10}{'cpu s':>9}{'median':>9}{'ms/conv':>9}{'wall s':>9}{'spans':>8}"
        f"{'requests':>10}{'vs otlp':>9}{'vs vendor':>11}",
    ]
    for name, c in result.contenders.items():
        lines.append(
            f"{name:<10}{c.best:>9.3f}{c.median:>9.3f}{c.best / n * 1000:>9.2f}"
            f"{min(c.wall):>9.2f}{c.spans:>8}{c.requests:>10}"
            f"{result.ratio(name, OTLP):>8.2f}x{result.ratio(name, VENDOR):>10.2f}x"
        )
    for reference, target in ((OTLP, TARGET_OTLP), (VENDOR, TARGET_VENDOR)):  # ours-wait: shown
        best = result.ratio(OURS, reference)
        median = result.ratio(OURS, reference, best=False)
        paired = result.paired(OURS, reference)
        lines.append(
            f"ours / {reference}: {best:.2f}x best, {median:.2f}x median, {paired:.2f}x median "
            f"of per-round ratios   {_verdict(max(best, paired), target)}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments; run the benchmark (or, with ``--child``, one application process)."""
    parser = cli.parser("bench.end_to_end", __doc__)
    parser.add_argument("--conversations", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--child", choices=list(APPS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.url, args.conversations)), flush=True)
        return 0
    conversations = args.conversations or (40 if args.quick else 200)
    rounds = args.rounds or (3 if args.quick else 9)
    print(render(run(conversations, rounds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
