"""What the tracker delegates attachments to: check, record the event, hand bytes to the uploader.

The span stream gets only the record (count, names, sizes, types); the bytes go to the
uploader the tracker owns, whichever route the spans take. A message with files carries a
client-made reference (``agentsight.message.id``) that also rides in the upload's metadata.
"""

from __future__ import annotations

import atexit
import json
import secrets
import threading
import weakref
from collections.abc import Callable, Sequence
from time import monotonic
from typing import TYPE_CHECKING, Any, Protocol

from agentsight_otel import _semconv as sc
from agentsight_otel._attachments.normalize import Batch, prepare
from agentsight_otel._attachments.uploader import Uploader, UploadJob
from agentsight_otel._config import Settings
from agentsight_otel._delivery.client import IngestClient, RetryPolicy
from agentsight_otel._delivery.clock import Clock
from agentsight_otel._delivery.ledger import Receipt, Settlement
from agentsight_otel._delivery.transport import RequestsTransport, Transport
from agentsight_otel._mapping.timefmt import iso_utc
from agentsight_otel._runtime import RUNTIME
from agentsight_otel._sanitize import encode_metadata
from agentsight_otel._tracker.state import AfterEvent, ConversationState
from agentsight_otel.exceptions import ValidationError

if TYPE_CHECKING:
    from agentsight_otel._tracker.state import Item

PREVIEW = 80
SENDERS = (sc.SENDER_USER, sc.SENDER_AGENT)
_ENVIRONMENT = sc.CONVERSATION_FIELDS["environment"]
_WORST_FIRST = ("rejected", "failed", "pending", "handed_off", "delivered")
_FAILED = ("rejected", "failed")


class RecordEvent(Protocol):
    """``Recording.event``: add an event, run ``after`` under the conversation's lock."""

    def __call__(
        self,
        conversation_id: str | None,
        name: str,
        attributes: dict[str, Any],
        kind: str,
        preview: str,
        after: AfterEvent | None = None,
    ) -> tuple[ConversationState, int]:
        """The conversation's state and the event's time."""
        ...


