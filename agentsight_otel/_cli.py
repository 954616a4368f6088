"""The ``agentsight-otel`` command: ``serve`` (local server), ``bridge`` (OTLP in) and ``demo``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agentsight_otel._bridge.options import add_bridge_arguments


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="agentsight-otel",
        description="AgentSight conversation tracking on OpenTelemetry.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run the local AgentSight-compatible server (SQLite storage)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8600, help="port to listen on (default 8600)")
    serve.add_argument(
        "--db",
        default="agentsight-local.db",
        help="SQLite file to store conversations in (default agentsight-local.db)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accept only this key (repeatable); default: any well-formed key",
    )
    bridge = commands.add_parser(
        "bridge", help="receive OTLP traces (from a Collector) and deliver them to AgentSight"
    )
    add_bridge_arguments(bridge)
    commands.add_parser("demo", help="track a support conversation and print its transcript")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            from agentsight_otel.server import serve

            serve(args.host, args.port, args.db, args.api_keys)
        elif args.command == "bridge":
            from agentsight_otel._bridge.runner import run_command

            return run_command(args)
        elif args.command == "demo":
            from agentsight_otel._demo import main as demo

            demo()
    except ImportError as exc:
        print(
            f"agentsight-otel {args.command} needs the server extra: "
            f"pip install 'agentsight-otel[server]' ({exc})",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
