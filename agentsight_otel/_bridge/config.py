"""Bridge settings: explicit values win over ``AGENTSIGHT_BRIDGE_*``, which win over defaults."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from agentsight_otel.exceptions import ConfigurationError

ENV_TOKEN = "AGENTSIGHT_BRIDGE_TOKEN"
ENV_HTTP_ADDRESS = "AGENTSIGHT_BRIDGE_HTTP_ADDRESS"
ENV_GRPC_ADDRESS = "AGENTSIGHT_BRIDGE_GRPC_ADDRESS"
# 4418/4417: next to a Collector's 4318/4317 on the same host without clashing.
DEFAULT_HTTP_ADDRESS = "127.0.0.1:4418"
DEFAULT_GRPC_ADDRESS = "127.0.0.1:4417"
OFF = "off"
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Address:
    """A host and port to listen on."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class BridgeConfig:
    """How the bridge listens, authenticates and bounds what it holds."""

    http_address: Address | None = Address("127.0.0.1", 4418)
    grpc_address: Address | None = Address("127.0.0.1", 4417)
    token: str | None = field(default=None, repr=False)
    max_body_bytes: int = 16 * MIB
    max_queue_spans: int = 50_000
    max_queue_bytes: int = 64 * MIB
    max_pending_spans: int = 50_000
    dedupe_memory: int = 200_000
    drain_timeout: float = 20.0
    retry_after: int = 5
    grpc_workers: int = 8
    # Decoding expands a body many times over in Python objects: bound how many at once.
    max_concurrent_decodes: int = 2
    # A client must send each request head within this time; at most this many connections.
    head_timeout: float = 10.0
    max_connections: int = 512

    def __post_init__(self) -> None:
        if self.http_address is None and self.grpc_address is None:
            raise ConfigurationError("the bridge needs an HTTP or a gRPC address (both are off)")
        for name in (
            "max_body_bytes",
            "max_queue_spans",
            "max_queue_bytes",
            "max_pending_spans",
            "dedupe_memory",
            "retry_after",
            "grpc_workers",
            "max_concurrent_decodes",
            "max_connections",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive integer")
        for name in ("drain_timeout", "head_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigurationError(f"{name} must be a positive number of seconds")
            if not math.isfinite(value) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive number of seconds")


def parse_address(value: str, source: str) -> Address | None:
    """``host:port``, ``[v6]:port`` or ``:port`` (every interface); ``off`` disables."""
    text = value.strip()
    if text.lower() == OFF:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigurationError(f"{source} must look like host:port or 'off', not {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigurationError(f"{source}: write IPv6 hosts in brackets, e.g. [::1]:4418")
    return Address(host or "0.0.0.0", int(port))


def resolve_bridge_config(
    *,
    http_address: str | None = None,
    grpc_address: str | None = None,
    token: str | None = None,
    environ: Mapping[str, str] | None = None,
    **limits: object,
) -> BridgeConfig:
    """A config from explicit values, then the environment, then defaults; checked."""
    env = os.environ if environ is None else environ
    http = _first(http_address, env.get(ENV_HTTP_ADDRESS), DEFAULT_HTTP_ADDRESS)
    grpc = _first(grpc_address, env.get(ENV_GRPC_ADDRESS), DEFAULT_GRPC_ADDRESS)
    secret = _first(token, env.get(ENV_TOKEN), "")
    given = {name: value for name, value in limits.items() if value is not None}
    unknown = set(given) - set(BridgeConfig.__dataclass_fields__)
    if unknown:
        raise ConfigurationError(f"unknown bridge setting(s): {', '.join(sorted(unknown))}")
    return replace(
        BridgeConfig(
            http_address=parse_address(http, "the HTTP address"),
            grpc_address=parse_address(grpc, "the gRPC address"),
            token=secret or None,
        ),
        **given,  # type: ignore[arg-type]
    )


def _first(*values: str | None) -> str:
    """The first value that is set and not blank."""
    for value in values:
        if value is not None and value.strip():
            return value.strip()
    return ""
