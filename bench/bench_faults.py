"""What was accepted is delivered: conversations accepted and delivered, spans counted lost.

``python -m bench.bench_faults [--outage SECONDS]`` (default 60) prints JSON rows; ``make bench``
runs it after the speed report. Two routes, each with its spool: the in-process
``AgentSightSpanExporter`` (under a ``BatchSpanProcessor``) and the bridge (the real OTLP/HTTP
exporter in front of it). The local server stands behind the fault proxy. For each fault,
conversations are tracked at a steady rate for the outage's length, then the backend recovers
and the run waits (at most ``RECOVERY_S``) for delivery:

- ``outage``: every ingest request answered 503;
- ``trickle``: every ingest answer comes one byte a second (the watchdog ends each request at
  ``request_timeout``);
- ``poison``: one conversation's bodies answered 500 forever, the rest taken.

``accepted`` counts the conversations whose spans the route took from the application (the
exporter's ``export`` or the bridge's 2xx answers), ``delivered`` those of them that reached the
server, ``lost_spans`` what the route counted (and logged) as lost, ``bodies_waiting_in_spool``
what is still on disk: the poison body, until it is set aside (it counts against itself only
while the backend takes others, so it waits once traffic stops).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from agentsight_otel import AgentSightSpanExporter, ConversationTracker
from agentsight_otel import _semconv as sc
from agentsight_otel._bridge.config import Address, BridgeConfig
from agentsight_otel._bridge.runner import Bridge
from agentsight_otel._config import resolve_settings
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY
from bench.report import print_rows
from tests.reliability.helpers import WireLog, converse, plain_body
from tests.support.faults import Fault, FaultProxy, Forward, Request, Respond, Trickle

RATE = 20  # conversations a second during the fault
POISON = "poison-conversation"
RECOVERY_S = 180.0  # the longest the run waits for delivery after the fault
# A route: a tracker, and a reader of (accepted conversations, lost spans, provider).
Route = Iterator[tuple[ConversationTracker, Callable[[], tuple[set[str], int, TracerProvider]]]]


class Accepted(SpanExporter):
    """An exporter in front of another, noting the conversations whose spans it took."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.conversations: set[str] = set()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export, and note what was taken."""
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            for span in spans:
                cid = (span.attributes or {}).get(sc.CONVERSATION_ID)
                if isinstance(cid, str):
                    self.conversations.add(cid)
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """The inner exporter's."""
        return self.inner.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """The inner exporter's."""
        self.inner.shutdown()


def _poison(request: Request) -> Fault | None:
    """500 to every ingest body carrying the poison conversation."""
    if request.path == "/api/ingest/" and POISON.encode() in plain_body(request):
        return Respond(500)
    return None


@contextmanager
def _exporter_route(url: str, spool: str) -> Route:
    """A tracker on the in-process exporter."""
    ledger = DeliveryLedger()
    exporter = AgentSightSpanExporter(
        api_key=TEST_API_KEY, endpoint=url, spool_dir=spool, _ledger=ledger
    )
    accepted = Accepted(exporter)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(accepted))
    tracker = ConversationTracker(tracer_provider=provider, _ledger=ledger)
    try:
        yield tracker, lambda: (accepted.conversations, exporter.stats.lost_spans, provider)
    finally:
        tracker.shutdown(5)
        provider.shutdown()


@contextmanager
def _bridge_route(url: str, spool: str) -> Route:
    """A tracker exporting OTLP/HTTP to a bridge."""
    config = BridgeConfig(http_address=Address("127.0.0.1", 0), grpc_address=None, spool_dir=spool)
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint=url)
    with Bridge(config, settings=settings) as bridge:
        assert bridge.pipeline is not None
        delivery = bridge.pipeline.exporter.stats
        accepted = Accepted(OTLPSpanExporter(endpoint=f"{bridge.http_url}/v1/traces"))
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(BatchSpanProcessor(accepted))
        tracker = ConversationTracker(tracer_provider=provider, _ledger=DeliveryLedger())
        try:
            yield tracker, lambda: (accepted.conversations, delivery.lost_spans, provider)
        finally:
            tracker.shutdown(5)
            provider.shutdown()


ROUTES = {"exporter": _exporter_route, "bridge": _bridge_route}
FAULTS: dict[str, Fault | None] = {"outage": Respond(503), "trickle": Trickle(1.0), "poison": None}


def scenario(route: str, fault: str, outage_s: float) -> dict[str, Any]:
    """One route through one fault: its row of figures."""
    wire = WireLog()
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalServer(Path(tmp) / "db.sqlite") as server,
        FaultProxy(server.url) as proxy,
    ):
        proxy.default = FAULTS[fault] or Forward()
        proxy.judge = _poison if fault == "poison" else None
        proxy.observer = wire.observe
        with ROUTES[route](proxy.url, str(Path(tmp) / "spool")) as (tracker, read):
            if fault == "poison":
                converse(tracker, POISON)
            _traffic(tracker, f"{route}-{fault}", outage_s)
            proxy.default = Forward()
            accepted, _, provider = read()
            provider.force_flush()
            end = time.monotonic() + RECOVERY_S
            while not _settled(wire, set(accepted), read()[1]) and time.monotonic() < end:
                threading.Event().wait(0.5)
            lost = read()[1]
        waiting = len(list((Path(tmp) / "spool").glob("*.body")))
    return {
        "kind": "fault",
        "route": route,
        "fault": fault,
        "seconds": outage_s,
        "accepted_conversations": len(accepted),
        "delivered_conversations": len(accepted & _arrived(wire)),
        "lost_spans": lost,
        "bodies_waiting_in_spool": waiting,
    }


def _arrived(wire: WireLog) -> set[str]:
    """Conversations with spans that reached the server."""
    return {cid for cid, _ in list(wire.arrivals)}


def _settled(wire: WireLog, accepted: set[str], lost: int) -> bool:
    """Every accepted conversation arrived but the poison (kept in the spool, or set aside)."""
    return accepted - _arrived(wire) <= {POISON}


def _traffic(tracker: ConversationTracker, prefix: str, seconds: float) -> None:
    """Conversations at ``RATE`` a second for ``seconds``."""
    start, made = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        converse(tracker, f"{prefix}-{made}")
        made += 1
        threading.Event().wait(max(0.0, start + made / RATE - time.monotonic()))


def run(outage_s: float = 60.0) -> list[dict[str, Any]]:
    """Every route through every fault."""
    return [scenario(route, fault, outage_s) for fault in FAULTS for route in ROUTES]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run, print the rows."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_faults", description=__doc__)
    parser.add_argument("--outage", type=float, default=60.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    return print_rows(run(args.outage))


if __name__ == "__main__":
    raise SystemExit(main())
