"""The background uploader: attachment bytes to ``POST /api/attachments/``, off the caller's thread.

The runtime's io thread drains a bounded queue, one job at a time. Each job upserts its conversation
(``POST /api/conversations/`` → pk), then posts the files, both through an ``IngestClient``:
the exporter's retry policy, backoff, ``Retry-After``, deadline and interruptible waits.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from agentsight_otel._attachments.body import Fields, json_body, multipart_body
from agentsight_otel._attachments.normalize import AttachmentFile, close_all
from agentsight_otel._attachments.sources import SourceChanged
from agentsight_otel._delivery.client import IngestClient, Outcome
from agentsight_otel._delivery.ledger import Receipt, Settlement, Status
from agentsight_otel._log import RateLimitedLog, log_internal_error
from agentsight_otel._runtime import RUNTIME, wait_stopped

CONVERSATIONS_PATH = "/api/conversations/"
ATTACHMENTS_PATH = "/api/attachments/"


@dataclass
class UploadJob:
    """One call's files and where they belong."""

    conversation_id: str
    environment: str | None
    sender: str
    mode: str
    metadata: str  # a JSON object, as text
    timestamp: str
    files: Sequence[AttachmentFile]
    receipt: Receipt

    @property
    def size(self) -> int:
        """Bytes the job will send."""
        return sum(f.size for f in self.files)

    def release(self) -> None:
        """Close the sources: the job is over, whatever its outcome."""
        close_all([f.source for f in self.files])


