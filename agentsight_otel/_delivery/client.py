"""The one retrying client: backoff with jitter, Retry-After, a deadline, interruptible waits."""

from __future__ import annotations

import datetime
import email.utils
import gzip
import json
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from agentsight_otel._config import Settings, join_url
from agentsight_otel._delivery.clock import Clock, SystemClock
from agentsight_otel._delivery.plaintext import PLAINTEXT_KEY_WARNING
from agentsight_otel._delivery.transport import Body, HttpResponse, Transport, TransportError
from agentsight_otel._delivery.watchdog import CANCEL
from agentsight_otel._log import log_internal_error
from agentsight_otel._version import SDK_NAME, __version__

USER_AGENT = f"{SDK_NAME}/{__version__}"
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
_GZIP_MIN_BYTES = 1024
# Level 3, not zlib's default 6: on ingest bodies (long runs of repeated keys and conversation
# fields) it is 2.2x faster for 25% more bytes (55 instead of 44 a span); levels 1 and 2 are
# both slower and larger. Measured in bench/ (wire_size, end_to_end).
GZIP_LEVEL = 3


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one delivery tries before it gives up."""

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    retry_after_cap: float = 60.0


@dataclass(frozen=True)
class Outcome:
    """What became of one request after retries.

    ``rejected`` maps block indexes the backend named in a 400 to its message for them.
    """

    ok: bool
    status: int | None
    detail: str
    retryable: bool = False
    rejected: Mapping[int, str] = field(default_factory=dict)
    attempts: int = 1
    body: bytes = b""  # the response body of a success (an upsert's record, say)


class IngestClient:
    """Posts bodies to the AgentSight API with the contract's headers and retry rules."""

    def __init__(
        self,
        settings: Settings,
        transport: Transport,
        *,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.clock = clock or SystemClock()
        self.policy = policy or RetryPolicy()
        self.interrupt = threading.Event()
        # Why the latest attempt failed (None once one succeeds): what a loss report quotes.
        self.last_failure: str | None = None
        self._jitter = jitter
        self._key_checked = False

    def headers(self, *, json_body: bool = True) -> dict[str, str]:
        """The contract's headers; the key is read only here."""
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if json_body:
            headers["Content-Type"] = "application/json"
        if self.settings.api_key is not None:
            if not self._key_checked:
                self._key_checked = True
                PLAINTEXT_KEY_WARNING.check(self.settings.endpoint)
            headers["Authorization"] = f"Api-Key {self.settings.api_key.reveal()}"
        return headers

    def _scrub(self, text: str) -> str:
        """The text without any run of the key, should a backend or proxy echo it back."""
        key = self.settings.api_key
        return text if key is None else key.scrub(text)

    def post_json(
        self, path: str, body: bytes, *, gzip_body: bool = False, deadline: float | None = None
    ) -> Outcome:
        """POST a JSON body with retries until success, a terminal answer or the deadline."""
        headers = self.headers()
        if gzip_body and len(body) >= _GZIP_MIN_BYTES:
            body = gzip.compress(body, compresslevel=GZIP_LEVEL)
            headers["Content-Encoding"] = "gzip"
        return self.call("POST", path, body, headers, deadline=deadline)

    def call(
        self,
        method: str,
        path: str,
        body: Body | None,
        headers: Mapping[str, str],
        *,
        deadline: float | None = None,
    ) -> Outcome:
        """One request with the retry policy applied."""
        url = join_url(self.settings.endpoint, path)
        end = self.clock.now() + (
            deadline if deadline is not None else self.settings.export_deadline
        )
        outcome = Outcome(False, None, "not attempted", retryable=True)
        for attempt in range(1, self.policy.max_attempts + 1):
            remaining = end - self.clock.now()
            if remaining <= 0 or self.interrupt.is_set():
                break
            outcome, pause = self._attempt(method, url, body, headers, remaining, attempt)
            self.last_failure = None if outcome.ok else outcome.detail
            if not outcome.retryable or attempt == self.policy.max_attempts:
                return outcome
            delay = pause if pause is not None else self._backoff(attempt)
            if self.clock.now() + delay >= end:
                break
            if self.clock.wait(delay, self.interrupt):
                break
        # Set by a shutdown, or by a delivery queue that fills up behind a failing backend.
        interrupted = "interrupted by shutdown or a full queue"
        reason = interrupted if self.interrupt.is_set() else "deadline passed"
        return Outcome(
            False,
            outcome.status,
            f"{outcome.detail} ({reason})",
            retryable=True,
            attempts=outcome.attempts,
        )

    def _attempt(
        self,
        method: str,
        url: str,
        body: Body | None,
        headers: Mapping[str, str],
        remaining: float,
        attempt: int,
    ) -> tuple[Outcome, float | None]:
        """One try, classified; the second value is a server-requested pause."""
        timeout = min(self.settings.request_timeout, remaining)
        cancel = CANCEL.set(self.interrupt)
        try:
            response = self.transport.request(method, url, body, headers, timeout)
        except TransportError as exc:
            detail = self._scrub(f"network error reaching {self.settings.endpoint}: {exc}")
            return Outcome(False, None, detail, True, attempts=attempt), None
        except Exception as exc:  # a broken transport must not escape the worker
            self._report_broken_transport(exc)
            return Outcome(
                False, None, f"transport failed: {type(exc).__name__}", True, attempts=attempt
            ), None
        finally:
            CANCEL.reset(cancel)
        status = response.status
        if 200 <= status < 300:
            return Outcome(True, status, "accepted", attempts=attempt, body=response.body), None
        if status in RETRYABLE:
            pause = retry_after(response, self.policy.retry_after_cap)
            return Outcome(False, status, f"HTTP {status}", True, attempts=attempt), pause
        # Scrubbed whole, before anything is cut short: a cut could leave half the key behind.
        body = self._scrub(response.body.decode("utf-8", "replace")).encode()
        detail, rejected = rejection_detail(replace(response, body=body))
        return Outcome(False, status, detail, False, rejected, attempts=attempt), None

    def _report_broken_transport(self, error: Exception) -> None:
        """An internal error, reported with its text scrubbed: it may quote the key."""
        try:
            text = self._scrub(f"{type(error).__name__}: {error}")
        except Exception:  # the exception cannot be printed: its type will do
            text = type(error).__name__
        try:
            raise BrokenTransportError(text) from None
        except BrokenTransportError:
            log_internal_error("sending a request")

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: half fixed, half random."""
        ceiling = min(self.policy.max_delay, self.policy.base_delay * 2.0 ** (attempt - 1))
        return ceiling / 2 + self._jitter() * ceiling / 2

    def get_json(self, path: str) -> object | None:
        """One GET without retries (capability checks); None when the backend gives no answer.

        No answer is expected: a network error, a status other than 200, a body that is not JSON.
        """
        try:
            response = self.transport.request(
                "GET",
                join_url(self.settings.endpoint, path),
                None,
                self.headers(json_body=False),
                self.settings.request_timeout,
            )
        except TransportError:
            return None
        except Exception as exc:  # a broken transport must not escape the worker
            self._report_broken_transport(exc)
            return None
        if response.status != 200:
            return None
        try:
            parsed: object = json.loads(response.body)
        except ValueError:  # not JSON, or not UTF-8
            return None
        return parsed


class BrokenTransportError(Exception):
    """A transport failed other than with ``TransportError``: what is logged in its place."""


def retry_after(response: HttpResponse, cap: float) -> float | None:
    """The server's Retry-After in seconds (delta or HTTP date), capped; None when absent."""
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000" parses naive; HTTP dates are always GMT
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = when.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), cap)


def rejection_detail(response: HttpResponse) -> tuple[str, dict[int, str]]:
    """The backend's explanation of a 4xx, and per-block messages when it names blocks."""
    prefix = f"HTTP {response.status}"
    try:
        body = json.loads(response.body)
    except ValueError:
        text = response.body[:300].decode("utf-8", "replace").strip()
        return (f"{prefix}: {text}" if text else prefix), {}
    if not isinstance(body, dict):
        return prefix, {}
    detail = str(body.get("detail") or "")[:300]
    rejected: dict[int, str] = {}
    blocks = body.get("conversations")
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and isinstance(block.get("index"), int):
            rejected[block["index"]] = _errors_line(block)
    return (f"{prefix}: {detail}" if detail else prefix), rejected


def _errors_line(block: Mapping[str, object]) -> str:
    """One block's field errors on one line."""
    errors = block.get("errors")
    if isinstance(errors, dict):
        parts = []
        for name, messages in errors.items():
            joined = ", ".join(map(str, messages)) if isinstance(messages, list) else str(messages)
            parts.append(f"{name}: {joined}")
        return "; ".join(parts)[:300] or "rejected"
    return "rejected"
