"""Security headers on every response of the local server: no script, no framing, no sniffing."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The viewer is plain HTML and one stylesheet: no script at all, its own styles (the timeline
# bars are placed by style attributes), images from itself, forms posted to itself.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'none'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
_RAW = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in HEADERS.items()]
_NAMES = frozenset(name for name, _ in _RAW)


class SecurityHeaders:
    """ASGI middleware setting HEADERS on every HTTP response (replacing any the app set)."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap app."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through, adding the headers as the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _NAMES]
                message = {**message, "headers": [*kept, *_RAW]}
            await send(message)

        await self.app(scope, receive, sending)


class SecuredStarlette(Starlette):
    """Starlette with SecurityHeaders outside its error middleware, so 500 answers carry them."""

    def build_middleware_stack(self) -> ASGIApp:
        """The usual stack, wrapped."""
        return SecurityHeaders(super().build_middleware_stack())
