"""Decorated functions keep their signatures and return types for mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).with_name("typing_check.py")


@pytest.mark.slow
def test_mypy_strict_sees_the_original_signatures() -> None:
    pytest.importorskip("mypy")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--warn-unused-ignores", str(SAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Wrong argument types are errors (the ignores are used), right ones keep their types.
    assert done.returncode == 0, done.stdout + done.stderr
