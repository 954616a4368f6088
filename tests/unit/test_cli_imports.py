"""The CLI names the module that failed to import, and the extra only when it is an extra's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# None in sys.modules makes the next import of that name raise ImportError(name=<that name>).
_RUN = (
    "import sys; sys.modules[{blocked!r}] = None; from agentsight_otel._cli import main; "
    "sys.exit(main({argv!r}))"
)


@pytest.mark.parametrize(
    ("blocked", "argv", "said"),
    [
        ("uvicorn", ["serve", "--db", "x.db"], "needs the server extra (uvicorn is not installed)"),
        ("grpc", ["bridge"], "needs the bridge extra (grpc is not installed)"),
        ("agentsight_otel._demo", ["demo"], "could not import agentsight_otel._demo"),
    ],
)
def test_an_import_failure_names_what_failed(
    tmp_path: Path, blocked: str, argv: list[str], said: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _RUN.format(blocked=blocked, argv=argv)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert said in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    if blocked.startswith("agentsight_otel"):
        assert "extra" not in done.stderr
