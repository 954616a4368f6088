"""The background uploader: upsert then upload, off the caller's thread, with the batch policy."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentsight_otel import ConversationTracker
from agentsight_otel import _semconv as sc
from agentsight_otel._attachments import prepare
from agentsight_otel._attachments.uploader import Uploader, UploadJob
from agentsight_otel._config import resolve_settings
from agentsight_otel._delivery.client import IngestClient, RetryPolicy
from agentsight_otel._delivery.ledger import DeliveryLedger, Receipt
from agentsight_otel._delivery.transport import Body, HttpResponse
from agentsight_otel.testing import TEST_API_KEY, FakeBackend, FakeClock, ScriptedTransport, refused

from .helpers import UPLOADS, UPSERTS, paths, pdf_bytes, png_bytes, uploads

PDF, PNG = pdf_bytes(), png_bytes()
PDF_B64 = base64.b64encode(PDF).decode()
ENDPOINT = "http://agentsight.test"


class GatedTransport(ScriptedTransport):
    """A scripted transport whose uploads wait until released; records the calling threads."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()
        self.threads: list[tuple[str, str]] = []

    def request(
        self, method: str, url: str, body: Body | None, headers: Mapping[str, str], timeout: float
    ) -> HttpResponse:
        """Hold uploads at the gate."""
        self.threads.append((threading.current_thread().name, url))
        if url.endswith(UPLOADS):
            self.entered.set()
            assert self.release.wait(10)
        return super().request(method, url, body, headers, timeout)


def attachment_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The attachment items of a send's answer."""
    return [row for row in result["items"] if row["type"] == "attachment"]


def wire_spans(transport: ScriptedTransport, kind: str) -> list[dict[str, Any]]:
    """Ingest wire spans of one kind."""
    return [
        span
        for body in transport.bodies("/api/ingest/")
        for block in body["conversations"]
        for span in block["spans"]
        if span["kind"] == kind
    ]


# -- delivery ---------------------------------------------------------------------------


