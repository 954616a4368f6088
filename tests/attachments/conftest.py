"""Every attachments test starts with a clean environment and OTel context."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(clean_environment: None, clean_otel_context: None) -> None:
    """Every test here starts with a clean environment and OTel context."""
