"""Delivery: maps assembled traces to bodies and posts them on the runtime's io thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from agentsight_otel._delivery.client import IngestClient
from agentsight_otel._delivery.ledger import DeliveryLedger, Settlement
from agentsight_otel._export import posting
from agentsight_otel._export.backlog import Backlog, weigh
from agentsight_otel._export.capabilities import BackendCapabilities
from agentsight_otel._export.posting import SDK, Poster, PostingRound
from agentsight_otel._export.stats import DeliveryStats
from agentsight_otel._log import RateLimitedLog, log_internal_error, logger
from agentsight_otel._mapping.packing import pack
from agentsight_otel._mapping.payload import Block, PayloadBuilder, TraceGroup
from agentsight_otel._runtime import RUNTIME, wait_stopped

if TYPE_CHECKING:
    from agentsight_otel._export.deliveries import DeliveryLog
    from agentsight_otel._export.redelivery import Redelivery


class DeliveryWorker:
    """A bounded queue of trace groups, drained round by round on the runtime's io thread."""

    def __init__(
        self,
        client: IngestClient,
        ledger: DeliveryLedger,
        *,
        max_queue_spans: int = 100_000,
        max_queue_bytes: int = 64 * 1024 * 1024,
        tick: float = 1.0,
        on_tick: Callable[[], list[TraceGroup]] | None = None,
        log: RateLimitedLog | None = None,
        deliveries: DeliveryLog | None = None,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.stats = DeliveryStats()
        self._tick = tick
        self._on_tick = on_tick
        self._log = log or RateLimitedLog()
        self._queue = Backlog(max_queue_spans, max_queue_bytes)
        self._redelivery: Redelivery | None = None
        self._busy = False
        self._closing = False
        self._added = False  # a duty of the io loop (from the first submit until stopped)
        self._stopped = False
        self._first = False  # a spool to look at before waiting for the first tick
        self._next_tick = 0.0
        self._cond = threading.Condition()
        self._spill_lock = threading.Lock()
        self._backend = BackendCapabilities(client)
        self._poster = Poster(client, self._backend, self.stats, self._log)
        self._poster.deliveries = deliveries
        self._told: set[str] = set()  # advice given once per worker (message capture is off)
        self._round: PostingRound | None = None  # the round being posted, for shutdown's loss count
        RUNTIME.adopt(self, DeliveryWorker._forked)

    def use_spool(self, redelivery: Redelivery) -> None:
        """Spool what cannot be delivered; start now to send what an earlier process spooled."""
        with self._cond:
            self._redelivery = self._poster.redelivery = redelivery
            self._busy = self._first = True  # until the first look at the spool: flush() waits
            self._ensure_thread()

    def submit(self, groups: Sequence[TraceGroup]) -> bool:
        """Queue groups for delivery; False (and counted, logged) when the queue is full."""
        size = sum(len(group.records) for group in groups)
        weighed = weigh(groups)
        weight = sum(w for _, w in weighed)
        with self._cond:
            # Started even for an empty round: the idle tick expires traces that wait too long.
            if not self._closing:
                self._ensure_thread(wake=bool(groups))
            if not groups:
                return True
            full = self._closing or not self._queue.fits(size, weight)
            if full and (self._redelivery is None or self._closing):
                self.stats.count(dropped_queue_full=size)
                self._warn_lost(groups, "the delivery queue is full or closed")
                return False
            if not full:
                self._queue.put(weighed)
            if self._redelivery is not None and self._busy and not self._queue.fits(0, 0, share=2):
                # A retry loop holds the thread while the queue grows: cut it short, to disk.
                self.client.interrupt.set()
            self._cond.notify_all()
        if full:
            self._spill(list(groups))
        return True

    def spills(self) -> bool:
        """Whether a full queue goes to disk instead of dropping (there is a spool)."""
        return self._redelivery is not None

    def _spill(self, groups: list[TraceGroup]) -> None:
        """The queue is full and there is a spool: to disk on the caller's thread, not dropped."""
        redelivery = self._redelivery
        assert redelivery is not None
        with self._spill_lock:
            blocks = self._build(groups)
            settlements: list[Settlement | None] = [None] * len(blocks)
            for body in pack(blocks, SDK, self.client.settings.max_body_bytes):
                posting.spool(redelivery, body, settlements, "the delivery queue is full")
            self._settle(blocks, settlements)

    def saturated(self) -> bool:
        """Whether the queue is at its cap: new spans would be dropped (a hint, read unlocked)."""
        return not self._queue.fits(1, 1)

    def refuse(self, spans: int) -> None:
        """Count and report spans dropped before they were queued (the queue was full)."""
        self.stats.count(dropped_queue_full=spans)
        self._log.log(
            logging.WARNING,
            "lost:the delivery queue is full or closed",
            f"{spans} span(s) not delivered: the delivery queue is full "
            f"({self.stats.dropped_queue_full} dropped so far)",
        )

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued has been attempted; False on timeout."""
        with self._cond:
            self._cond.notify_all()
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def shutdown(self, timeout: float, reason: str | None = None) -> bool:
        """Deliver what is queued within ``timeout`` seconds, then stop.

        What is left is reported lost for ``reason`` (by default: shut down before delivery),
        with why the last attempt failed.
        """
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        ended = self._stop(timeout)
        with self._cond:
            left = self._queue.drain()
            stuck = None if ended else self._round
            if stuck is not None:
                stuck.abandoned = True  # the thread, if it ever returns, counts it no more
        self._abandon(left, stuck, reason or "exporter shut down before delivery")
        self.client.transport.close()
        return not left and ended

    def _abandon(self, left: list[TraceGroup], stuck: PostingRound | None, reason: str) -> None:
        """What shutdown could not deliver: to the spool when there is one, else failed.

        Without a spool, the round the stuck thread is posting is lost too: counted with what
        was queued, in one report.
        """
        if self._redelivery is None:
            unsent = stuck.unsent() if stuck is not None else []
            if left or unsent:
                failure = self.client.last_failure
                because = f"{reason} (the last attempt: {failure})" if failure else reason
                self._settle_failed(left, because, unsent)
            return
        self._redelivery.down = True  # everything from here on goes to disk, not the network
        inflight = self._poster.inflight if stuck is not None else None
        if inflight is not None:
            # Its request is still out; the backend keeps one copy if both arrive.
            self._redelivery.hold(inflight.data, posting.span_count(inflight), "shutdown")
        if left:
            self._deliver(left)

    def _forked(self) -> None:
        """In a forked child: fresh lock and thread; the parent delivers what it queued."""
        self._cond = threading.Condition()
        self._spill_lock = threading.Lock()
        self._queue.clear()
        self._poster.inflight, self._busy, self._first = None, False, False
        self.client.interrupt = threading.Event()

    def _ensure_thread(self, wake: bool = True) -> None:
        """Become a duty of the io loop on first use; wake it (called holding the lock)."""
        if not self._added:
            self._added = True
            RUNTIME.io.add(self)
        if wake or not RUNTIME.io.running():
            RUNTIME.io.wake()  # started even for an empty round: the idle tick expires traces

    def due(self, now: float) -> float:
        """Now with a round (or the spool, or closing) waiting; else at the next idle tick."""
        if self._queue or self._first or (self._closing and not self._stopped):
            return 0.0
        return self._next_tick - now

    def work(self) -> None:
        """One round: ticks the assembler, delivers, then replays the spool while idle."""
        with self._cond:
            groups = self._queue.take_round()
            self._busy = bool(groups) or self._first
            closing = self._closing
            if not closing:
                self.client.interrupt.clear()  # set by submit() to spill a full queue
        try:
            if self._on_tick is not None:
                groups.extend(self._on_tick())
            if groups:
                self._deliver(groups)
            if self._redelivery is not None and not closing:
                self._redelivery.replay(self._backend.gzip, lambda: bool(self._queue))
        except Exception:  # the loop must survive anything a batch does to it
            log_internal_error("delivering a round")
        finally:
            with self._cond:
                self._busy = self._first = False
                self._next_tick = time.monotonic() + self._tick
                self._queue.round_done()
                if closing and not self._queue:
                    self._stopped = True
                    RUNTIME.io.remove(self)
                self._cond.notify_all()

    def _stop(self, timeout: float) -> bool:
        """Wait for the last round within ``timeout``, interrupting its waits near the end."""
        if not self._added:
            return True
        RUNTIME.io.wake()
        return wait_stopped(self._cond, lambda: self._stopped, timeout, self.client.interrupt)

    def _deliver(self, groups: list[TraceGroup]) -> None:
        """Map, pack, post and settle one round of groups."""
        if self.client.settings.api_key is None:
            self._settle_failed(groups, self.client.settings.no_key_reason())
            return
        if self._redelivery is None or not self._redelivery.down:
            self._backend.refresh()
        blocks = self._build(groups)
        settlements: list[Settlement | None] = [None] * len(blocks)
        with self._cond:
            self._round = current = PostingRound(blocks)
        try:
            for body in pack(blocks, SDK, self.client.settings.max_body_bytes):
                self._poster.deliver(body, blocks, settlements)
                current.done.update(body.parts)
        finally:
            with self._cond:
                self._round = None
                abandoned = current.abandoned
        if not abandoned:  # else shutdown counted and settled it already
            self._settle(blocks, settlements)

    def _settle(self, blocks: Sequence[Block], settlements: Sequence[Settlement | None]) -> None:
        """Count and settle receipts for every block of a round."""
        for block, settled in zip(blocks, settlements, strict=True):
            settlement = settled or Settlement("delivered")
            self.stats.settled(settlement.status, len(block.spans))
            for root in block.root_span_ids:
                self.ledger.settle(root, settlement)

    def _settle_failed(
        self, groups: Sequence[TraceGroup], reason: str, blocks: Sequence[Block] = ()
    ) -> None:
        """Settle and count groups (and mapped blocks) that will not be delivered."""
        failed = Settlement("failed", reason)
        spans = sum(len(g.records) for g in groups) + sum(len(b.spans) for b in blocks)
        self.stats.settled("failed", spans)
        self._warn_lost(groups, reason, blocks)
        for group in groups:
            for record in group.records:
                self.ledger.settle(record.span_id, failed)
        for block in blocks:
            for root in block.root_span_ids:
                self.ledger.settle(root, failed)

    def _warn_lost(
        self, groups: Sequence[TraceGroup], reason: str, blocks: Sequence[Block] = ()
    ) -> None:
        """The loss warning: never silent, at most once a minute per reason."""
        spans = sum(len(group.records) for group in groups) + sum(len(b.spans) for b in blocks)
        conversations = len(
            {group.conversation_id for group in groups} | {b.conversation_id for b in blocks}
        )
        self._log.log(
            logging.WARNING,
            f"lost:{reason}",
            f"{spans} span(s) of {conversations} conversation(s) not delivered: {reason}",
        )

    def _build(self, groups: list[TraceGroup]) -> list[Block]:
        """Map a round; a conversation whose mapping fails is set apart, not the whole round."""
        try:
            return self._map(groups)
        except Exception:  # then conversation by conversation, to set apart the one that fails
            log_internal_error("mapping a delivery round")
        blocks: list[Block] = []
        for cid in dict.fromkeys(group.conversation_id for group in groups):
            own = [group for group in groups if group.conversation_id == cid]
            try:
                blocks.extend(self._map(own))
            except Exception:
                self._settle_failed(own, "the conversation's spans could not be mapped")
                log_internal_error("mapping a conversation")
        return blocks

    def _map(self, groups: list[TraceGroup]) -> list[Block]:
        """Build the blocks of some groups and report the builder's warnings."""
        builder = PayloadBuilder(self._backend.environments, self.client.settings.redact)
        blocks = builder.build(groups)
        self.stats.count(cut_messages=builder.cut_messages)
        for key, warning in builder.warnings:
            self._log.log(logging.WARNING, key, warning)
        for notice in builder.notices:
            if notice not in self._told and len(self._told) < 64:
                self._told.add(notice)
                logger.info(notice)
        return blocks
