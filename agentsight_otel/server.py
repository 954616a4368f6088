"""The local AgentSight-compatible server: Starlette on uvicorn, with SQLite storage."""

from agentsight_otel._server.app import create_app
from agentsight_otel._server.runner import LocalServer, serve
from agentsight_otel._server.schema import UnusableDatabase
from agentsight_otel._server.store import Store
from agentsight_otel._server.transcript import render_transcript

__all__ = [
    "LocalServer",
    "Store",
    "UnusableDatabase",
    "create_app",
    "render_transcript",
    "serve",
]
