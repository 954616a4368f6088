"""What waits for the delivery thread: trace groups, bounded in spans and in estimated bytes.

Not thread-safe by itself: the worker holds its condition's lock around every call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from agentsight_otel._export.sizing import approx_bytes
from agentsight_otel._mapping.payload import TraceGroup

Weighed = tuple[TraceGroup, int]


def weigh(groups: Sequence[TraceGroup]) -> list[Weighed]:
    """Each group with its estimated size (done before taking the lock)."""
    return [(group, approx_bytes(group)) for group in groups]


class Backlog:
    """A FIFO of weighed groups; the round being delivered still counts against the bytes."""

    def __init__(self, max_spans: int, max_bytes: int) -> None:
        self.max_spans = max_spans
        self.max_bytes = max_bytes
        self._groups: deque[Weighed] = deque()
        self.spans = 0
        self.bytes = 0
        self.round_bytes = 0

    def __bool__(self) -> bool:
        return bool(self._groups)

    def fits(self, spans: int, weight: int, *, share: int = 1) -> bool:
        """Whether this much more stays within the caps (or within 1/``share`` of them)."""
        return (self.spans + spans) * share <= self.max_spans and (
            self.bytes + self.round_bytes + weight
        ) * share <= self.max_bytes

    def put(self, weighed: Sequence[Weighed]) -> None:
        """Queue weighed groups."""
        self._groups.extend(weighed)
        self.spans += sum(len(group.records) for group, _ in weighed)
        self.bytes += sum(weight for _, weight in weighed)

    def take_round(self) -> list[TraceGroup]:
        """Groups up to a quarter of the byte cap (at least one), now counted as the round.

        Mapping and packing a round costs about twice its spans again, so rounds stay small
        enough for the backlog and the round together to keep within the cap.
        """
        groups: list[TraceGroup] = []
        weight = 0
        while self._groups and (not groups or weight < self.max_bytes // 4):
            group, size = self._groups.popleft()
            groups.append(group)
            weight += size
        self.spans -= sum(len(group.records) for group in groups)
        self.bytes -= weight
        self.round_bytes = weight
        return groups

    def round_done(self) -> None:
        """The round was delivered (or spooled, or given up on)."""
        self.round_bytes = 0

    def drain(self) -> list[TraceGroup]:
        """Everything still waiting, removed."""
        groups = [group for group, _ in self._groups]
        self.clear()
        return groups

    def clear(self) -> None:
        """Forget everything (a forked child: the parent delivers it)."""
        self._groups.clear()
        self.spans = self.bytes = self.round_bytes = 0