def test_base64_upload_follows_the_conversation_upsert(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("c-1")
    item = t.track_attachments(
        [{"filename": "report.pdf", "data": PDF_B64, "mime_type": "application/pdf"}],
        metadata={"ticket": 7},
    )
    result = t.send_tracked_data()
    assert result["status"] == "delivered"
    assert attachment_rows(result) == [
        {
            "index": 0,
            "type": "attachment",
            "timestamp": item["timestamp"],
            "success": True,
            "status": "delivered",
            "upload": "delivered",
        }
    ]
    order = [p for p in paths(backend.transport) if p in (UPSERTS, UPLOADS)]
    assert order == [UPSERTS, UPLOADS]
    assert backend.transport.bodies(UPSERTS) == [
        {"conversation_id": "c-1", "environment": "production"}
    ]
    (upload,) = uploads(backend.transport)
    assert upload.fields == {
        "conversation": "1",
        "timestamp": item["timestamp"],
        "mode": "base64",
        "sender": "end_user",
        "metadata": {"ticket": 7},
    }
    assert upload.files == [{"filename": "report.pdf", "mime_type": "application/pdf", "data": PDF}]
    request = next(r for r in backend.transport.requests if r.path == UPLOADS)
    assert request.headers["Authorization"] == f"Api-Key {TEST_API_KEY}"


def test_form_data_upload_is_multipart(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("c-2")
    t.track_attachments(
        [{"data": PNG}, {"data": PDF, "filename": "a.pdf"}], mode="form_data", sender="agent"
    )
    assert t.send_tracked_data()["status"] == "delivered"
    (upload,) = uploads(backend.transport)
    assert upload.content_type.startswith("multipart/form-data; boundary=")
    assert upload.fields["mode"] == "form_data"
    assert upload.fields["sender"] == "agent"
    assert json.loads(upload.fields["metadata"]) == {}
    assert [(f["name"], f["filename"], f["mime_type"], f["data"]) for f in upload.files] == [
        ("attachment_0", "attachment-1.png", "image/png", PNG),
        ("attachment_1", "a.pdf", "application/pdf", PDF),
    ]


def test_the_span_stream_carries_only_the_record(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("c-3")
    t.track_attachments([{"filename": "report.pdf", "data": PDF_B64}])
    t.track_attachments([{"data": PNG}], mode="form_data")
    t.send_tracked_data()
    ingest = b"".join(r.body or b"" for r in backend.transport.requests if r.path == "/api/ingest/")
    assert PDF_B64[:200].encode() not in ingest
    assert base64.b64encode(PNG)[:200] not in ingest
    records = wire_spans(backend.transport, "attachment")
    assert [json.loads(s["attributes"][sc.ATTACHMENT_FILES]) for s in records] == [
        [{"filename": "report.pdf", "size": len(PDF), "mime_type": "application/pdf"}],
        [{"filename": "attachment-1.png", "size": len(PNG), "mime_type": "image/png"}],
    ]
    assert [s["attributes"][sc.ATTACHMENT_COUNT] for s in records] == [1, 1]


def test_messages_carry_their_files_and_the_link(backend: FakeBackend) -> None:
    t = backend.tracker
    t.get_or_create_conversation("c-4")
    t.track_human_message("my invoice", attachments=[{"filename": "inv.pdf", "data": PDF_B64}])
    t.track_agent_message(
        "here is the chart", attachments=[{"data": PNG}], attachment_mode="form_data"
    )
    t.track_human_message("thanks")
    result = t.send_tracked_data()
    assert [row["type"] for row in result["items"]] == [
        "question",
        "attachment",
        "answer",
        "attachment",
        "question",
    ]
    assert result["summary"]["attachments"] == 2
    (turn,) = wire_spans(backend.transport, "turn")
    refs = [e["attributes"].get(sc.MESSAGE_ID) for e in turn["events"]]
    assert refs[0] and refs[1] and refs[2] is None and refs[0] != refs[1]
    records = wire_spans(backend.transport, "attachment")
    assert [r["attributes"][sc.ATTACHMENT_MESSAGE_ID] for r in records] == refs[:2]
    assert [r["attributes"][sc.ATTACHMENT_SENDER] for r in records] == ["end_user", "agent"]
    sent = uploads(backend.transport)
    assert [u.fields["metadata"] for u in sent] == [
        {sc.MESSAGE_ID: refs[0]},
        json.dumps({sc.MESSAGE_ID: refs[1]}),
    ]
    assert [u.fields["sender"] for u in sent] == ["end_user", "agent"]


# -- retries and failures ---------------------------------------------------------------


def test_uploads_retry_with_the_batch_policy(make_backend: Callable[..., FakeBackend]) -> None:
    transport = ScriptedTransport().script(
        UPLOADS,
        HttpResponse(503, {"retry-after": "7"}),
        HttpResponse(500),
    )
    backend = make_backend(transport=transport)
    t = backend.tracker
    t.get_or_create_conversation("retry")
    t.track_attachments([{"data": PDF}], mode="form_data")
    result = t.send_tracked_data()
    assert result["status"] == "delivered"
    attempts = [r for r in transport.requests if r.path == UPLOADS]
    assert len(attempts) == 3
    assert attempts[0].body == attempts[1].body == attempts[2].body  # re-read, not held
    waits = backend.clock.waits
    assert waits[0] == 7.0  # Retry-After honoured
    assert 0.5 <= waits[1] <= 1.0  # then exponential backoff with jitter (attempt 2)


def test_a_rejected_upload_is_an_error_item(make_backend: Callable[..., FakeBackend]) -> None:
    rejection = HttpResponse(400, {}, b'{"detail": "Unsupported file type."}')
    backend = make_backend(transport=ScriptedTransport().script(UPLOADS, rejection))
    t = backend.tracker
    t.get_or_create_conversation("bad")
    t.track_human_message("see attached")
    t.track_attachments([{"data": PDF_B64}])
    result = t.send_tracked_data()
    question, attachment = result["items"]
    assert (question["status"], question["success"]) == ("delivered", True)
    assert (attachment["status"], attachment["success"], attachment["upload"]) == (
        "rejected",
        False,
        "rejected",
    )
    assert "Unsupported file type." in attachment["error"]
    assert result["summary"]["errors"] == 1
    assert result["status"] == "rejected"
    assert len([r for r in backend.transport.requests if r.path == UPLOADS]) == 1  # terminal


def test_exhausted_retries_fail_the_item(make_backend: Callable[..., FakeBackend]) -> None:
    transport = ScriptedTransport().script(UPLOADS, refused(), refused())
    backend = make_backend(transport=transport, policy=RetryPolicy(max_attempts=2))
    t = backend.tracker
    t.get_or_create_conversation("down")
    t.track_attachments([{"data": PDF}], mode="form_data")
    (row,) = t.send_tracked_data()["items"]
    assert (row["status"], row["upload"]) == ("failed", "failed")
    assert "connection refused" in row["error"]


def test_a_failed_upsert_fails_the_upload(make_backend: Callable[..., FakeBackend]) -> None:
    transport = ScriptedTransport().script(UPSERTS, HttpResponse(500), HttpResponse(502))
    backend = make_backend(transport=transport, policy=RetryPolicy(max_attempts=2))
    t = backend.tracker
    t.get_or_create_conversation("no-pk")
    t.track_attachments([{"data": PDF_B64}])
    (row,) = t.send_tracked_data()["items"]
    assert row["status"] == "failed"
    assert "conversation upsert" in row["error"]
    assert UPLOADS not in paths(transport)


def test_an_unknown_environment_is_dropped_from_the_upsert(
    make_backend: Callable[..., FakeBackend],
) -> None:
    answer = HttpResponse(400, {}, b'{"detail": "Unknown environment."}')
    backend = make_backend(transport=ScriptedTransport().script(UPSERTS, answer))
    t = backend.tracker
    t.get_or_create_conversation("env", environment="staging")
    t.track_attachments([{"data": PDF_B64}])
    assert t.send_tracked_data()["items"][0]["upload"] == "delivered"
    assert backend.transport.bodies(UPSERTS) == [
        {"conversation_id": "env", "environment": "staging"},
        {"conversation_id": "env"},
    ]


def test_an_answer_without_a_pk_fails_the_upload(make_backend: Callable[..., FakeBackend]) -> None:
    backend = make_backend(transport=ScriptedTransport().script(UPSERTS, HttpResponse(201)))
    t = backend.tracker
    t.get_or_create_conversation("no-id")
    t.track_attachments([{"data": PDF_B64}])
    assert "without an id" in t.send_tracked_data()["items"][0]["error"]


# -- threads, waiting, shutdown ---------------------------------------------------------


def test_uploads_never_run_on_the_application_thread(
    make_backend: Callable[..., FakeBackend],
) -> None:
    transport = GatedTransport()
    backend = make_backend(transport=transport)
    t = backend.tracker
    t.get_or_create_conversation("async")
    t.track_attachments([{"data": PDF}], mode="form_data")  # returns while the upload waits
    assert transport.entered.wait(10)
    pending = t.send_tracked_data(timeout=0)
    (row,) = attachment_rows(pending)
    assert (row["status"], row["upload"]) == ("pending", "pending")
    assert pending["summary"]["pending"] == 1
    assert pending["status"] == "pending"
    transport.release.set()
    assert t._files.flush(10)
    upload_threads = {name for name, url in transport.threads if url.endswith((UPLOADS, UPSERTS))}
    assert upload_threads == {"agentsight-io"}  # the runtime's io thread (issue 18)
    assert threading.current_thread().name not in upload_threads


def test_shutdown_reports_what_it_could_not_upload(
    make_backend: Callable[..., FakeBackend],
) -> None:
    transport = GatedTransport()
    backend = make_backend(transport=transport)
    t = backend.tracker
    t.get_or_create_conversation("late")
    t.track_attachments([{"data": PDF}], mode="form_data")
    assert transport.entered.wait(10)
    t.track_attachments([{"data": PNG}], mode="form_data")  # queued behind the first
    t.shutdown(timeout=0.05)
    transport.release.set()
    rows = attachment_rows(t.send_tracked_data(timeout=10))
    assert [row["upload"] for row in rows] == ["delivered", "failed"]
    assert "shut down" in rows[1]["error"]


def test_a_full_queue_refuses_and_settles_at_once() -> None:
    transport = GatedTransport()
    settings = resolve_settings(api_key=TEST_API_KEY, endpoint=ENDPOINT)
    client = IngestClient(settings, transport, clock=FakeClock())
    uploader = Uploader(client, max_queued_files=2, owns_transport=False)

    def job() -> UploadJob:
        batch = prepare([{"data": PDF}], "form_data")
        return UploadJob("q", None, "end_user", "form_data", "{}", "t", batch.files, Receipt())

    first, second, third = job(), job(), job()
    uploader.submit(first)
    assert transport.entered.wait(10)
    uploader.submit(second)  # queued behind the first (in flight; both count)
    uploader.submit(third)  # over the limit
    assert third.receipt.wait(0).status == "failed"
    assert "queue is full" in third.receipt.wait(0).detail
    transport.release.set()
    assert uploader.shutdown(10)
    assert [j.receipt.wait(0).status for j in (first, second)] == ["delivered", "delivered"]
    assert not transport.closed  # a caller's transport is never closed by the uploader


def test_without_an_api_key_nothing_is_uploaded() -> None:
    transport = ScriptedTransport()
    provider = TracerProvider()
    tracker = ConversationTracker(
        tracer_provider=provider, _ledger=DeliveryLedger(), endpoint=ENDPOINT, _transport=transport
    )
    tracker.get_or_create_conversation("no-key")
    tracker.track_attachments([{"data": PDF_B64}])
    (row,) = tracker.send_tracked_data()["items"]
    assert row["upload"] == "failed"
    assert "no AgentSight API key" in row["error"]
    assert transport.requests == []
    tracker.shutdown(1)


def test_collector_route_still_uploads_with_retries() -> None:
    """Spans go to another exporter (an OTLP one, in production): bytes still arrive."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    transport = ScriptedTransport().script(UPLOADS, HttpResponse(503, {"retry-after": "1"}))
    clock = FakeClock()
    tracker = ConversationTracker(
        tracer_provider=provider,
        _ledger=DeliveryLedger(),  # no AgentSight exporter in this process
        api_key=TEST_API_KEY,
        endpoint=ENDPOINT,
        _transport=transport,
        _clock=clock,
    )
    tracker.get_or_create_conversation("via-collector")
    tracker.track_human_message("invoice attached", attachments=[{"data": PDF_B64}])
    result = tracker.send_tracked_data()
    question, attachment = result["items"]
    assert question["status"] == "handed_off"  # the Collector's to deliver
    assert (attachment["status"], attachment["upload"]) == ("handed_off", "delivered")
    assert len(uploads(transport)) == 2 and clock.waits == [1.0]
    assert "/api/ingest/" not in paths(transport)
    exported = [s for s in spans.get_finished_spans() for e in s.events]
    assert exported
    for span in spans.get_finished_spans():
        for event in span.events:
            assert all(PDF_B64[:100] not in str(v) for v in (event.attributes or {}).values())
    tracker.shutdown(1)
