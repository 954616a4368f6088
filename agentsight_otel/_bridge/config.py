"""Bridge settings: explicit values win over ``AGENTSIGHT_BRIDGE_*``, which win over defaults."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agentsight_otel._checks import ApiKey, check_spool_dir, positive_int, positive_seconds
from agentsight_otel._export.destination import destination_id
from agentsight_otel._loopback import TOKEN_RECIPE, refuse_open_listener
from agentsight_otel._params import Param, checked, from_environment, setting, table
from agentsight_otel.exceptions import ConfigurationError

ENV_TOKEN = "AGENTSIGHT_BRIDGE_TOKEN"
ENV_HTTP_ADDRESS = "AGENTSIGHT_BRIDGE_HTTP_ADDRESS"
ENV_GRPC_ADDRESS = "AGENTSIGHT_BRIDGE_GRPC_ADDRESS"
ENV_SPOOL_DIR = "AGENTSIGHT_BRIDGE_SPOOL_DIR"
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


def address_check(label: str) -> Callable[[object, str], Address | None]:
    """The check of one listen address; messages name it by ``label`` ("the HTTP address")."""

    def check(value: object, source: str) -> Address | None:
        if value is None or isinstance(value, Address):
            return value
        if not isinstance(value, str):
            raise ConfigurationError(f"{source} ({label}) must look like host:port or 'off'")
        return parse_address(value, f"{source} ({label})")

    return check


def check_token(value: object, source: str) -> str | None:
    """The bearer token senders must present; blank means none."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{source} must be a string")
    return value.strip() or None


def check_bridge_spool(value: object, source: str) -> str | None:
    """A spool directory, or 'off' (None: the default state directory)."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == OFF:
        return OFF
    return check_spool_dir(value, source)


def default_spool_root(environ: Mapping[str, str] | None = None) -> str:
    """``$XDG_STATE_HOME`` (else ``~/.local/state``) ``/agentsight-otel/bridge``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME", "").strip()
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return str(root / "agentsight-otel" / "bridge")


def default_spool_dir(
    endpoint: str, api_key: ApiKey | None, environ: Mapping[str, str] | None = None
) -> str:
    """The default spool of one destination: ``<root>/<fingerprint of endpoint and key>``.

    Bridges for other endpoints or keys spool beside it, never into it.
    """
    return str(Path(default_spool_root(environ)) / destination_id(endpoint, api_key))


def _limit(default: int, doc: str) -> int:
    """A positive integer limit of the bridge (no variable: a flag or an argument)."""
    return setting(default, check=positive_int, doc=doc)


@dataclass(frozen=True)
class BridgeConfig:
    """How the bridge listens, authenticates and bounds what it holds: its settings table."""

    http_address: Address | None = setting(
        Address("127.0.0.1", 4418),
        env=ENV_HTTP_ADDRESS,
        check=address_check("the HTTP address"),
        doc="OTLP/HTTP listen address, or 'off'",
    )
    grpc_address: Address | None = setting(
        Address("127.0.0.1", 4417),
        env=ENV_GRPC_ADDRESS,
        check=address_check("the gRPC address"),
        doc="OTLP/gRPC listen address, or 'off'",
    )
    token: str | None = setting(
        None,
        env=ENV_TOKEN,
        check=check_token,
        repr=False,
        doc="token senders must present as 'Authorization: Bearer <token>'",
    )
    max_body_bytes: int = _limit(16 * MIB, "largest request body, compressed or not")
    max_queue_spans: int = _limit(50_000, "spans held before answering 429")
    max_queue_bytes: int = _limit(64 * MIB, "request bytes held before 429")
    max_pending_spans: int = _limit(50_000, "spans waiting for their interaction")
    dedupe_memory: int = _limit(200_000, "recent span ids remembered to drop retries")
    drain_timeout: float = setting(
        20.0, check=positive_seconds, doc="deadline to deliver what is held at shutdown"
    )
    retry_after: int = _limit(5, "seconds senders are told to wait when full")
    grpc_workers: int = _limit(8, "threads serving gRPC calls")
    # Decoding expands a body many times over in Python objects: bound how many at once.
    max_concurrent_decodes: int = _limit(2, "request bodies decoded at once")
    head_timeout: float = setting(
        10.0, check=positive_seconds, doc="seconds a client has to send each request head"
    )
    max_connections: int = _limit(512, "open connections at most (the slowest heads go first)")
    spool_dir: str | None = setting(
        None,
        env=ENV_SPOOL_DIR,
        check=check_bridge_spool,
        doc="where accepted spans wait while AgentSight cannot take them, or 'off'",
    )

    def spool_directory(self, endpoint: str, api_key: ApiKey | None) -> str | None:
        """The spool in use: the setting, the destination's default, or None when 'off'."""
        if self.spool_dir == OFF:
            return None
        return self.spool_dir or default_spool_dir(endpoint, api_key)

    def __post_init__(self) -> None:
        if self.http_address is None and self.grpc_address is None:
            raise ConfigurationError("the bridge needs an HTTP or a gRPC address (both are off)")
        for row in BRIDGE_SETTINGS:
            row.check(getattr(self, row.name), row.name)
        # Beyond loopback, anyone who reaches a listener could send spans under our API key.
        protected = check_token(self.token, "token") is not None
        remedy = f"a token (--token or {ENV_TOKEN}); make one with: {TOKEN_RECIPE}"
        for address in (self.http_address, self.grpc_address):
            if address is not None:
                refuse_open_listener(address.host, protected, remedy)


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
    # A blank flag is not given: the variable, or the default, stands.
    texts = {"http_address": http_address, "grpc_address": grpc_address, "token": token}
    explicit = {name: value for name, value in texts.items() if value and value.strip()}
    given = checked(BRIDGE_SETTINGS, {**limits, **explicit}, "bridge setting")
    return BridgeConfig(**{**from_environment(BRIDGE_SETTINGS, environ), **given})


BRIDGE_SETTINGS: tuple[Param, ...] = table(BridgeConfig)
