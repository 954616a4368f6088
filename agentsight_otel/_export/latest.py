"""The span exporter built last in this process, for log exporters built without one."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentsight_otel._export.exporter import AgentSightSpanExporter

# One reference, weak: a dropped exporter is not kept for the log exporters.
_LATEST: list[weakref.ref[AgentSightSpanExporter]] = []


def remember(exporter: AgentSightSpanExporter) -> None:
    """Note ``exporter`` as the one built last."""
    _LATEST[:] = [weakref.ref(exporter)]


def latest_span_exporter() -> AgentSightSpanExporter | None:
    """The span exporter built last in this process, if it is alive and not shut down."""
    exporter = _LATEST[0]() if _LATEST else None
    return exporter if exporter is not None and not exporter._shutdown else None
