"""``agentsight-otel``: ``serve`` (local server and viewer), ``bridge`` (OTLP in), ``demo``,
``conversations`` and ``transcript`` (read a local database or an endpoint)."""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence
from typing import NoReturn

from agentsight_otel._bridge.options import add_bridge_arguments
from agentsight_otel._checks import parse_api_key
from agentsight_otel._version import __version__
from agentsight_otel.exceptions import ConfigurationError

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


MAX_LIMIT = 10_000
MAX_PORT = 65_535


class _Parser(argparse.ArgumentParser):
    """argparse answering a mistake with one line: what is wrong, and where the help is."""

    def error(self, message: str) -> NoReturn:
        """Exit 2 with one line on stderr (argparse's usage block left to --help)."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def port_number(text: str) -> int:
    """A TCP port, 0 (any free port) to 65535."""
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 5) or int(digits) > MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port: give 0 to {MAX_PORT} (0 picks any free port)"
        )
    return int(digits)


def conversation_limit(text: str) -> int:
    """How many conversations to list: 1 to MAX_LIMIT."""
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 6):
        raise argparse.ArgumentTypeError(f"{text!r} is not a count: give 1 to {MAX_LIMIT:,}")
    if not 1 <= int(digits) <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"give 1 to {MAX_LIMIT:,}, not {int(digits)}")
    return int(digits)


def conversation_reference(text: str) -> str:
    """A conversation id or pk as `agentsight-otel conversations` lists them: not blank."""
    if not text.strip() or not text.isprintable():
        raise argparse.ArgumentTypeError(
            "give a CONVERSATION or PK that `agentsight-otel conversations` lists"
        )
    return text


def file_path(text: str) -> str:
    """A database file's path: not blank (SQLite would quietly make a temporary database)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("give a file path, such as agentsight-local.db")
    return text


def host_address(text: str) -> str:
    """An address to listen on: not blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError("give an address of this machine, such as 127.0.0.1")
    return text.strip()


def server_key(text: str) -> str:
    """An API key the server accepts: the shape AgentSight gives keys (never echoed)."""
    try:
        return parse_api_key(text, "the key").reveal()
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = _Parser(
        prog="agentsight-otel",
        description="AgentSight conversation tracking on OpenTelemetry.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="run the local AgentSight-compatible server (SQLite storage)"
    )
    serve.add_argument(
        "--host",
        type=host_address,
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1)",
    )
    serve.add_argument(
        "--port",
        type=port_number,
        default=8600,
        help="port to listen on, 0 to 65535; 0 picks any free port (default 8600)",
    )
    serve.add_argument(
        "--db",
        type=file_path,
        default="agentsight-local.db",
        help="SQLite file to store conversations in (default agentsight-local.db)",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        type=server_key,
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
        "--db",
        type=file_path,
        default=".agentsight/demo.db",
        help="SQLite file the demo stores into",
    )
    listing = commands.add_parser("conversations", help="list the newest conversations")
    _add_source_arguments(listing)
    listing.add_argument(
        "--limit",
        type=conversation_limit,
        default=50,
        help=f"at most this many, 1 to {MAX_LIMIT:,} (default 50)",
    )
    transcript = commands.add_parser("transcript", help="print one conversation's transcript")
    transcript.add_argument(
        "conversation",
        metavar="ID",
        type=conversation_reference,
        help="a CONVERSATION or PK as `conversations` lists them",
    )
    _add_source_arguments(transcript)
    return parser


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """--db or --endpoint: where a reading command reads from."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--db",
        type=file_path,
        help="a local server's SQLite file, opened read-only (default agentsight-local.db)",
    )
    source.add_argument(
        "--endpoint",
        metavar="URL",
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


def _cannot_listen(exc: OSError, flags: str) -> str:
    """A listening failure: the address (when the OS error names it), why, and what to change."""
    where = f" on {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.EADDRINUSE, errno.EACCES):
        fix = "pick another port (0 picks any free one)"
    else:
        fix = "give an address of this machine, such as 127.0.0.1"
    return f"cannot listen{where}: {exc.strerror or exc}; {fix} ({flags})"


def _bad_database(exc: Exception, fix: str) -> str:
    """A --db that cannot be used, and what to give instead."""
    return f"--db: {exc}; {fix}"


_NEW_DB_FIX = "give --db a new file name or a database agentsight-otel wrote"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except ImportError as exc:
        print(f"agentsight-otel {args.command}: {_import_failure(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    """Run the chosen command; its exit status."""
    if args.command == "serve":
        from agentsight_otel.server import UnusableDatabase, serve

        try:
            serve(args.host, args.port, args.db, args.api_keys, quiet=args.quiet)
        except UnusableDatabase as exc:
            print(f"agentsight-otel serve: {_bad_database(exc, _NEW_DB_FIX)}", file=sys.stderr)
            return 2
        except ValueError as exc:  # no --api-key beyond loopback: refused before anything opens
            print(f"agentsight-otel serve: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # a busy port, an address not here: nothing created
            print(
                f"agentsight-otel serve: {_cannot_listen(exc, '--host, --port')}", file=sys.stderr
            )
            return 2
    elif args.command == "bridge":
        from agentsight_otel._bridge.runner import run_command

        try:
            return run_command(args)
        except OSError as exc:  # a busy port: the pipeline is shut, nothing was delivered
            print(
                f"agentsight-otel bridge: {_cannot_listen(exc, '--http, --grpc')}", file=sys.stderr
            )
            return 2
    elif args.command == "demo":
        from agentsight_otel._demo import main as demo
        from agentsight_otel.server import UnusableDatabase

        try:
            return demo(args.db)
        except UnusableDatabase as exc:
            print(f"agentsight-otel demo: {_bad_database(exc, _NEW_DB_FIX)}", file=sys.stderr)
            return 2
    elif args.command in ("conversations", "transcript"):
        return _read(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
