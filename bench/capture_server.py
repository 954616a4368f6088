"""The end-to-end benchmark's capture server: counts spans it receives, in a process of its own.

``python -m bench.capture_server`` prints its port on the first line of stdout and serves until
stdin closes. Every path starts with a run name, so each measured process counts on its own:

- ``GET /<run>/api/me/``: AgentSight's capabilities answer (``gzip-ingest``), as the backend does.
- ``POST /<run>/api/ingest/``: an AgentSight ingest body (JSON, gzip or not); counts its spans.
- ``POST /<run>/v1/traces``: an OTLP/HTTP protobuf body (gzip or not); counts its spans.
- ``GET /<run>/wait?spans=N&timeout=S``: answers once the run holds N spans (or S seconds
  passed) with ``{"spans": count}``: the application waits with one request, not by polling.

The answer to a POST goes out before its body is decoded and counted, so the server never makes
a client wait on its own parsing.
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

ME = json.dumps({"capabilities": ["gzip-ingest"], "environments": ["production"]}).encode()
OTLP_OK = ExportTraceServiceResponse().SerializeToString()


class Tally:
    """Spans received per run, with a condition to wait on."""

    def __init__(self) -> None:
        self.spans: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.changed = threading.Condition()

    def add(self, run: str, spans: int) -> None:
        """Count a body's spans."""
        with self.changed:
            self.spans[run] += spans
            self.requests[run] += 1
            self.changed.notify_all()

    def wait(self, run: str, spans: int, timeout: float) -> dict[str, int]:
        """Wait until the run holds ``spans`` spans, at most ``timeout`` seconds."""
        with self.changed:
            self.changed.wait_for(lambda: self.spans[run] >= spans, timeout)
            return {"spans": self.spans[run], "requests": self.requests[run]}


def ingest_spans(body: bytes) -> int:
    """Spans in an AgentSight ingest body."""
    return sum(len(block["spans"]) for block in json.loads(body)["conversations"])


def otlp_spans(body: bytes) -> int:
    """Spans in an OTLP/HTTP protobuf export request."""
    request = ExportTraceServiceRequest.FromString(body)
    return sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)


class Handler(BaseHTTPRequestHandler):
    """Routes by the path after the run name."""

    protocol_version = "HTTP/1.1"  # keep-alive, as real backends and collectors do
    disable_nagle_algorithm = True  # headers and body in two writes must not wait on an ACK
    tally: Tally

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self) -> None:
        """Capabilities, or a wait for a span count."""
        url = urlsplit(self.path)
        run, _, rest = url.path.strip("/").partition("/")
        if rest == "api/me":
            self._answer(200, ME, "application/json")
        elif rest == "wait":
            query = parse_qs(url.query)
            seen = self.tally.wait(
                run, int(query["spans"][0]), float(query.get("timeout", ["60"])[0])
            )
            self._answer(200, json.dumps(seen).encode(), "application/json")
        else:
            self._answer(404, b"{}", "application/json")

    def do_POST(self) -> None:
        """An ingest or OTLP body: answered at once, then counted."""
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        run, _, rest = urlsplit(self.path).path.strip("/").partition("/")
        if rest == "api/ingest":
            self._answer(200, b"{}", "application/json")
            count = ingest_spans
        elif rest == "v1/traces":
            self._answer(200, OTLP_OK, "application/x-protobuf")
            count = otlp_spans
        else:
            self._answer(404, b"{}", "application/json")
            return
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.tally.add(run, count(body))


def main() -> int:
    """Serve on a free port of 127.0.0.1 until stdin closes."""
    Handler.tally = Tally()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
