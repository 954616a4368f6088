"""The export path's hand-made text forms equal what the standard library writes."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from agentsight_otel._ids import hex_span_id, hex_trace_id
from agentsight_otel._mapping import timefmt
from agentsight_otel._mapping.timefmt import iso_utc


def _reference(ns: int) -> str:
    """The contract's form by way of datetime (microseconds truncated)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc).replace(microsecond=rest // 1000)
    return moment.isoformat(timespec="microseconds")


def test_timestamps_equal_datetimes_isoformat() -> None:
    chosen = random.Random(7)
    stamps = [0, 999, 1_000, 999_999_999, 1_000_000_000, 1_763_700_000_000_000_000]
    stamps += [chosen.randrange(0, 253_402_300_800 * 10**9) for _ in range(2_000)]
    assert [iso_utc(ns) for ns in stamps] == [_reference(ns) for ns in stamps]


def test_timestamps_outside_the_iso_years_are_clamped() -> None:
    assert iso_utc(-5) == "1970-01-01T00:00:00.999999+00:00"
    assert iso_utc(10**30).startswith("9999-12-31T23:59:59.")


def test_the_per_second_cache_stays_bounded_and_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timefmt, "_MAX_TEMPLATES", 8)
    monkeypatch.setattr(timefmt, "_TEMPLATES", {})
    stamps = [second * 10**9 + 123_456_000 for second in range(40)] * 2
    assert [iso_utc(ns) for ns in stamps] == [_reference(ns) for ns in stamps]
    assert len(timefmt._TEMPLATES) <= 8


@pytest.mark.parametrize("span_id", [1, 0xABC, 2**63, 2**64 - 1])
def test_span_ids_are_16_hex_digits(span_id: int) -> None:
    assert hex_span_id(span_id) == f"{span_id:016x}"
    assert hex_trace_id(span_id << 64 | span_id) == f"{span_id << 64 | span_id:032x}"


def test_an_id_wider_than_its_field_is_written_whole_instead_of_failing() -> None:
    assert hex_span_id(2**64) == "1" + "0" * 16
    assert hex_trace_id(-1) == "-" + "0" * 30 + "1"
