"""Whether an address or a Host header names this machine, and the rule for listening beyond it."""

from __future__ import annotations

import ipaddress
import re

from agentsight_otel.exceptions import ConfigurationError

# RFC 6761 section 6.3: "localhost." and every name under it resolve to loopback, never to DNS.
_LOCALHOST_NAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*localhost\.?")
_PORT = re.compile(r"[0-9]{1,5}")
KEY_RECIPE = (
    "python -c \"import secrets; print(f'ags_{secrets.token_hex(16)}_{secrets.token_hex(3)}')\""
)
TOKEN_RECIPE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def is_loopback(host: str) -> bool:
    """Whether a URL host or bind address is this machine: ``localhost``, 127.0.0.0/8 or ::1."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return _is_loopback_address(address)


def is_loopback_host_header(value: str | None) -> bool:
    """Whether a Host header names this machine: localhost, *.localhost, 127.0.0.0/8, [::1].

    Any port. Only literal addresses and the reserved localhost names: any other name may be
    an attacker's, rebound to 127.0.0.1 in the browser's DNS.
    """
    text = (value or "").strip().lower()
    if text.startswith("["):
        host, bracket, port = text[1:].partition("]")
        if not bracket or (port and not (port[0] == ":" and _PORT.fullmatch(port[1:]))):
            return False
        try:
            return _is_loopback_address(ipaddress.IPv6Address(host))
        except ValueError:
            return False
    host, colon, port = text.partition(":")
    if colon and not _PORT.fullmatch(port):
        return False
    if _LOCALHOST_NAME.fullmatch(host):
        return True
    try:
        return _is_loopback_address(ipaddress.IPv4Address(host))
    except ValueError:
        return False


def refuse_open_listener(host: str, protected: bool, remedy: str) -> None:
    """ConfigurationError (a ValueError) when ``host`` reaches beyond this machine unguarded."""
    if not protected and not is_loopback(host):
        raise ConfigurationError(
            f"listening on {host} reaches beyond this machine, so it needs {remedy}"
        )


def _is_loopback_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """127.0.0.0/8, ::1, or ::ffff:127.x.y.z (which Python 3.11 does not call loopback)."""
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)
