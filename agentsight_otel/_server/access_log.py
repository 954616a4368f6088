"""One access line per request of ``agentsight-otel serve``: method, path, status, duration."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
App = Callable[..., Any]  # any ASGI application (Starlette's own types are narrower)


class AccessLog:
    """ASGI middleware writing ``METHOD /path STATUS N ms`` per HTTP request.

    Never headers and never the query string: keys and tokens travel in those.
    """

    def __init__(self, app: App, write: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.write = write or _to_stdout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through, noting its status, then write its line."""
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = [0]

        async def noting(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                status[0] = int(message.get("status", 0))
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            elapsed = (time.monotonic() - started) * 1000
            path = scope.get("path", "")
            self.write(f"{scope.get('method', '-')} {path} {status[0] or '-'} {elapsed:.0f} ms")


def _to_stdout(line: str) -> None:
    """Print the line at once (the server runs in the foreground)."""
    print(line, file=sys.stdout, flush=True)
