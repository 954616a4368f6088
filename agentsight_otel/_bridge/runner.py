"""Running the bridge: OTLP/HTTP (uvicorn) and OTLP/gRPC servers over one pipeline, and a drain."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from typing import Any

from agentsight_otel._bridge.config import Address, BridgeConfig, default_spool_root
from agentsight_otel._bridge.grpc_service import start_grpc_server
from agentsight_otel._bridge.http_app import create_bridge_app
from agentsight_otel._bridge.options import config_from_args
from agentsight_otel._bridge.pipeline import BridgePipeline
from agentsight_otel._config import ENV_API_KEY, Settings, resolve_settings
from agentsight_otel._delivery.clock import Clock
from agentsight_otel._delivery.transport import Transport
from agentsight_otel._export.destination import destination_id
from agentsight_otel._export.spool import count_bodies
from agentsight_otel._log import logger
from agentsight_otel._serving import (
    BackgroundServer,
    ConnectionLimits,
    Served,
    bind_socket,
    uvicorn_config,
)
from agentsight_otel.exceptions import ConfigurationError

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Bridge(Served):
    """The OTLP bridge on background threads; ``stop`` drains within the configured deadline."""

    def __init__(
        self,
        config: BridgeConfig | None = None,
        *,
        settings: Settings | None = None,
        transport: Transport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config or BridgeConfig()
        self.settings = settings or resolve_settings()
        self._transport = transport
        self._clock = clock
        self.pipeline: BridgePipeline | None = None
        self.http_url: str | None = None
        self.grpc_target: str | None = None
        self._http: BackgroundServer | None = None
        self._grpc: Any = None
        self._stopped = False

    def start(self) -> Bridge:
        """Bind both listeners and return once they accept requests."""
        if self.pipeline is not None:
            raise RuntimeError("a Bridge can be started once")
        _check_free(self.config.http_address, self.config.grpc_address)
        _announce_spool(self.config, self.settings)  # counted before replay starts
        self.pipeline = BridgePipeline(
            self.config, self.settings, transport=self._transport, clock=self._clock
        )
        try:
            if self.config.http_address is not None:
                self._start_http(self.pipeline, self.config.http_address)
            if self.config.grpc_address is not None:
                self._grpc, port = start_grpc_server(
                    self.pipeline, self.config, self.config.grpc_address
                )
                self.grpc_target = f"{_shown(self.config.grpc_address.host)}:{port}"
        except BaseException:  # cleanup, then re-raised untouched
            self.stop(1.0)
            raise
        return self

    def _start_http(self, pipeline: BridgePipeline, address: Address) -> None:
        """uvicorn on its own thread, as the local server runs (the main thread keeps signals)."""
        app = create_bridge_app(pipeline, self.config)
        self._http = BackgroundServer(
            uvicorn_config(
                app,
                graceful_shutdown=2,
                limits=ConnectionLimits(self.config.head_timeout, self.config.max_connections),
            ),
            address.host,
            address.port,
            "agentsight-bridge-http",
        )
        self.http_url = self._http.url
        self._http.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Until every accepted span has had its delivery attempt (roots still awaited)."""
        return self.pipeline.flush(timeout) if self.pipeline is not None else True

    def stop(self, timeout: float | None = None) -> bool:
        """Stop listening, deliver what is held within ``timeout``; True when all went out."""
        if self._stopped:
            return True
        self._stopped = True
        deadline = self.config.drain_timeout if timeout is None else timeout
        end = time.monotonic() + deadline
        if self.pipeline is not None:
            self.pipeline.intake.close()  # in-flight requests now get 503 + Retry-After
        grace = min(2.0, deadline / 4)
        if self._grpc is not None:
            self._grpc.stop(grace).wait(grace + 1.0)
        if self._http is not None:
            self._http.stop(grace + 1.0)
        if self.pipeline is None:
            return True
        return self.pipeline.close(max(0.1, end - time.monotonic()))


def _announce_spool(config: BridgeConfig, settings: Settings) -> None:
    """Say where accepted spans wait, and how many earlier ones wait there to be sent."""
    spool = config.spool_directory(settings.endpoint, settings.api_key)
    if spool is None:
        logger.warning("no spool (--spool-dir off): spans AgentSight cannot take are lost")
        return
    waiting = count_bodies(spool, destination_id(settings.endpoint, settings.api_key))[0]
    logger.info(
        "accepted spans wait in %s while AgentSight cannot take them; "
        "%d body(ies) spooled there for this endpoint and key to send",
        spool,
        waiting,
    )
    if config.spool_dir is None:
        # Bodies an older version spooled here record no endpoint or key: never sent.
        older = sum(count_bodies(default_spool_root(), ""))
        if older:
            logger.warning(
                "%d body(ies) spooled by an older version in %s record no endpoint or key: "
                "left there, not sent",
                older,
                default_spool_root(),
            )


def _check_free(*addresses: Address | None) -> None:
    """Raise OSError when a fixed port is taken, before anything (a spool) is created.

    gRPC only says so in its own log lines on stderr: the CLI's one line needs the OS's answer.
    """
    for address in addresses:
        if address is not None and address.port != 0:
            bind_socket(address.host, address.port).close()


def _shown(host: str) -> str:
    """A host as it appears before ``:port``."""
    return f"[{host}]" if ":" in host else host


def run_command(args: argparse.Namespace) -> int:
    """``agentsight-otel bridge``: check the flags and environment, then serve."""
    try:
        config, settings = config_from_args(args)
    except ConfigurationError as exc:
        print(f"agentsight-otel bridge: {exc}", file=sys.stderr)
        return 2
    return serve_bridge(config, settings)


def serve_bridge(config: BridgeConfig, settings: Settings) -> int:
    """The CLI: serve until SIGTERM or SIGINT, then drain; 0 when everything held went out."""
    if settings.api_key is None:
        problem = settings.key_problem or f"{ENV_API_KEY} is not set: set it (or give --api-key)"
        print(f"agentsight-otel bridge: {problem}", file=sys.stderr)
        return 2
    # A program, unlike the library, may set up logging; an embedding host's setup is kept.
    logging.basicConfig(level=settings.log_level or "INFO", format=LOG_FORMAT)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    try:
        bridge = Bridge(config, settings=settings).start()
        if bridge.http_url:
            print(f"OTLP/HTTP listening on {bridge.http_url}/v1/traces", flush=True)
        if bridge.grpc_target:
            print(f"OTLP/gRPC listening on {bridge.grpc_target}", flush=True)
        # Woken now and then: Python runs a signal's handler only when the main thread runs.
        while not stop.wait(0.5):
            pass
        print(f"draining (at most {config.drain_timeout:g} s)", flush=True)
        drained = bridge.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped" if drained else "stopped; some spans were not delivered", flush=True)
    return 0 if drained else 1
