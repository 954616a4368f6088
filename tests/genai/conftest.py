"""GenAI tests: the `slow` mark for the ones that run instrumented apps in their own process."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs real processes (still part of make test)")
