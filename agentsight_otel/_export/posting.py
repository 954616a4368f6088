"""Posting packed ingest bodies: halved on 413, rejected blocks dropped on 400, the rest settled."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agentsight_otel._delivery.client import IngestClient, Outcome
from agentsight_otel._delivery.ledger import Settlement, Status
from agentsight_otel._export.capabilities import BackendCapabilities
from agentsight_otel._export.stats import DeliveryStats
from agentsight_otel._log import RateLimitedLog
from agentsight_otel._mapping.packing import IngestBody
from agentsight_otel._mapping.payload import Block
from agentsight_otel._version import SDK_NAME, __version__

if TYPE_CHECKING:
    from agentsight_otel._export.deliveries import DeliveryLog
    from agentsight_otel._export.redelivery import Redelivery

SDK = {"name": SDK_NAME, "version": __version__}
INGEST_PATH = "/api/ingest/"
# Answers about the key or the endpoint, not the body: with a spool, bodies wait for a fix.
KEY_REFUSED = frozenset({401, 403, 404})


class Poster:
    """Posts one round's bodies and records a settlement for each block it could not deliver."""

    def __init__(
        self,
        client: IngestClient,
        backend: BackendCapabilities,
        stats: DeliveryStats,
        log: RateLimitedLog,
    ) -> None:
        self.redelivery: Redelivery | None = None  # set once the exporter spools
        self.inflight: IngestBody | None = None  # the body whose request is out
        self.deliveries: DeliveryLog | None = None  # set when each delivery is logged (bridge)
        self._client = client
        self._backend = backend
        self._stats = stats
        self._log = log

    def deliver(
        self, body: IngestBody, blocks: Sequence[Block], settlements: list[Settlement | None]
    ) -> None:
        """Decide a body's fate, the one place that does: to the spool while the backend is
        known to be down, else posted (then delivered, split, rejected, spooled or failed)."""
        if self.redelivery is not None and self.redelivery.down:
            spool(self.redelivery, body, settlements, "the backend is unavailable")
        else:
            self.post(body, blocks, settlements)

    def post(
        self, body: IngestBody, blocks: Sequence[Block], settlements: list[Settlement | None]
    ) -> None:
        """Post one body, splitting on 413 and retrying without blocks a 400 named."""
        self._stats.count(requests=1)
        self.inflight = body
        try:
            outcome = self._client.post_json(INGEST_PATH, body.data, gzip_body=self._backend.gzip)
        finally:
            self.inflight = None
        if outcome.ok:
            if self.deliveries is not None:
                self.deliveries.delivered(len(body.entries), span_count(body), outcome.status or 0)
            return
        if outcome.status == 413 and len(body.parts) > 1:
            for half in body.halves(SDK):
                self.post(half, blocks, settlements)
            return
        named = {p: m for p, m in outcome.rejected.items() if 0 <= p < len(body.parts)}
        if outcome.status == 400 and named:
            for position, message in named.items():
                settlements[body.parts[position]] = Settlement("rejected", message)
                self._log.log(
                    logging.ERROR,
                    "post-rejected",
                    f"AgentSight ingest rejected conversation "
                    f"{blocks[body.parts[position]].conversation_id!r}: "
                    f"{outcome.detail}: {message}",
                )
            kept = body.without(set(named), SDK)
            if kept is not None:
                self.post(kept, blocks, settlements)
            return
        self._record_failure(body, outcome, settlements)

    def _record_failure(
        self, body: IngestBody, outcome: Outcome, settlements: list[Settlement | None]
    ) -> None:
        """Spool a body the spool can keep; else mark it failed (retryable) or rejected."""
        kept = outcome.retryable or outcome.status in KEY_REFUSED
        if kept and self.redelivery is not None:
            self.redelivery.backend_failed(outcome.detail)
            # A refused key says nothing about the body: it does not count against it.
            failed = outcome.status not in KEY_REFUSED
            spool(self.redelivery, body, settlements, outcome.detail, failed=failed)
            return
        status: Status = "failed" if outcome.retryable else "rejected"
        for index in body.parts:
            settlements[index] = Settlement(status, outcome.detail)
        self._log.log(
            logging.WARNING if outcome.retryable else logging.ERROR,
            f"post-{status}",
            f"AgentSight ingest {status}, {span_count(body)} span(s) of {len(set(body.parts))} "
            f"conversation(s) not delivered: {outcome.detail}",
        )


def span_count(body: IngestBody) -> int:
    """Spans a body carries."""
    return sum(len(entry["spans"]) for entry in body.entries)


def spool(
    redelivery: Redelivery,
    body: IngestBody,
    settlements: list[Settlement | None],
    reason: str,
    *,
    failed: bool = False,
) -> None:
    """Spool a body instead of posting it; its blocks' settlement is the spool's."""
    settlement = redelivery.hold(body.data, span_count(body), reason, failed=failed)
    if settlement.status == "failed" and len(body.parts) > 1:
        # One failed write (a file too big, a full disk) must not cost every conversation.
        for position, index in enumerate(body.parts):
            single = IngestBody.of(SDK, [index], [body.entries[position]])
            one = redelivery.hold(single.data, span_count(single), reason, failed=failed)
            if settlements[index] is None or one.status == "failed":
                settlements[index] = one
        return
    for index in body.parts:
        settlements[index] = settlement


class PostingRound:
    """The blocks of the round being posted, and which of them have had their post."""

    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = blocks
        self.done: set[int] = set()
        self.abandoned = False

    def unsent(self) -> list[Block]:
        """The blocks whose post has not come back: the one in flight and those after it."""
        return [block for index, block in enumerate(self.blocks) if index not in self.done]
