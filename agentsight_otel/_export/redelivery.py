"""Spooling while the backend is away, and sending the spool again once it answers.

After a body fails for good (retries or deadline exhausted) the backend counts as down: new
bodies go straight to the spool without touching the network, and every ``retry_interval``
the oldest body that is due is tried once. When one goes through, the backend is up again and
the spool drains, oldest first, between rounds of new work. Re-sending is safe: the backend
keeps one copy per span id.

Each body has its own retry state: after a failure it backs off on its own (doubling, up to
16 retry intervals), and bodies never refused go before it. A failure counts against the body itself
(a strike) only when the backend took another body since its previous failure: an outage
strikes nobody. Past ``max_strikes`` a body of several conversations is split in two, and a
body of one conversation is set aside in ``dead/`` (counted as lost, logged, kept to inspect).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from agentsight_otel._delivery.client import IngestClient, Outcome
from agentsight_otel._delivery.ledger import Settlement
from agentsight_otel._export.deliveries import DeliveryLog
from agentsight_otel._export.destination import destination_id
from agentsight_otel._export.posting import INGEST_PATH, KEY_REFUSED
from agentsight_otel._export.spool import Spool, SpooledBody
from agentsight_otel._export.stats import DeliveryStats
from agentsight_otel._log import RateLimitedLog

MAX_STRIKES = 5
SPLIT_AFTER = 2  # failures after which a body of several conversations is split in two
MAX_BACKOFF_SHARE = 16  # a body backs off at most this many retry intervals
_REMEMBERED = 10_000  # bodies whose failures are remembered (the oldest forgotten first)


@dataclass
class _Failures:
    """One spooled body's retry state."""

    count: int = 0
    strikes: int = 0
    due: float = 0.0
    accepted_at: int = 0  # bodies the backend had taken by its last failure


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
        max_strikes: int = MAX_STRIKES,
    ) -> None:
        self._log = log or RateLimitedLog()
        # Only bodies spooled for this endpoint and key are ever sent here.
        destination = destination_id(client.settings.endpoint, client.settings.api_key)
        self.spool = Spool(
            directory, max_bytes, destination=destination, log=self._log, on_evict=self._evicted
        )
        self.client = client
        self.stats = stats
        self.retry_interval = retry_interval
        self.max_strikes = max_strikes
        self.down = False
        self._next_try = 0.0
        # When a look found the spool empty, the next look waits (unless we spool something).
        self._look_after = 0.0
        self._failures: OrderedDict[str, _Failures] = OrderedDict()
        self._accepted = 0
        self.deliveries: DeliveryLog | None = None  # set when each delivery is logged (bridge)

    def hold(self, data: bytes, spans: int, reason: str, *, failed: bool = False) -> Settlement:
        """Spool one body (``failed``: it was just refused itself); its turns' settlement."""
        name = self.spool.put(data, spans)
        if name is None:
            return Settlement("failed", f"{reason}; writing it to the spool failed")
        if failed:
            self._failed(name)
        self.stats.count(spooled_spans=spans)
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
        """Send spooled bodies that are due, oldest first, while the backend takes them."""
        now = self.client.clock.now()
        if now < self._look_after or (self.down and now < self._next_try):
            return
        while not self.client.interrupt.is_set():
            # Bodies never refused first: a body the backend refuses must not be the only probe.
            body = self.spool.claim_oldest(self._fresh) or self.spool.claim_oldest(self._due)
            if body is None:
                self._look_after = now + self.retry_interval
                return
            if not self._send(body, gzip) or busy():
                return

    def _fresh(self, name: str) -> bool:
        """Whether a body has not failed in this process."""
        return name not in self._failures

    def _due(self, name: str) -> bool:
        """Whether a body's own backoff is over (bodies never refused always are)."""
        failures = self._failures.get(name)
        return failures is None or failures.due <= self.client.clock.now()

    def _failed(self, name: str) -> bool:
        """Note a body's failure and back it off; whether it counts against the body itself."""
        failures = self._failures.pop(name, None) or _Failures()
        own = failures.count > 0 and self._accepted > failures.accepted_at
        failures.strikes += own
        failures.count += 1
        failures.accepted_at = self._accepted
        backoff = 2.0 ** min(failures.count - 1, 16)
        failures.due = self.client.clock.now() + self.retry_interval * min(
            MAX_BACKOFF_SHARE, backoff
        )
        self._failures[name] = failures
        while len(self._failures) > _REMEMBERED:
            self._failures.popitem(last=False)
        return own

    def _evicted(self, spans: int) -> None:
        """The spool dropped its oldest bodies to stay in bounds: those spans are lost."""
        self.stats.count(evicted_spans=spans)

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
            self._failures.pop(body.name, None)
            self._accepted += 1
            self.stats.count(replayed_spans=body.spans)
            if self.deliveries is not None:
                self.deliveries.delivered(0, body.spans, outcome.status or 0)
            self._back_up()
            return True
        if outcome.status in KEY_REFUSED:
            # The key or the endpoint, not the body: kept, sent once the backend takes the key.
            self.spool.release(body)
            self.backend_failed(outcome.detail)
            return False
        if outcome.retryable:
            return self._retry_later(body, data, outcome)
        self._refused(body, data, outcome)
        return True

    def _retry_later(self, body: SpooledBody, data: bytes, outcome: Outcome) -> bool:
        """A retryable failure: back the body off; whether the backend still takes others."""
        own = self._failed(body.name)
        failures = self._failures[body.name]
        if failures.count >= SPLIT_AFTER and self._split(body, data):
            return True
        if failures.strikes >= self.max_strikes:
            self._set_aside(body, outcome.detail)
            return True
        self.spool.release(body)
        if own:  # others go through: this body is the trouble, not the backend
            return True
        self.backend_failed(outcome.detail)
        return False

    def _back_up(self) -> None:
        """A body went through: the backend is back, and bodies it failed on are due again."""
        if self.down:
            self.down = False
            for failures in self._failures.values():
                failures.due = 0.0
            self._log.log(
                logging.INFO, "backend-up", "AgentSight ingest is back: draining the spool"
            )

    def _split(self, body: SpooledBody, data: bytes) -> bool:
        """Respool a body of several conversations as two halves; False for one of one."""
        sdk, entries = _parse(data)
        if len(entries) < 2:
            return False
        middle = len(entries) // 2
        written = self._respool(sdk, [entries[:middle], entries[middle:]])
        self.spool.remove(body)
        self._failures.pop(body.name, None)
        self.stats.count(dead_spans=max(0, body.spans - written))
        return True

    def _set_aside(self, body: SpooledBody, detail: str) -> None:
        """Past its strikes, a body of one conversation goes to ``dead/``, counted and logged."""
        self._failures.pop(body.name, None)
        where = self.spool.set_aside(body)
        self.stats.count(dead_spans=body.spans)
        self._log.log(
            logging.ERROR,
            "spool-dead",
            f"AgentSight ingest kept refusing a spooled body ({detail}) while taking others: "
            f"{body.spans} span(s) set aside, not delivered"
            + (f", kept in {where}" if where is not None else ""),
        )

    def _refused(self, body: SpooledBody, data: bytes, outcome: Outcome) -> None:
        """A terminal answer: keep what the backend did not object to, drop the rest."""
        sdk, entries = _parse(data)
        kept: list[list[dict[str, Any]]] = []
        if outcome.status == 400 and outcome.rejected:
            kept = [[e for i, e in enumerate(entries) if i not in outcome.rejected]]
        elif outcome.status == 413 and len(entries) > 1:
            kept = [entries[: len(entries) // 2], entries[len(entries) // 2 :]]
        resent = self._respool(sdk, kept)
        self.spool.remove(body)
        self._failures.pop(body.name, None)
        self.stats.count(rejected_spans=max(0, body.spans - resent))
        self._log.log(
            logging.ERROR,
            "spool-rejected",
            f"AgentSight ingest rejected a spooled body: {outcome.detail}",
        )

    def _respool(self, sdk: object, parts: list[list[dict[str, Any]]]) -> int:
        """Spool each non-empty part as a body of its own; the spans written."""
        written = 0
        for part in parts:
            if part:
                spans = sum(len(entry.get("spans", ())) for entry in part)
                payload = orjson.dumps({"sdk": sdk, "conversations": part})
                if self.spool.put(payload, spans) is not None:
                    written += spans
        return written


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
