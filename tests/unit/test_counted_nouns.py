"""Counts read as English: 1 answer, 2 answers; costs as estimates a person can read."""

from __future__ import annotations

import pytest

from agentsight_otel._demo import summary_line
from agentsight_otel._server.viewer_format import cost, counted, one_line


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 answers"), (1, "1 answer"), (2, "2 answers"), (1234, "1,234 answers")],
)
def test_counted_agrees_with_the_count(count: int, expected: str) -> None:
    assert counted(count, "answer") == expected


def test_the_demo_summary_counts_in_the_singular_too() -> None:
    result = {
        "status": "delivered",
        "summary": {"questions": 1, "answers": 1, "actions": 2, "errors": 0, "pending": 1},
    }
    assert summary_line(result) == "  send -> delivered: 1 question, 1 answer, 2 actions, 1 pending"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "unpriced"),
        ("0.01230000", "≈ $0.0123"),
        ("0.00004512", "≈ $0.000045"),
        ("2.5", "≈ $2.50"),
    ],
)
def test_costs_read_as_estimates(value: str | None, shown: str) -> None:
    assert cost(value) == shown


def test_one_line_collapses_and_cuts() -> None:
    assert one_line("a\n\n  b") == "a b"
    assert one_line("word " * 100, 20) == "word word word word…"
