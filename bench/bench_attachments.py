"""Peak memory of a 20 MB attachment upload: the bytes are never held twice.

Each case tracks one 20 MB file through ``ConversationTracker`` and waits (``send_tracked_data``)
until the tracker's background uploader has sent it. The transport drains the body the way
``requests`` does (chunk by chunk, into the socket) and checks every byte arrived; one case
goes over real HTTP into the project's local server, whose memory is then counted as well.

Figures: the Python heap peak above the state before the call (``tracemalloc``, every thread),
and in the full run also the process's resident-set high-water mark above the same point
(``VmHWM - VmRSS``, each case in a fresh interpreter without tracemalloc). The file size is the
yardstick: a copy of the file would add 1.0, base64 of it 1.33.

The reference row does what the vendor SDK 0.1.4 does for the same file (``read()``, base64,
a JSON document, its UTF-8 body), minus the network.

    python -m bench.bench_attachments [--quick]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import logging
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from agentsight_otel import ConversationTracker
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._delivery.transport import Body, HttpResponse
from agentsight_otel._server.multipart import (
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_of,
)
from agentsight_otel.server import LocalServer
from bench.report import print_rows

KEY = "ags_0123456789abcdef0123456789abcdef_abcdef"
MIB = 1024 * 1024
SIZE = 20 * MIB
ENDPOINT = "http://agentsight.bench"


class DrainTransport:
    """Consumes bodies chunk by chunk (as a socket would) and answers like the backend.

    Upload bodies are spooled to disk as they stream past (no memory held) and checked after
    the measurement: their files' hashes must match the original.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._bodies: list[tuple[str, Path]] = []

    def request(
        self, method: str, url: str, body: Body | None, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        """Drain the body; a pk for upserts, 201 for uploads."""
        chunks = [body] if isinstance(body, bytes) else body or []
        if not url.endswith("/api/attachments/"):
            for _ in chunks:
                pass
            return HttpResponse(201, {}, b'{"id": 1}')
        spool = self._directory / f"body-{len(self._bodies)}"
        with open(spool, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        self._bodies.append((headers.get("Content-Type", ""), spool))
        return HttpResponse(201, {}, b'{"id": 2}')

    @property
    def digests(self) -> list[str]:
        """sha256 of every file in every upload body, read back from the spool."""
        found = []
        for content_type, spool in self._bodies:
            drain = _multipart_files if content_type.startswith("multipart/") else _json_files
            with open(spool, "rb") as handle:
                found += drain(iter(lambda: handle.read(MIB), b""), content_type)
        return found

    def close(self) -> None:
        """Nothing to release."""


def _multipart_files(chunks: Iterator[bytes], content_type: str) -> list[str]:
    """sha256 of each file part of a streamed multipart body."""
    parser = MultipartParser(boundary_of(content_type))
    digests, current = [], None
    for chunk in chunks:
        for event in parser.feed(chunk):
            if isinstance(event, PartStart):
                current = hashlib.sha256() if event.filename is not None else None
            elif isinstance(event, PartData) and current is not None:
                current.update(event.data)
            elif isinstance(event, PartEnd) and current is not None:
                digests.append(current.hexdigest())
    return digests


def _json_files(chunks: Iterator[bytes], content_type: str) -> list[str]:
    """sha256 of each base64 ``data`` string of a streamed JSON body, decoded as it passes."""
    marker, digests = b'"data": "', []
    window, current, pending = b"", None, b""
    for chunk in chunks:
        window += chunk
        while window:
            if current is None:
                at = window.find(marker)
                if at < 0:
                    window = window[-len(marker) :]
                    break
                window, current = window[at + len(marker) :], hashlib.sha256()
                continue
            end = window.find(b'"')
            text = pending + (window if end < 0 else window[:end])
            whole = len(text) - len(text) % 4 if end < 0 else len(text)
            current.update(base64.b64decode(text[:whole], validate=True))
            pending = text[whole:]
            if end < 0:
                window = b""
                break
            digests.append(current.hexdigest())
            window, current, pending = window[end + 1 :], None, b""
    return digests


def make_file(directory: Path) -> Path:
    """20 MB of incompressible, deterministic bytes with a PDF signature."""
    path = directory / "big.pdf"
    with open(path, "wb") as handle:
        handle.write(b"%PDF-1.7\n")
        block = hashlib.sha512(b"seed").digest() * 16384  # 1 MiB
        while handle.tell() < SIZE:
            handle.write(block[: SIZE - handle.tell()])
    return path


# Each case: (description, mode, what the caller passes, built from the file's path).
Input = Callable[[Path], Any]
CASES: dict[str, tuple[str, str, Input]] = {
    "form_data-file-object": (
        "form_data, open binary file object (multipart, streamed from our descriptor)",
        "form_data",
        lambda path: {"data": open(path, "rb"), "filename": "big.pdf"},  # noqa: SIM115
    ),
    "base64-file-object": (
        "base64 mode, open binary file object (JSON, base64 encoded chunk by chunk)",
        "base64",
        lambda path: {"data": open(path, "rb")},  # noqa: SIM115
    ),
    "form_data-path": (
        "form_data, a pathlib.Path",
        "form_data",
        lambda path: path,
    ),
    "form_data-bytes": (
        "form_data, bytes the caller holds (referenced, not copied)",
        "form_data",
        lambda path: {"data": path.read_bytes(), "filename": "big.pdf"},
    ),
    "base64-str": (
        "base64 mode, the seed's base64 str the caller holds (sent as is)",
        "base64",
        lambda path: {"filename": "big.pdf", "data": base64.b64encode(path.read_bytes()).decode()},
    ),
    "form_data-bytesio": (
        "form_data, io.BufferedReader over a stream without a descriptor (read once)",
        "form_data",
        lambda path: {"data": io.BufferedReader(io.BytesIO(path.read_bytes()))},
    ),
    "form_data-file-object-http": (
        "form_data, file object, real HTTP into the local server (its memory counted too)",
        "form_data",
        lambda path: {"data": open(path, "rb")},  # noqa: SIM115
    ),
}
VENDOR = "vendor-reference"


class StoredFiles:
    """The digests the local server stored (what arrived over HTTP)."""

    def __init__(self, server: LocalServer) -> None:
        self._server = server

    @property
    def digests(self) -> list[str]:
        """sha256 of every stored file, in order."""
        store = self._server.store
        return [
            f["sha256"] for c in store.conversations() for f in store.files(c["conversation_id"])
        ]


@contextmanager
def tracker_for(
    case: str, spool: Path
) -> Iterator[tuple[ConversationTracker, DrainTransport | StoredFiles]]:
    """A tracker whose uploads go to a draining transport, or over HTTP to a local server."""
    quiet = TracerProvider()  # spans are not what is measured here
    if case.endswith("-http"):
        with LocalServer(api_keys=[KEY]) as server:
            tracker = ConversationTracker(
                tracer_provider=quiet, _ledger=DeliveryLedger(), api_key=KEY, endpoint=server.url
            )
            yield tracker, StoredFiles(server)
            tracker.shutdown(10)
        return
    transport = DrainTransport(spool)
    tracker = ConversationTracker(
        tracer_provider=quiet,
        _ledger=DeliveryLedger(),
        api_key=KEY,
        endpoint=ENDPOINT,
        _transport=transport,
    )
    yield tracker, transport
    tracker.shutdown(10)


def measure(case: str, path: Path, traced: bool) -> dict[str, Any]:
    """One case: peak memory above the moment before the caller's input was handed over."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(MIB), b""):
            digest.update(block)
    expected = digest.hexdigest()
    spool = tempfile.TemporaryDirectory(prefix="bench-spool-")
    with spool, tracker_for(case, Path(spool.name)) as (tracker, transport):
        tracker.get_or_create_conversation(f"bench-{case}")
        _, mode, build = CASES[case] if case != VENDOR else ("", "base64", None)
        item = build(path) if build is not None else None  # the caller's own copy, if any
        _reset_peak_rss()
        rss = _status("VmRSS")
        if traced:
            tracemalloc.start()
        start, began = tracemalloc.get_traced_memory()[0], perf_counter()
        if case == VENDOR:
            _vendor_upload(path, transport)
            uploaded = "delivered"
        else:
            tracker.track_attachments([item], mode=mode)
            # Spans go nowhere here ("handed_off"); the upload's own verdict is what counts.
            uploaded = tracker.send_tracked_data(timeout=60)["items"][0]["upload"]
        elapsed = perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1] - start if traced else None
        if traced:
            tracemalloc.stop()
        hwm = _status("VmHWM")
        del item
        arrived = transport.digests
    ok = uploaded == "delivered" and arrived == [expected]
    return {
        "traced_peak_mb": None if peak is None else round(peak / MIB, 2),
        "rss_peak_mb": round((hwm - rss) / 1024, 1) if hwm and rss else None,
        "seconds": round(elapsed, 3),
        "delivered_intact": ok,
    }


def _vendor_upload(path: Path, transport: DrainTransport | StoredFiles) -> None:
    """What agentsight 0.1.4's upload_attachments builds for one file (network excluded)."""
    try:
        from agentsight.sdk.uploads import _normalize
    except ImportError:  # the vendor SDK is a dev dependency only
        raw = path.read_bytes()
        entry = {"filename": path.name, "data": base64.b64encode(raw).decode("ascii")}
    else:
        entry = _normalize(path, 0)
    payload = {"conversation": "1", "mode": "base64", "attachments": [entry]}
    body = json.dumps(payload).encode("utf-8")  # what requests' json= sends
    assert isinstance(transport, DrainTransport)
    headers = {"Content-Type": "application/json"}
    transport.request("POST", ENDPOINT + "/api/attachments/", body, headers, 10)


def _reset_peak_rss() -> None:
    """Start VmHWM afresh from the current RSS (Linux 4.0+), so earlier peaks do not count."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _status(field: str) -> int | None:
    """A /proc/self/status figure in KiB (Linux), else None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _in_fresh_interpreter(case: str, path: Path) -> dict[str, Any]:
    """The RSS figure, measured in a new process without tracemalloc's own overhead."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_attachments", "--case", case, "--file", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def run(quick: bool) -> list[dict[str, Any]]:
    """One row per case: heap peak (and, in the full run, RSS peak) for a 20 MB file."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-attachments-") as directory:
        path = make_file(Path(directory))
        for case in [*CASES, VENDOR]:
            figures = measure(case, path, traced=True)
            if not quick:
                figures["rss_peak_mb"] = _in_fresh_interpreter(case, path)["rss_peak_mb"]
            else:
                figures["rss_peak_mb"] = None
            description = (
                CASES[case][0]
                if case in CASES
                else (
                    "reference: the vendor SDK's upload body for the same file (read, base64, JSON)"
                )
            )
            peak = figures["traced_peak_mb"]
            rows.append(
                {
                    "benchmark": "attachment_upload_memory",
                    "case": case,
                    "description": description,
                    "file_mb": SIZE / MIB,
                    **figures,
                    "peak_per_file_size": round(peak / (SIZE / MIB), 2),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run and print the rows as JSON lines (or one case's figures, for the RSS runs)."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_attachments", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="heap figures only (no RSS runs)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.getLogger("agentsight_otel").setLevel(logging.ERROR)
    if args.case:
        print(json.dumps(measure(args.case, Path(args.file), traced=False)), flush=True)
        return 0
    return print_rows(run(args.quick))


if __name__ == "__main__":
    raise SystemExit(main())
