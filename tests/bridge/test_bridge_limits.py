"""Body limits, decompression caps, deduplication and the bounded intake, without a network."""

from __future__ import annotations

import asyncio
import gzip
import threading
import zlib
from collections.abc import AsyncIterator

import pytest

from agentsight_otel._bodies import BodyError, content_encoding, inflate, read_capped
from agentsight_otel._bridge.auth import authorized
from agentsight_otel._bridge.dedupe import SeenSpans
from agentsight_otel._bridge.intake import Admission, Intake
from agentsight_otel._mapping.records import Scope, SpanRecord

ENCODINGS = ("gzip", "x-gzip", "deflate")  # what the bridge accepts


def record(span_id: int, trace_id: int = 1) -> SpanRecord:
    """A minimal record."""
    return SpanRecord(
        trace_id, span_id, None, "op", "INTERNAL", 1, 2, "unset", None, {}, [], [], {},
        Scope("", "", ""), None, False, 0, 0, 0,
    )  # fmt: skip


# -- decompression ----------------------------------------------------------------------------


def test_gzip_and_deflate_round_trip() -> None:
    data = b"spans " * 1000
    assert inflate(gzip.compress(data), "gzip", 10_000) == data
    assert inflate(zlib.compress(data), "deflate", 10_000) == data
    assert inflate(data, "", 10_000) == data


def test_concatenated_gzip_members_are_one_body() -> None:
    assert inflate(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", 100) == b"abcd"


def test_a_gzip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000)  # 50 MB of zeros in ~50 kB
    assert len(bomb) < 100_000
    with pytest.raises(BodyError) as caught:
        inflate(bomb, "gzip", 1_000_000)
    assert caught.value.status == 413


def test_exactly_at_the_limit_passes() -> None:
    assert len(inflate(gzip.compress(b"x" * 1000), "gzip", 1000)) == 1000
    with pytest.raises(BodyError) as caught:
        inflate(gzip.compress(b"x" * 1001), "gzip", 1000)
    assert caught.value.status == 413


@pytest.mark.parametrize(
    "body", [b"not gzip", gzip.compress(b"abc")[:-6], gzip.compress(b"a") + b"x"]
)
def test_corrupt_or_truncated_bodies_are_bad_requests(body: bytes) -> None:
    with pytest.raises(BodyError) as caught:
        inflate(body, "gzip", 1000)
    assert caught.value.status == 400


def test_zero_padding_after_the_last_member_is_tolerated_only_where_asked() -> None:
    padded = gzip.compress(b"abc") + b"\0" * 8
    assert inflate(padded, "gzip", 100, zero_padding=True) == b"abc"  # the local server
    with pytest.raises(BodyError) as caught:
        inflate(padded, "gzip", 100)  # the bridge, like the Collector
    assert caught.value.status == 400


def test_encodings() -> None:
    assert (
        content_encoding(None, ENCODINGS) == "" and content_encoding(" GZIP ", ENCODINGS) == "gzip"
    )
    assert content_encoding("identity", ENCODINGS) == "identity"
    with pytest.raises(BodyError) as caught:
        content_encoding("br", ENCODINGS)
    assert caught.value.status == 415


def test_read_capped_stops_reading_past_the_limit() -> None:
    pulled: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for index in range(100):
            pulled.append(index)
            yield b"x" * 100

    with pytest.raises(BodyError) as caught:
        asyncio.run(read_capped(chunks(), 250))
    assert caught.value.status == 413
    assert len(pulled) == 3
    assert asyncio.run(read_capped(chunks(), 10_000)) == b"x" * 10_000


# -- auth -------------------------------------------------------------------------------------


def test_bearer_token() -> None:
    assert authorized(None, None) and authorized("anything", None)
    assert authorized("Bearer s3cret", "s3cret") and authorized("bearer  s3cret ", "s3cret")
    assert not authorized(None, "s3cret")
    assert not authorized("Bearer wrong", "s3cret")
    assert not authorized("Basic s3cret", "s3cret")
    assert not authorized("s3cret", "s3cret")


# -- dedupe and intake ------------------------------------------------------------------------


def test_seen_spans_forget_the_oldest_beyond_capacity() -> None:
    seen = SeenSpans(capacity=3)
    seen.remember([record(1), record(2), record(3)])
    assert seen.fresh([record(1), record(4), record(4)]) == [record(4)]
    seen.remember([record(4)])
    assert len(seen) == 3
    assert seen.fresh([record(1)]) == [record(1)]  # forgotten: the oldest went first
    assert seen.fresh([record(2, trace_id=9)]) == [record(2, trace_id=9)]  # other trace


def test_intake_drops_duplicates_within_and_across_offers() -> None:
    intake = Intake(max_spans=100, max_bytes=10_000, dedupe_memory=100)
    assert intake.offer([record(1), record(1), record(2)], 10) is Admission.ACCEPTED
    assert intake.offer([record(2), record(3)], 10) is Admission.ACCEPTED
    assert intake.offer([record(3)], 10) is Admission.ACCEPTED
    batch = intake.take(0)
    assert batch is not None
    assert [r.span_id for r in batch.records] == [1, 2, 3]
    assert intake.stats.duplicate_spans == 3


def test_intake_is_bounded_in_spans_and_bytes_until_batches_are_done() -> None:
    intake = Intake(max_spans=3, max_bytes=100, dedupe_memory=100)
    assert intake.offer([record(1), record(2)], 10) is Admission.ACCEPTED
    assert intake.offer([record(3), record(4)], 10) is Admission.FULL  # 4 spans > 3
    assert intake.offer([record(5)], 91) is Admission.FULL  # 101 bytes > 100
    batch = intake.take(0)
    assert batch is not None
    assert intake.offer([record(3), record(4)], 10) is Admission.FULL  # taken is still held
    intake.done(batch)
    assert intake.held == (0, 0)
    # A refused offer was not remembered: its retry is accepted, not dropped as a duplicate.
    assert intake.offer([record(3), record(4)], 10) is Admission.ACCEPTED
    assert intake.stats.refused_full == 3


def test_an_empty_intake_takes_one_oversized_request() -> None:
    intake = Intake(max_spans=1, max_bytes=1, dedupe_memory=100)
    assert intake.offer([record(1), record(2)], 50) is Admission.ACCEPTED
    assert intake.offer([record(3)], 1) is Admission.FULL


def test_closed_intake_refuses_and_wakes_its_consumer() -> None:
    intake = Intake(max_spans=10, max_bytes=100, dedupe_memory=10)
    taken: list[object] = []
    consumer = threading.Thread(target=lambda: taken.append(intake.take(30)))
    consumer.start()
    intake.close()
    consumer.join(10)
    assert taken == [None]
    assert intake.offer([record(1)], 1) is Admission.CLOSED


def test_wait_idle_returns_once_batches_are_done() -> None:
    intake = Intake(max_spans=10, max_bytes=100, dedupe_memory=10)
    intake.offer([record(1)], 1)
    assert not intake.wait_idle(0)
    batch = intake.take(0)
    assert batch is not None
    intake.done(batch)
    assert intake.wait_idle(0)
