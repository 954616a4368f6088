"""``agentsight-otel``: ``serve`` (local server and viewer), ``bridge`` (OTLP in), ``demo``,
``conversations`` and ``transcript`` (read a local database or an endpoint)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agentsight_otel._bridge.options import add_bridge_arguments
from agentsight_otel._server.numbers import SQLITE_MAX, whole_number

# Whole-number options, read as text and checked here so a bad one is one line, not a traceback.
_NUMBERS = {"port": ("--port", 0, 65535), "limit": ("--limit", 1, SQLITE_MAX)}

# Top-level modules the optional extras bring, and the extra that brings each.
_EXTRAS = {
    "starlette": "server",
    "uvicorn": "server",
    "multipart": "server",
    "python_multipart": "server",
    "jinja2": "server",
    "grpc": "bridge",
    "google": "bridge",
}


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
    serve.add_argument("--port", default="8600", help="port to listen on (default 8600)")
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
        help="accept only this key (repeatable); required unless --host is loopback, where "
        "any well-formed key is accepted by default",
    )
    serve.add_argument(
        "--quiet", action="store_true", help="no access line per request (method, path, status)"
    )
    bridge = commands.add_parser(
        "bridge", help="receive OTLP traces (from a Collector) and deliver them to AgentSight"
    )
    add_bridge_arguments(bridge)
    demo = commands.add_parser("demo", help="track a support conversation and print its transcript")
    demo.add_argument(
        "--db", default=".agentsight/demo.db", help="SQLite file the demo stores into"
    )
    listing = commands.add_parser("conversations", help="list the newest conversations")
    _add_source_arguments(listing)
    listing.add_argument("--limit", default="50", help="at most this many (default 50)")
    transcript = commands.add_parser("transcript", help="print one conversation's transcript")
    transcript.add_argument("conversation", metavar="ID", help="conversation_id (or integer pk)")
    _add_source_arguments(transcript)
    return parser


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """--db or --endpoint: where a reading command reads from."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--db", help="a local server's SQLite file (default agentsight-local.db)")
    source.add_argument(
        "--endpoint",
        help="an AgentSight endpoint read through its API (key from AGENTSIGHT_API_KEY)",
    )


def _read(args: argparse.Namespace) -> int:
    """Run conversations or transcript; 1 with a message when the source cannot be read."""
    from agentsight_otel._reading import (
        ReadError,
        conversations_table,
        open_reader,
        transcript_text,
    )

    try:
        with open_reader(args.db, args.endpoint) as reader:
            if args.command == "conversations":
                print(conversations_table(reader.conversations(args.limit)), end="")
            else:
                print(transcript_text(reader.conversation(args.conversation)), end="")
    except ReadError as exc:
        print(f"agentsight-otel {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


def _import_failure(exc: ImportError) -> str:
    """What failed to import, and the extra to install when it is one of ours."""
    missing = exc.name or ""
    extra = _EXTRAS.get(missing.partition(".")[0])
    if extra:
        install = f"pip install 'agentsight-otel[{extra}]'"
        return f"needs the {extra} extra ({missing} is not installed): {install}"
    return f"could not import {missing or 'a module'}: {exc}"


def _bad_number(args: argparse.Namespace) -> str | None:
    """What is wrong with the first out-of-range number option; each good one made an int."""
    for name, (flag, low, high) in _NUMBERS.items():
        text = getattr(args, name, None)
        if text is None:
            continue
        value = whole_number(str(text).strip(), high)
        if value is None or value < low:
            return f"{flag} must be a whole number from {low} to {high}"
        setattr(args, name, value)
    return None


def _reason(exc: Exception) -> str:
    """One line saying what is wrong."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"cannot listen there: {exc.strerror}"
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    problem = _bad_number(args)
    if problem is not None:
        print(f"agentsight-otel {args.command}: {problem}", file=sys.stderr)
        return 2
    try:
        if args.command == "serve":
            from agentsight_otel.server import serve

            try:
                serve(args.host, args.port, args.db, args.api_keys, quiet=args.quiet)
            except (ValueError, OSError) as exc:  # a malformed key, a busy port: nothing created
                print(f"agentsight-otel serve: {_reason(exc)}", file=sys.stderr)
                return 2
        elif args.command == "bridge":
            from agentsight_otel._bridge.runner import run_command

            try:
                return run_command(args)
            except OSError as exc:  # a busy port: the pipeline is shut, nothing was delivered
                print(f"agentsight-otel bridge: {_reason(exc)}", file=sys.stderr)
                return 2
        elif args.command == "demo":
            from agentsight_otel._demo import main as demo

            return demo(args.db)
        elif args.command in ("conversations", "transcript"):
            return _read(args)
    except ImportError as exc:
        print(f"agentsight-otel {args.command}: {_import_failure(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
