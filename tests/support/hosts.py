"""Host headers a loopback listener must refuse (DNS rebinding) or answer; an app's routes."""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.routing import Mount, Route

# Names an attacker can point at 127.0.0.1, and addresses that are not this machine's.
REFUSED_HOSTS = (
    "rebind.attacker.example",
    "rebind.attacker.example:8600",
    "127.0.0.1.nip.io",
    "127.0.0.1.nip.io:8600",
    "localhost.attacker.example",
    "localhost.attacker.example:8600",
    "localhost.attacker.example.:8600",
    "attacker.example:8600",
    "0.0.0.0:8600",
    "10.0.0.5:8600",
    "[::2]:8600",
    "[::1].attacker.example",
    "::1",
    "127.1:8600",
    "2130706433:8600",
    "0x7f000001",
    "localhost:port",
    "localhost:",
    "[::1]8600",
    "localhost@attacker.example",
)
# RFC 6761 localhost names, 127.0.0.0/8 and [::1], with any port and in any case.
ALLOWED_HOSTS = (
    "localhost",
    "LOCALHOST",
    "LocalHost:8600",
    "localhost.:8600",
    "viewer.localhost:8600",
    "127.0.0.1",
    "127.0.0.1:8600",
    "127.0.0.5:1",
    "127.255.255.254:65535",
    "[::1]",
    "[::1]:8600",
    "[::ffff:127.0.0.1]:8600",
)


def every_route(app: Starlette) -> list[tuple[str, str]]:
    """(method, path) for each route and method of ``app``, path parameters filled with 1."""
    calls: list[tuple[str, str]] = []
    for route in app.routes:
        if isinstance(route, Mount):
            calls.append(("GET", f"{route.path}/viewer.css"))
        elif isinstance(route, Route):
            path = re.sub(r"\{[^}]+\}", "1", route.path)
            calls.extend(
                (method, path) for method in sorted(route.methods or ()) if method != "HEAD"
            )
    return calls
