"""A local AgentSight-compatible server per test module, on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a snippet in a fresh interpreter (global OTel state stays out of this process)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTSIGHT_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
