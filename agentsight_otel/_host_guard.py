"""ASGI middleware for loopback listeners: 421 Misdirected Request unless Host names this machine.

A listener on 127.0.0.1 is reachable from every web page the machine's browser opens, through a
name the page's owner rebinds to 127.0.0.1 (DNS rebinding). Such a request carries the
attacker's name in Host; only loopback names are answered.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from agentsight_otel._loopback import is_loopback_host_header

MISDIRECTED = 421
DETAIL = (
    "Misdirected Request: this server listens on loopback and answers only Host names of this "
    "machine (localhost, 127.0.0.1, [::1])."
)


class LoopbackHostGuard:
    """Answers every HTTP request (and refuses every websocket) whose Host is not loopback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a loopback-addressed request through; answer anything else here."""
        if scope["type"] not in ("http", "websocket") or _loopback_host(scope):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await JSONResponse({"detail": DETAIL}, MISDIRECTED)(scope, receive, send)


def _loopback_host(scope: Scope) -> bool:
    """Whether the request has exactly one Host header and it names this machine."""
    hosts = [value for name, value in scope.get("headers", ()) if name.lower() == b"host"]
    return len(hosts) == 1 and is_loopback_host_header(hosts[0].decode("latin-1"))
