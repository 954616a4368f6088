"""The ``agentsight-otel bridge`` command line: flags, their environment variables, their checks.

Only argparse and configuration here, so building the CLI parser never imports a server.
"""

from __future__ import annotations

import argparse

from agentsight_otel._bridge.config import (
    BRIDGE_SETTINGS,
    DEFAULT_GRPC_ADDRESS,
    DEFAULT_HTTP_ADDRESS,
    ENV_GRPC_ADDRESS,
    ENV_HTTP_ADDRESS,
    ENV_SPOOL_DIR,
    ENV_TOKEN,
    BridgeConfig,
    resolve_bridge_config,
)
from agentsight_otel._config import (
    DEFAULT_ENDPOINT,
    ENV_API_KEY,
    ENV_ENDPOINT,
    ENV_LOG_LEVEL,
    SETTINGS,
    Settings,
    resolve_settings,
)

DESCRIPTION = """\
Receive OTLP traces (from an OpenTelemetry Collector or any OTLP exporter) and deliver the
AgentSight conversations in them: the same span records, assembly, mapping and retrying
transport as the in-process AgentSightSpanExporter. Flags win over the environment.
SIGTERM or Ctrl-C stops listening and delivers what is held within --drain-timeout."""

ENV_REDACT_PII = next(row.env for row in SETTINGS if row.name == "redact")
EPILOG = f"""\
environment (a flag wins over its variable):
  {ENV_API_KEY:<32}AgentSight API key (required)
  {ENV_ENDPOINT:<32}AgentSight base URL (default {DEFAULT_ENDPOINT})
  {ENV_TOKEN:<32}token senders must present as 'Authorization: Bearer <token>'
  {ENV_HTTP_ADDRESS:<32}OTLP/HTTP listen address (default {DEFAULT_HTTP_ADDRESS})
  {ENV_GRPC_ADDRESS:<32}OTLP/gRPC listen address (default {DEFAULT_GRPC_ADDRESS})
  {ENV_SPOOL_DIR:<32}spool directory, or 'off' (default: one per endpoint and key, under
  {"":<32}$XDG_STATE_HOME/agentsight-otel/bridge)
  {ENV_LOG_LEVEL:<32}level of the agentsight_otel logger (default INFO)
  {ENV_REDACT_PII:<32}1 redacts e-mails and card numbers in every free-text field

Listen on 0.0.0.0:PORT (or :PORT) to accept other hosts and containers (--token required)."""

_DEFAULTS = BridgeConfig()
_ROWS = {row.name: row for row in BRIDGE_SETTINGS}


def add_bridge_arguments(parser: argparse.ArgumentParser) -> None:
    """The bridge's flags, each naming its environment variable and default."""
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add = parser.add_argument
    add("--http", metavar="HOST:PORT", help=f"OTLP/HTTP address or 'off' ({DEFAULT_HTTP_ADDRESS})")
    add("--grpc", metavar="HOST:PORT", help=f"OTLP/gRPC address or 'off' ({DEFAULT_GRPC_ADDRESS})")
    add(
        "--token",
        help="require 'Authorization: Bearer TOKEN' (required beyond loopback; default: none)",
    )
    add("--api-key", help=f"AgentSight API key (shows in ps: prefer {ENV_API_KEY})")
    add("--endpoint", metavar="URL", help=f"AgentSight base URL ({DEFAULT_ENDPOINT})")
    _limit(parser, "--max-body-bytes", "max_body_bytes")
    _limit(parser, "--max-queue-spans", "max_queue_spans")
    _limit(parser, "--max-queue-bytes", "max_queue_bytes")
    add(
        "--spool-dir",
        metavar="DIR",
        help="where accepted spans wait while AgentSight cannot take them, or 'off' to count "
        "them as lost instead (default $XDG_STATE_HOME or ~/.local/state, "
        "/agentsight-otel/bridge/<fingerprint of endpoint and key>); only bodies spooled for "
        "this endpoint and key are sent",
    )
    _limit(parser, "--dedupe-memory", "dedupe_memory")
    _limit(parser, "--retry-after", "retry_after")
    add(
        "--drain-timeout",
        type=float,
        metavar="SECONDS",
        help=f"deadline to deliver what is held at shutdown (default {_DEFAULTS.drain_timeout:g})",
    )
    add("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    add(
        "--redact-pii",
        action="store_true",
        default=None,
        help="redact e-mail addresses and card numbers in every free-text field of the spans "
        "(tracker and GenAI alike; docs/security.md: PII redaction)",
    )


def _limit(parser: argparse.ArgumentParser, flag: str, name: str) -> None:
    """A positive integer flag: its help is the settings table's doc and default."""
    row = _ROWS[name]
    parser.add_argument(flag, type=int, metavar="N", help=f"{row.doc} (default {row.default})")


# Each flag and the setting it gives, so a refused value is reported by the flag's name.
_BRIDGE_FLAGS = {
    "http_address": "--http",
    "grpc_address": "--grpc",
    "token": "--token",
    "max_body_bytes": "--max-body-bytes",
    "max_queue_spans": "--max-queue-spans",
    "max_queue_bytes": "--max-queue-bytes",
    "dedupe_memory": "--dedupe-memory",
    "retry_after": "--retry-after",
    "drain_timeout": "--drain-timeout",
    "spool_dir": "--spool-dir",
}
# resolve_bridge_config's rule: a blank address or token is not given.
_BLANK_IS_UNSET = ("http_address", "grpc_address", "token")
_DELIVERY_FLAGS = {
    "api_key": "--api-key",
    "endpoint": "--endpoint",
    "log_level": "--log-level",
    "redact": "--redact-pii",
}


def config_from_args(args: argparse.Namespace) -> tuple[BridgeConfig, Settings]:
    """The bridge config and delivery settings the flags and environment describe (checked).

    ConfigurationError naming the flag (or the variable) whose value is refused.
    """
    flags = {**_BRIDGE_FLAGS, **_DELIVERY_FLAGS}
    given = {name: getattr(args, flag[2:].replace("-", "_")) for name, flag in flags.items()}
    rows = {row.name: row for row in (*BRIDGE_SETTINGS, *SETTINGS)}
    for name, value in given.items():
        blank = name in _BLANK_IS_UNSET and not str(value or "").strip()
        if value is not None and not blank:
            rows[name].check(value, flags[name])
    config = resolve_bridge_config(**{name: given[name] for name in _BRIDGE_FLAGS})
    settings = resolve_settings(**{name: given[name] for name in _DELIVERY_FLAGS})
    return config, settings