class FileTracking:
    """Attachment calls of one tracker, and the uploader that delivers their bytes."""

    def __init__(
        self,
        record: RecordEvent,
        settings: Callable[[], Settings],
        *,
        transport: Transport | None = None,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._record = record
        self._settings = settings
        self._transport = transport
        self._clock = clock
        self._policy = policy
        self._lock = threading.Lock()
        self._uploader: Uploader | None = None
        self._uploader_settings: Settings | None = None
        self._exit_hook = False
        RUNTIME.adopt(self, FileTracking._forked)

    def _forked(self) -> None:
        self._lock = threading.Lock()  # the uploader resets itself

    def track(
        self,
        conversation_id: str | None,
        attachments: object,
        mode: str,
        sender: str,
        metadata: object,
    ) -> dict[str, Any]:
        """``track_attachments``: the record on the turn, the bytes to the uploader."""
        if sender not in SENDERS:
            raise ValidationError("sender must be 'end_user' or 'agent'")
        encoded = encode_metadata(metadata)
        settings = self._settings()
        batch = prepare(attachments, mode, settings.redact)
        with batch.guard():
            attributes = record_attributes(batch, sender, encoded)
            preview = ", ".join(f.filename for f in batch.files)[:PREVIEW]
            hand_off = self._hand_off(batch, sender, encoded or "{}", settings)
            state, stamp = self._record(
                conversation_id, sc.ATTACHMENT_EVENT, attributes, "attachment", preview, hand_off
            )
        return {
            "type": "attachment",
            "conversation_id": state.conversation_id,
            "sender": sender,
            "mode": mode,
            "files": batch.descriptors,
            "timestamp": iso_utc(stamp),
        }

    def track_message(
        self,
        conversation_id: str | None,
        attributes: dict[str, Any],
        kind: str,
        preview: str,
        attachments: object,
        mode: str,
    ) -> None:
        """A message with files: the message event, then the files' record linked to it."""
        sender = attributes[sc.MESSAGE_SENDER]
        settings = self._settings()
        batch = prepare(attachments, mode, settings.redact)
        with batch.guard():
            reference = secrets.token_hex(8)
            attributes[sc.MESSAGE_ID] = reference
            record = record_attributes(batch, sender, None)
            record[sc.ATTACHMENT_MESSAGE_ID] = reference
            names = ", ".join(f.filename for f in batch.files)[:PREVIEW]
            metadata = json.dumps({sc.MESSAGE_ID: reference})
            hand_off = self._hand_off(batch, sender, metadata, settings)
            self._record(conversation_id, sc.MESSAGE_EVENT, attributes, kind, preview)
            self._record(
                conversation_id, sc.ATTACHMENT_EVENT, record, "attachment", names, hand_off
            )

    def flush(self, timeout: float) -> bool:
        """Wait until queued uploads have been attempted (tests, benchmarks)."""
        uploader = self._uploader
        return True if uploader is None else uploader.flush(timeout)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Deliver queued uploads within ``timeout`` seconds; what is left is reported failed."""
        with self._lock:
            uploader, self._uploader, self._uploader_settings = self._uploader, None, None
        if uploader is not None:
            uploader.shutdown(timeout)

    def _hand_off(self, batch: Batch, sender: str, metadata: str, settings: Settings) -> AfterEvent:
        """What runs under the conversation's lock once the record is on the span."""

        def after(state: ConversationState, stamp: int) -> None:
            """Queue the bytes; the receipt waits for the next send of this conversation."""
            receipt = Receipt()
            environment = state.attributes.get(_ENVIRONMENT)
            job = UploadJob(
                state.conversation_id,
                environment if isinstance(environment, str) else None,
                sender,
                batch.mode,
                metadata,
                iso_utc(stamp),
                batch.files,
                receipt,
            )
            state.uploads.append((stamp, receipt))
            batch.handed_off = True
            self._uploader_for(settings).submit(job)

        return after

    def _uploader_for(self, settings: Settings) -> Uploader:
        """The uploader for the settings in force; a reconfiguration retires the old one."""
        with self._lock:
            current = self._uploader
            if current is not None and self._uploader_settings == settings:
                return current
            transport = self._transport or RequestsTransport(verify_tls=settings.verify_tls)
            client = IngestClient(settings, transport, clock=self._clock, policy=self._policy)
            owned = self._transport is None
            self._uploader = Uploader(client, owns_transport=owned)
            self._uploader_settings = settings
            if not self._exit_hook:
                self._exit_hook = True
                atexit.register(_shutdown_at_exit, weakref.ref(self))
            if current is not None:
                current.retire()
            return self._uploader


def _shutdown_at_exit(ref: weakref.ref[FileTracking]) -> None:
    """Deliver what is queued at interpreter exit, if the tracker still exists."""
    files = ref()
    if files is not None:
        files.shutdown()


def record_attributes(batch: Batch, sender: str, metadata: str | None) -> dict[str, Any]:
    """The attachment event's attributes: who shared what (never the bytes)."""
    attributes: dict[str, Any] = {
        sc.ATTACHMENT_SENDER: sender,
        sc.ATTACHMENT_MODE: batch.mode,
        sc.ATTACHMENT_COUNT: len(batch.files),
        sc.ATTACHMENT_FILES: json.dumps(batch.descriptors),
    }
    if metadata is not None:
        attributes[sc.METADATA] = metadata
    return attributes


def report_uploads(
    response: dict[str, Any],
    items: Sequence[Item],
    uploads: Sequence[tuple[int, Receipt]],
    deadline: float,
) -> dict[str, Any]:
    """``send_tracked_data``'s answer with each attachment's upload settlement folded in.

    Waits for the upload receipts until ``deadline`` (monotonic), the send's own budget.
    """
    if not uploads:
        return response
    settlements = [Settlement(response["status"], response["detail"])]
    taken: set[int] = set()
    for stamp, receipt in uploads:
        settlement = receipt.wait(max(0.0, deadline - monotonic()))
        settlements.append(settlement)
        index = next(
            (
                i
                for i, item in enumerate(items)
                if i not in taken and item.type == "attachment" and item.timestamp_ns == stamp
            ),
            None,
        )
        if index is not None:
            taken.add(index)
            _fold(response["items"][index], response["summary"], settlement)
    worst = _worst(settlements)
    response["status"], response["detail"] = worst.status, worst.detail
    return response


def _fold(row: dict[str, Any], summary: dict[str, int], upload: Settlement) -> None:
    """One attachment item: its record's settlement combined with its bytes' settlement."""
    row["upload"] = upload.status
    before = row["status"]
    after = _worst([Settlement(before), upload]).status
    if after == before:
        return
    if before == "pending":
        summary["pending"] -= 1
    row["status"], row["success"] = after, after == "delivered"
    if after in _FAILED:
        row["error"] = upload.detail
        summary["errors"] += before not in _FAILED
    elif after == "pending":
        summary["pending"] += 1


def _worst(settlements: Sequence[Settlement]) -> Settlement:
    """The worst of several settlements (the tracker's order of severity)."""
    return min(settlements, key=lambda s: _WORST_FIRST.index(s.status))
