"""The OTLP bridge: OTLP traces in (HTTP and gRPC), AgentSight ingest batches out.

``Bridge`` needs the server extra (Starlette, uvicorn); it is imported on first use so that
the configuration and the CLI's flags load without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentsight_otel._bridge.config import Address, BridgeConfig, resolve_bridge_config

if TYPE_CHECKING:
    from agentsight_otel._bridge.runner import Bridge

__all__ = ["Address", "Bridge", "BridgeConfig", "resolve_bridge_config"]


def __getattr__(name: str) -> Any:
    """``Bridge``, imported when first asked for."""
    if name == "Bridge":
        from agentsight_otel._bridge.runner import Bridge

        return Bridge
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
