"""The Collector end-to-end suite: the Collector `make collector` built, real processes only."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector.stack import ROOT, Cluster, TraceSink

BUILD = ROOT / "collector" / "build.sh"


@pytest.fixture(scope="session")
def collector_binary() -> Path:
    """The cached Collector build (``make test`` builds it first, so this only hashes)."""
    override = os.environ.get("AGENTSIGHT_COLLECTOR_BIN")
    if override:
        return Path(override)
    if shutil.which("go") is None:
        pytest.skip("no Go toolchain: run `make collector` on a machine with Go 1.26")
    result = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=1800, check=False)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """Processes a test starts; all stopped (last started first) when it ends."""
    started = Cluster()
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def tracing_sink() -> Iterator[TraceSink]:
    """The team's existing tracing backend: a plain OTLP/gRPC receiver that counts spans."""
    with TraceSink() as sink:
        yield sink
