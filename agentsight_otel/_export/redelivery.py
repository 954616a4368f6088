"""Spooling while the backend is away, and sending the spool again once it answers.

After a body fails for good (retries or deadline exhausted) the backend counts as down: new
bodies go straight to the spool without touching the network, and every ``retry_interval``
the oldest spooled body is tried once. When one goes through, the backend is up again and the
spool drains, oldest first, between rounds of new work. Re-sending is safe: the backend keeps
one copy per span id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from agentsight_otel._delivery.client import IngestClient, Outcome
from agentsight_otel._delivery.ledger import Settlement
from agentsight_otel._export.posting import INGEST_PATH, DeliveryStats
from agentsight_otel._export.spool import Spool, SpooledBody
from agentsight_otel._log import RateLimitedLog


class Redelivery:
    """Decides when bodies go to the spool, and brings them back."""

    def __init__(
        self,
        directory: str,
        max_bytes: int,
        client: IngestClient,
        stats: DeliveryStats,
        *,
        log: RateLimitedLog | None = None,
        retry_interval: float = 5.0,
    ) -> None:
        self._log = log or RateLimitedLog()
        self.spool = Spool(directory, max_bytes, log=self._log, on_evict=self._evicted)
        self.client = client
        self.stats = stats
        self.retry_interval = retry_interval
        self.down = False
        self._next_try = 0.0
        # When a look found the spool empty, the next look waits (unless we spool something).
        self._look_after = 0.0

    def hold(self, data: bytes, spans: int, reason: str) -> Settlement:
        """Spool one body; the settlement its interactions get."""
        if not self.spool.put(data, spans):
            return Settlement("failed", f"{reason}; writing it to the spool failed")
        self.stats.spooled_spans += spans
        self._look_after = 0.0
        return Settlement(
            "pending",
            f"not delivered yet ({reason}); spooled to disk, sent when the backend answers again",
        )

    def backend_failed(self, detail: str) -> None:
        """The backend did not take a body: hold new ones until a retry goes through."""
        self._next_try = self.client.clock.now() + self.retry_interval
        if not self.down:
            self.down = True
            self._log.log(
                logging.WARNING,
                "backend-down",
                f"AgentSight ingest unavailable ({detail}): spooling to {self.spool.directory}",
            )

    def replay(self, gzip: bool, busy: Callable[[], bool]) -> None:
        """Send spooled bodies, oldest first, while the backend takes them and nothing waits."""
        now = self.client.clock.now()
        if now < self._look_after or (self.down and now < self._next_try):
            return
        while not self.client.interrupt.is_set():
            body = self.spool.claim_oldest()
            if body is None:
                self._look_after = now + self.retry_interval
                return
            if not self._send(body, gzip) or busy():
                return

    def _evicted(self, spans: int) -> None:
        """The spool dropped its oldest bodies to stay in bounds: those spans are lost."""
        self.stats.evicted_spans += spans

    def _send(self, body: SpooledBody, gzip: bool) -> bool:
        """One spooled body, one attempt; whether to go on with the next."""
        try:
            data = body.read()
        except OSError:
            self.spool.remove(body)
            return True
        timeout = self.client.settings.request_timeout
        outcome = self.client.post_json(INGEST_PATH, data, gzip_body=gzip, deadline=timeout)
        if outcome.ok:
            self.spool.remove(body)
            self.stats.replayed_spans += body.spans
            self._back_up()
            return True
        if outcome.retryable or outcome.status in (401, 403):
            # A refused key is kept too: the bodies go out once the key is fixed.
            self.spool.release(body)
            self.backend_failed(outcome.detail)
            return False
        self._refused(body, data, outcome)
        return True

    def _back_up(self) -> None:
        """A body went through: the backend is back."""
        if self.down:
            self.down = False
            self._log.log(
                logging.INFO, "backend-up", "AgentSight ingest is back: draining the spool"
            )

    def _refused(self, body: SpooledBody, data: bytes, outcome: Outcome) -> None:
        """A terminal answer: keep what the backend did not object to, drop the rest."""
        sdk, entries = _parse(data)
        kept: list[list[dict[str, Any]]] = []
        if outcome.status == 400 and outcome.rejected:
            kept = [[e for i, e in enumerate(entries) if i not in outcome.rejected]]
        elif outcome.status == 413 and len(entries) > 1:
            kept = [entries[: len(entries) // 2], entries[len(entries) // 2 :]]
        resent = 0
        for part in kept:
            if part:
                spans = sum(len(entry.get("spans", ())) for entry in part)
                payload = orjson.dumps({"sdk": sdk, "conversations": part})
                if self.spool.put(payload, spans):
                    resent += spans
        self.spool.remove(body)
        self.stats.rejected_spans += max(0, body.spans - resent)
        self._log.log(
            logging.ERROR,
            "spool-rejected",
            f"AgentSight ingest rejected a spooled body: {outcome.detail}",
        )


def _parse(data: bytes) -> tuple[object, list[dict[str, Any]]]:
    """A body's ``sdk`` entry and conversation blocks (none when it does not parse)."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}, []
    if not isinstance(parsed, dict):
        return {}, []
    blocks = parsed.get("conversations")
    entries = [b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else []
    return parsed.get("sdk", {}), entries
