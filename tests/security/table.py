"""The shape of the bad-input table: rows, their documented outcomes, and the Markdown view.

``docs/bad-input.md`` holds the rendered table between two markers; a test re-renders it from
the rows and fails when the document and the tests disagree. Rewrite the document with
``python -m tests.security.table``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from agentsight_otel.testing import FakeBackend

DOC = Path(__file__).resolve().parents[2] / "docs" / "bad-input.md"
START, END = "<!-- table:start -->", "<!-- table:end -->"
UNIT_START, UNIT_END = "<!-- unit-table:start -->", "<!-- unit-table:end -->"


@dataclass
class Case:
    """What a tracker, decorator or configuration row runs against, and what it left."""

    backend: FakeBackend
    env: Any  # pytest.MonkeyPatch
    logs: list[logging.LogRecord] = field(default_factory=list)
    result: Any = None

    @property
    def t(self) -> Any:
        """The tracker (typed loosely: rows pass it wrong types on purpose)."""
        return self.backend.tracker


@dataclass(frozen=True)
class Raises:
    """The call raises this exception; nothing is recorded."""

    error: type[BaseException]

    def text(self) -> str:
        """The outcome column."""
        return f"raises `{self.error.__name__}`"


@dataclass(frozen=True)
class Becomes:
    """The call succeeds and the value is converted as described (``check`` asserts it)."""

    description: str
    check: Callable[[Any], None]

    def text(self) -> str:
        """The outcome column."""
        return self.description


@dataclass(frozen=True)
class Answers:
    """The bridge answers with this HTTP status or gRPC code."""

    status: int | grpc.StatusCode
    description: str = ""
    check: Callable[[Any], None] | None = None

    def text(self) -> str:
        """The outcome column."""
        code = (
            f"HTTP {self.status}" if isinstance(self.status, int) else f"gRPC `{self.status.name}`"
        )
        return f"{code}; {self.description}" if self.description else code


Outcome = Raises | Becomes | Answers


@dataclass(frozen=True)
class Row:
    """One bad input: where it goes, what it is, what the library does with it."""

    id: str
    area: str
    call: str
    given: str
    outcome: Outcome
    run: Callable[[Any], Any]


def _cell(text: str) -> str:
    """Markdown table cell text: pipes escaped, one line."""
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows: Sequence[Row]) -> str:
    """The table of rows as Markdown."""
    lines = [
        "| # | area | case | call | bad input | documented outcome |",
        "|---|---|---|---|---|---|",
    ]
    for number, row in enumerate(rows, 1):
        cells = (str(number), row.area, f"`{row.id}`", row.call, row.given, row.outcome.text())
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def render_unit(calls: dict[str, tuple[Any, type[BaseException]]]) -> str:
    """The older tracker cases of ``tests/unit/test_bad_input.py``: case and exception."""
    lines = ["| case | documented outcome |", "|---|---|"]
    lines += [f"| `{name}` | raises `{calls[name][1].__name__}` |" for name in sorted(calls)]
    return "\n".join(lines)


def section(text: str, start: str, end: str) -> str:
    """What the document holds between two markers."""
    match = re.search(re.escape(start) + r"\n(.*?)\n" + re.escape(end), text, re.DOTALL)
    return match.group(1) if match else ""


def rewrite(text: str, start: str, end: str, body: str) -> str:
    """The document with the section between the markers replaced."""
    pattern = re.escape(start) + r".*?" + re.escape(end)
    return re.sub(pattern, lambda _: f"{start}\n{body}\n{end}", text, flags=re.DOTALL)


def main() -> None:
    """Rewrite both generated tables of ``docs/bad-input.md`` from the rows."""
    from tests.security.test_bad_input_table import ROWS
    from tests.unit.test_bad_input import BAD_CALLS

    text = DOC.read_text(encoding="utf-8")
    text = rewrite(text, START, END, render(ROWS))
    text = rewrite(text, UNIT_START, UNIT_END, render_unit(BAD_CALLS))
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