class Uploader:
    """A bounded queue of upload jobs and the thread that delivers them."""

    def __init__(
        self,
        client: IngestClient,
        *,
        max_queued_files: int = 256,
        max_queued_bytes: int = 256 * 1024 * 1024,
        owns_transport: bool = True,
        log: RateLimitedLog | None = None,
    ) -> None:
        self.client = client
        self._owns_transport = owns_transport
        self._max_files = max_queued_files
        self._max_bytes = max_queued_bytes
        self._log = log or RateLimitedLog()
        self._queue: deque[UploadJob] = deque()
        self._files = self._bytes = 0
        self._busy = False
        self._closing = False
        self._added = False  # a duty of the io loop (from the first job until stopped)
        self._stopped = False
        self._cond = threading.Condition()
        RUNTIME.adopt(self, Uploader._forked)

    def _forked(self) -> None:
        """In a forked child: a fresh lock; the parent uploads what it queued."""
        self._cond = threading.Condition()
        self._queue.clear()
        self._files = self._bytes = 0
        self._busy = False
        self.client.interrupt = threading.Event()

    def submit(self, job: UploadJob) -> None:
        """Queue a job; never raises, never waits. A refused job is settled failed at once."""
        if self.client.settings.api_key is None:
            self._refuse(job, self.client.settings.no_key_reason())
            return
        with self._cond:
            full = (
                self._files + len(job.files) > self._max_files
                or self._bytes + job.size > self._max_bytes
            )
            if not self._closing and not full:
                self._queue.append(job)
                self._files += len(job.files)
                self._bytes += job.size
                self._ensure_thread()
                self._cond.notify_all()
                return
        reason = "the uploader is shut down" if self._closing else "the upload queue is full"
        self._refuse(job, reason)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued job has been attempted; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def retire(self) -> None:
        """Stop taking jobs; the uploader stops once the queue is drained."""
        with self._cond:
            self._closing = True
            if not self._added:
                self._stopped = True
            self._cond.notify_all()
        RUNTIME.io.wake()

    def shutdown(self, timeout: float) -> bool:
        """Deliver what is queued within ``timeout`` seconds, then stop; the rest fails."""
        self.retire()
        ended = wait_stopped(self._cond, lambda: self._stopped, timeout, self.client.interrupt)
        with self._cond:
            left = list(self._queue)
            self._queue.clear()
        for job in left:
            self._refuse(job, "the uploader shut down before this upload")
        self._close_transport()
        return not left and ended

    def _ensure_thread(self) -> None:
        """Become a duty of the io loop on first use, and wake it (called holding the lock)."""
        if not self._added:
            self._added = True
            RUNTIME.io.add(self)
        RUNTIME.io.wake()

    def due(self, now: float) -> float:
        """Now with a job queued, or when retired and not stopped yet; else never."""
        return 0.0 if self._queue or (self._closing and not self._stopped) else math.inf

    def work(self) -> None:
        """Deliver one job; once retired and drained, stop."""
        with self._cond:
            job = self._queue.popleft() if self._queue else None
            self._busy = job is not None
        if job is not None:
            settlement = Settlement("failed", "upload failed")
            try:
                settlement = self._deliver(job)
            except Exception as exc:  # the loop must survive anything a job does to it
                settlement = Settlement("failed", f"upload failed: {type(exc).__name__}")
                log_internal_error("uploading attachments")
            finally:
                self._settled(job, settlement)
        with self._cond:
            if not self._closing or self._queue or self._stopped:
                return
            self._stopped = True
            RUNTIME.io.remove(self)
            self._cond.notify_all()
        self._close_transport()

    def _settled(self, job: UploadJob, settlement: Settlement) -> None:
        """Release a job's files, report and settle it, and take it off the books."""
        job.release()
        self._report(job, settlement)
        job.receipt.settle(settlement)
        with self._cond:
            self._files -= len(job.files)
            self._bytes -= job.size
            self._busy = False
            self._cond.notify_all()

    def _close_transport(self) -> None:
        """Release connections of a transport this uploader made (never a caller's)."""
        if self._owns_transport:
            self.client.transport.close()

    def _deliver(self, job: UploadJob) -> Settlement:
        """Upsert the conversation, then post the files."""
        try:
            for file in job.files:
                file.source.check()
        except (SourceChanged, OSError) as exc:
            return Settlement("failed", f"attachment not uploaded: {exc}")
        pk, failure = self._conversation_pk(job)
        if pk is None:
            return failure
        fields = Fields(pk, job.timestamp, job.sender, job.metadata)
        build = json_body if job.mode == "base64" else multipart_body
        body = build(fields, job.files)
        headers = {**self.client.headers(json_body=False), "Content-Type": body.content_type}
        outcome = self.client.call("POST", ATTACHMENTS_PATH, body, headers)
        return _settlement(outcome, "attachment upload")

    def _conversation_pk(self, job: UploadJob) -> tuple[str | None, Settlement]:
        """The backend's pk for the conversation, created if needed (an upsert)."""
        request = {"conversation_id": job.conversation_id}
        if job.environment:
            request["environment"] = job.environment
        outcome = self._upsert(request)
        if not outcome.ok and not outcome.retryable and "environment" in request:
            # A slug the backend does not know: the conversation may exist, or be made, without.
            del request["environment"]
            outcome = self._upsert(request)
        if not outcome.ok:
            return None, _settlement(outcome, "conversation upsert for the upload")
        try:
            pk = json.loads(outcome.body).get("id")
        except (ValueError, AttributeError):
            pk = None
        if pk is None or isinstance(pk, (dict, list, bool)):
            return None, Settlement("failed", "the conversation upsert answered without an id")
        return str(pk), Settlement("delivered")

    def _upsert(self, request: dict[str, str]) -> Outcome:
        """One upsert with retries."""
        return self.client.post_json(CONVERSATIONS_PATH, json.dumps(request).encode())

    def _report(self, job: UploadJob, settlement: Settlement) -> None:
        """Failures are logged (rate-limited), never raised."""
        if settlement.status == "delivered":
            return
        names = ", ".join(f.filename for f in job.files)
        level = logging.ERROR if settlement.status == "rejected" else logging.WARNING
        self._log.log(
            level,
            f"upload-{settlement.status}",
            f"attachments of conversation {job.conversation_id!r} ({names}) not uploaded: "
            f"{settlement.detail}",
        )

    def _refuse(self, job: UploadJob, reason: str) -> None:
        """Settle a job that will not be attempted, and release its files."""
        job.release()
        settlement = Settlement("failed", f"attachment not uploaded: {reason}")
        self._report(job, settlement)
        job.receipt.settle(settlement)


def _settlement(outcome: Outcome, what: str) -> Settlement:
    """An outcome as a receipt's settlement."""
    if outcome.ok:
        return Settlement("delivered")
    status: Status = "failed" if outcome.retryable else "rejected"
    return Settlement(status, f"{what}: {outcome.detail}")
