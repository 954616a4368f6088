"""Delivery receipts: how a tracking call learns what the backend did with its turn."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from agentsight_otel._runtime import RUNTIME, ForkSafeLock

Status = Literal["delivered", "rejected", "failed", "pending", "handed_off"]
# Receipts make their Event only when a caller blocks on one: thousands wait unwatched while
# the backend is away, and an Event (a Condition, a Lock, a deque) is over 1 KB.
_MAKING_EVENTS = ForkSafeLock()


@dataclass(frozen=True)
class Settlement:
    """The final word on one turn root."""

    status: Status
    detail: str = ""


_NOT_YET = Settlement("pending", "not confirmed yet; delivery continues in the background")


class Receipt:
    """A wait handle for one turn root's delivery."""

    __slots__ = ("_callbacks", "_event", "settlement")

    def __init__(self) -> None:
        self._event: threading.Event | None = None
        self.settlement: Settlement | None = None
        self._callbacks: list[Callable[[], None]] | None = None

    def settle(self, settlement: Settlement) -> None:
        """Record the outcome once and wake the waiters."""
        if self.settlement is None:
            self.settlement = settlement
            if self._event is not None:
                self._event.set()
            for callback in self._callbacks or ():
                callback()

    def when_settled(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the settling thread, or at once if settled already.

        Racing a settlement it may be called twice; callbacks must not mind.
        """
        if self._callbacks is None:
            self._callbacks = []
        self._callbacks.append(callback)
        if self.settlement is not None:
            callback()

    def wait(self, timeout: float) -> Settlement:
        """The outcome, or ``pending`` when none arrived within ``timeout`` seconds."""
        if timeout > 0 and self.settlement is None:
            with _MAKING_EVENTS:
                if self._event is None:
                    self._event = threading.Event()
            # Settled while the Event was being made: settle() may not have seen it.
            if self.settlement is None:
                self._event.wait(timeout)
        if self.settlement is not None:
            return self.settlement
        if timeout <= 0:
            return _NOT_YET
        return Settlement(
            "pending", f"not confirmed within {timeout:g} s; delivery continues in the background"
        )


async def wait_settled(receipts: Sequence[Receipt], timeout: float) -> None:
    """Until every receipt is settled or ``timeout`` seconds passed, holding no thread."""
    waiting = [receipt for receipt in receipts if receipt.settlement is None]
    if not waiting or timeout <= 0:
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def check() -> None:
        if not done.done() and all(receipt.settlement is not None for receipt in waiting):
            done.set_result(None)

    def wake() -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed after the wait ended
            loop.call_soon_threadsafe(check)

    for receipt in waiting:
        receipt.when_settled(wake)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(done, timeout)


class DeliveryLedger:
    """Receipts by root span id, bounded; exporters settle, trackers wait.

    Exporters register while they run, so a tracker whose spans go to a pipeline with no
    AgentSight exporter in this process (a Collector route, say) does not wait for nothing.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._receipts: OrderedDict[int, Receipt] = OrderedDict()
        self._lock = threading.Lock()
        self._exporters = 0
        self._traces: OrderedDict[int, str] = OrderedDict()
        RUNTIME.adopt(self, DeliveryLedger._forked)

    def _forked(self) -> None:
        """In a forked child: a fresh lock; the parent's exporters settle nothing here."""
        self._lock = threading.Lock()

    def expect(self, root_span_id: int) -> Receipt:
        """A receipt that the next settlement of this root will fill."""
        receipt = Receipt()
        with self._lock:
            self._receipts[root_span_id] = receipt
            while len(self._receipts) > self._capacity:
                _, oldest = self._receipts.popitem(last=False)
                oldest.settle(Settlement("pending", "too many turns awaiting delivery"))
        return receipt

    def settle(self, root_span_id: int, settlement: Settlement) -> None:
        """Fill the receipt for a root, if anybody expects one."""
        with self._lock:
            receipt = self._receipts.pop(root_span_id, None)
        if receipt is not None:
            receipt.settle(settlement)

    def announce(self, trace_id: int, conversation_id: str) -> None:
        """Tell exporters in this process that a trace belongs to a conversation."""
        with self._lock:
            self._traces[trace_id] = conversation_id
            self._traces.move_to_end(trace_id)
            if len(self._traces) > self._capacity:
                self._traces.popitem(last=False)

    def conversation_of(self, trace_id: int) -> str | None:
        """The conversation a tracker announced for a trace, if any."""
        return self._traces.get(trace_id)

    def exporter_started(self) -> None:
        """An exporter that settles receipts is running in this process."""
        with self._lock:
            self._exporters += 1

    def exporter_stopped(self) -> None:
        """An exporter shut down."""
        with self._lock:
            self._exporters = max(0, self._exporters - 1)

    @property
    def observed(self) -> bool:
        """Whether any running exporter will settle receipts."""
        return self._exporters > 0


DEFAULT_LEDGER = DeliveryLedger()
