"""Real processes on 127.0.0.1 for the Collector tests: the built Collector, the bridge and the
local server (through their CLIs), plus a recording proxy and an OTLP/gRPC sink.

Every wait is bounded by a poll count or a subprocess timeout, never asserted on the clock.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from agentsight_otel.testing import TEST_API_KEY

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "collector-config.yaml"
BRIDGE_TOKEN = "collector-e2e-token"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 40.0
GATE_TIMEOUT_S = 60.0
READY = "Everything is ready. Begin running and processing data."


# The ports examples/collector/run-local.sh takes from its environment.
RUN_LOCAL_PORTS = (
    "COLLECTOR_GRPC_PORT",
    "COLLECTOR_HTTP_PORT",
    "BRIDGE_HTTP_PORT",
    "BRIDGE_GRPC_PORT",
    "SERVER_PORT",
)


def free_port() -> int:
    """A port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without AGENTSIGHT_* or OTEL_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTSIGHT_", "OTEL_"))}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


class Process:
    """A child process whose output is collected by a thread and can be waited on."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str]) -> None:
        self.name = name
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.popen = subprocess.Popen(
            list(command),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read, name=f"{name}-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, needle: str, timeout: float = START_TIMEOUT_S) -> str:
        """The first output line containing ``needle``; fails if the process exits first."""

        def found() -> str | None:
            return next((line for line in self.lines if needle in line), None)

        with self._changed:
            self._changed.wait_for(
                lambda: found() is not None or self.popen.poll() is not None, timeout
            )
            line = found()
        assert line is not None, f"{self.name} never said {needle!r}:\n{self.output()}"
        return line

    def output(self) -> str:
        """Everything it printed so far."""
        with self._changed:
            return "\n".join(self.lines)

    def stop(self) -> int:
        """SIGTERM, then its exit code (SIGKILL if it ignores its own drain deadline)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._reader.join(10)
        return self.popen.returncode


@dataclass
class Cluster:
    """Processes started by a test, stopped (last first) when it ends."""

    processes: list[Process] = field(default_factory=list)

    def add(self, process: Process) -> Process:
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def start_server(cluster: Cluster, db: Path) -> str:
    """``agentsight-otel serve`` on a free port with a SQLite file; its base URL."""
    command = [sys.executable, "-m", "agentsight_otel", "serve", "--port", "0"]
    process = cluster.add(
        Process("server", [*command, "--db", str(db), "--api-key", TEST_API_KEY], clean_env())
    )
    line = process.wait_for("listening on ")
    return line.rsplit(" ", 1)[1].strip()


@dataclass
class BridgePorts:
    """Where one bridge listens (fixed, so a restarted bridge comes back on them)."""

    http: int = field(default_factory=free_port)
    grpc: int = field(default_factory=free_port)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc}"


def start_bridge(cluster: Cluster, endpoint: str, ports: BridgePorts, *flags: str) -> Process:
    """``agentsight-otel bridge`` delivering to ``endpoint``, on ``ports``, with a token."""
    command = [
        *(sys.executable, "-m", "agentsight_otel", "bridge"),
        *("--http", f"127.0.0.1:{ports.http}", "--grpc", ports.grpc_target),
        *("--endpoint", endpoint, "--token", BRIDGE_TOKEN, "--drain-timeout", "10"),
        *flags,
    ]
    process = cluster.add(Process("bridge", command, clean_env(AGENTSIGHT_API_KEY=TEST_API_KEY)))
    process.wait_for("OTLP/gRPC listening on ")
    return process


@dataclass
class CollectorPorts:
    """Where the Collector receives OTLP."""

    grpc: int = field(default_factory=free_port)
    http: int = field(default_factory=free_port)


