"""A local AgentSight-compatible server: Starlette on uvicorn, with SQLite storage."""

from agentsight_otel.server.app import create_app
from agentsight_otel.server.runner import LocalServer, serve
from agentsight_otel.server.store import Store
from agentsight_otel.server.transcript import render_transcript

__all__ = ["LocalServer", "Store", "create_app", "render_transcript", "serve"]
