"""Fast ISO-8601 UTC timestamps with microseconds, as the ingest contract writes them."""

from datetime import datetime, timezone
from functools import lru_cache

_LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z, the last one ISO-8601 can write


@lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` for a whole UTC second, clamped to the years 1970 to 9999."""
    # A span's clock gone wrong must not fail the whole batch it rides in (and, cached, the
    # clamp costs the hot path nothing).
    seconds = min(max(seconds, 0), _LAST_SECOND)
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def iso_utc(ns: int) -> str:
    """Nanoseconds since the epoch as ``2026-11-21T05:31:43.929600+00:00``."""
    seconds, rest = divmod(ns, 1_000_000_000)
    # %-formatting: measurably the fastest way to build this string, on the export hot path.
    return "%s.%06d+00:00" % (_second(seconds), rest // 1000)


def duration_ms(start_ns: int, end_ns: int) -> float:
    """A duration in milliseconds rounded to three decimals."""
    return ((end_ns - start_ns + 500) // 1000) / 1000
