"""The suite runs with a temporary HOME and state directory, and fails when it touched the real
one (tests write in their tmp dirs only)."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

INNER = '''
import os
from pathlib import Path

import pytest

from agentsight_otel._bridge.config import default_spool_root

REAL = os.environ["REAL_STATE_HOME"]


@pytest.fixture(scope="session")
def early_root():
    """What a session fixture (before any test's own environment) sees."""
    return default_spool_root()


def test_every_fixture_sees_a_temporary_home(early_root):
    assert not early_root.startswith(REAL)
    assert not os.environ["HOME"].startswith(REAL)
    assert os.environ["XDG_CACHE_HOME"] == os.environ["REAL_CACHE"]  # the Collector build


def test_one_that_writes_into_the_real_state_directory():
    (Path(REAL) / "agentsight-otel").mkdir(parents=True)
'''


def test_a_run_that_touches_the_real_state_directory_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = tmp_path / "real-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(real))
    monkeypatch.setenv("REAL_STATE_HOME", str(real))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("REAL_CACHE", str(tmp_path / "cache"))
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*created or modified {real / 'agentsight-otel'}*"])