def start_collector(
    cluster: Cluster,
    binary: Path,
    ports: CollectorPorts,
    *,
    bridge: str,
    tracing: str,
    extra: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Process:
    """The built Collector on the repo's collector-config.yaml, ports set by its variables."""
    variables = {
        "OTLP_GRPC_ENDPOINT": f"127.0.0.1:{ports.grpc}",
        "OTLP_HTTP_ENDPOINT": f"127.0.0.1:{ports.http}",
        "AGENTSIGHT_BRIDGE_ENDPOINT": bridge,
        "AGENTSIGHT_BRIDGE_TOKEN": BRIDGE_TOKEN,
        "TRACING_BACKEND_ENDPOINT": tracing,
        **(env or {}),
    }
    command = [
        str(binary),
        f"--config={CONFIG}",
        # Its own metrics would listen on 127.0.0.1:8888; the tests do not read them.
        "--set=service::telemetry::metrics::level=none",
        *extra,
    ]
    process = cluster.add(Process("collector", command, {**os.environ, **variables}))
    process.wait_for(READY)
    return process


def start_stack(
    cluster: Cluster, binary: Path, db: Path, tracing: str
) -> tuple[str, CollectorPorts]:
    """Server, bridge and Collector in front of it: the server's URL and the Collector's ports."""
    server = start_server(cluster, db)
    bridge = BridgePorts()
    start_bridge(cluster, server, bridge)
    ports = CollectorPorts()
    start_collector(cluster, binary, ports, bridge=bridge.http_url, tracing=tracing)
    return server, ports


def node_example(example: Path, target: str) -> str:
    """The node binary, with ``example``'s packages installed by ``make target``."""
    binary = shutil.which("node")
    if binary is None:
        pytest.skip(f"no Node.js: install Node 18+ and run `make {target}`")
    assert (example / "node_modules" / ".package-lock.json").exists(), f"run `make {target}`"
    return binary


def run_producer(
    protocol: str, endpoint: str, prefix: str, count: int, timeout: float = 120.0
) -> list[dict[str, Any]]:
    """tests.collector.producer in a fresh interpreter; what each conversation should land as."""
    result = subprocess.run(
        [
            *(sys.executable, "-m", "tests.collector.producer", "--protocol", protocol),
            *("--endpoint", endpoint, "--prefix", prefix, "--count", str(count)),
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def read(server: str, conversation_id: str, part: str = "") -> Any:
    """A read endpoint of the local server; None when the conversation is not there yet."""
    answer = requests.get(
        f"{server}/api/conversations/{conversation_id}/{part}",
        headers={"Authorization": f"Api-Key {TEST_API_KEY}"},
        timeout=10,
    )
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    return answer.json()


def landed(server: str, want: dict[str, Any]) -> dict[str, Any] | None:
    """What the server holds of one conversation, in the producer's terms (None: not yet)."""
    cid = want["conversation_id"]
    transcript = read(server, cid, "transcript/")
    if transcript is None:
        return None
    usage = read(server, cid, "usage/")["totals"]
    return {
        "conversation_id": cid,
        "messages": [[m["sender"], m["content"]] for m in transcript["messages"]],
        "actions": [a["name"] for a in read(server, cid, "actions/")["actions"]],
        "buttons": [
            [b["event"], b["label"], b["value"]] for b in read(server, cid, "buttons/")["buttons"]
        ],
        "tokens": [usage["input_tokens"], usage["output_tokens"]],
    }


def list_conversations(server: str) -> list[dict[str, Any]]:
    """GET /api/conversations/: every conversation with its counts."""
    answer = requests.get(
        f"{server}/api/conversations/",
        headers={"Authorization": f"Api-Key {TEST_API_KEY}"},
        timeout=10,
    )
    answer.raise_for_status()
    return list(answer.json()["results"])


def poll(check: Callable[[], bool], *, attempts: int = 240, interval: float = 0.5) -> bool:
    """Call ``check`` until it is true, at most ``attempts`` times; whether it became true."""
    for _ in range(attempts):
        if check():
            return True
        time.sleep(interval)
    return check()


class RecordingProxy:
    """A pass-through HTTP proxy in front of the local server that records every ingest.

    The server stores a span once however often it comes; its ingest answer counts the
    duplicates, so the proxy is how a test sees whether anything reached the backend twice.
    """

    def __init__(self, target: str, *, gate: threading.Event | None = None) -> None:
        self.target = target
        self.gate = gate
        self.conversations: Counter[str] = Counter()
        self.spans = 0
        self.duplicates = 0
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.forward(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                proxy.forward(self, self.rfile.read(length))

            def log_message(self, *_: object) -> None:
                return

        return Handler

    def forward(self, handler: BaseHTTPRequestHandler, body: bytes | None) -> None:
        """Send the request on, record an ingest and its answer, answer the same."""
        headers = {
            k: v for k, v in handler.headers.items() if k.lower() not in {"host", "connection"}
        }
        if body is not None and handler.path.startswith("/api/ingest/") and self.gate:
            self.gate.wait(GATE_TIMEOUT_S)  # a stalled backend, until the test opens the gate
        answer = requests.request(
            handler.command, self.target + handler.path, data=body, headers=headers, timeout=30
        )
        if body is not None and handler.path.startswith("/api/ingest/") and answer.ok:
            self._record(body, headers, answer.json())
        handler.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in {
                "content-length",
                "transfer-encoding",
                "connection",
                "content-encoding",
                "date",
                "server",
            }:
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer.content)))
        handler.end_headers()
        handler.wfile.write(answer.content)

    def _record(self, body: bytes, headers: dict[str, str], answer: dict[str, Any]) -> None:
        encoding = {k.lower(): v for k, v in headers.items()}.get("content-encoding", "")
        data = json.loads(gzip.decompress(body) if encoding == "gzip" else body)
        with self._lock:
            self.requests += 1
            for block in data["conversations"]:
                self.conversations[block["conversation_id"]] += len(block["spans"])
            self.spans += answer["accepted"]["spans"]
            self.duplicates += answer["accepted"]["duplicates"]


class TraceSink(trace_service_pb2_grpc.TraceServiceServicer):
    """A plain OTLP/gRPC receiver standing for the team's tracing backend: counts spans."""

    def __init__(self) -> None:
        self.spans = 0
        self.trace_ids: set[bytes] = set()
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._lock:
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    self.spans += len(scope.spans)
                    self.trace_ids.update(span.trace_id for span in scope.spans)
        return trace_service_pb2.ExportTraceServiceResponse()

    def __enter__(self) -> TraceSink:
        self._server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.stop(grace=1).wait(5)


@contextlib.contextmanager
def running(cluster: Cluster) -> Iterator[Cluster]:
    """Stop everything the cluster started, whatever happens."""
    try:
        yield cluster
    finally:
        cluster.stop_all()


def documented_snippet(first_line: str) -> str:
    """A YAML snippet collector-config.yaml documents in its comments, uncommented.

    It starts at the comment line ``first_line`` and runs to the next empty comment line (or
    the comment's end), so the tests run exactly what the file tells operators to paste in.
    """
    lines = CONFIG.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"#   {first_line}")
    block = []
    for line in lines[start:]:
        text = line.strip()
        if text == "#" or not text.startswith("#"):
            break
        block.append(text[1:])
    indent = min(len(line) - len(line.lstrip()) for line in block if line.strip())
    return "\n".join(line[indent:] for line in block) + "\n"


def overlay(path: Path, text: str) -> str:
    """A --config flag for a YAML overlay written to ``path`` (merged over the repo's file)."""
    path.write_text(text)
    return f"--config=file:{path}"
