"""OTLP logs into the bridge: GenAI message records join their spans as they do in-process.

Records and spans come from the real SDK (an event-mode model call, records shaped as openai-v2
writes them) and are encoded by the OTLP exporters' own encoders; the bridge runs on 127.0.0.1
over real HTTP and gRPC, with the same token, body bound and answers as for traces.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator, Sequence
from typing import Any

import grpc
import pytest
import requests
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentsight_otel import AgentSightSpanExporter
from agentsight_otel import _semconv as sc
from agentsight_otel._bridge.decode_logs import decode_logs_protobuf
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel._mapping.logevents import log_events_from_sdk
from agentsight_otel._mapping.records import records_from_spans
from agentsight_otel.testing import TEST_API_KEY, FakeClock, ScriptedTransport
from tests.bridge.conftest import StartBridge
from tests.bridge.helpers import ENDPOINT, ingest_bodies, otlp_protobuf
from tests.genai.records import HISTORY, OPENAI_V2, event_mode_turn

SCOPE = OPENAI_V2
PROTOBUF = {"Content-Type": "application/x-protobuf"}
WANTED = [["end_user", "Weather?"], ["agent", "Sunny."]]
LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def event_mode_call(cid: str) -> tuple[list[ReadableSpan], list[ReadableLogRecord]]:
    """An agent turn whose model call writes its messages as old-convention log records."""
    spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    event_mode_turn(tracer_provider.get_tracer(SCOPE), logger_provider.get_logger(SCOPE), cid)
    return list(spans.get_finished_spans()), list(logs.get_finished_logs())


def logs_protobuf(records: Sequence[ReadableLogRecord]) -> bytes:
    """The OTLP/HTTP protobuf body the SDK's log exporter would send."""
    data: bytes = encode_logs(records).SerializeToString()
    return data


def logs_json(records: Sequence[ReadableLogRecord]) -> bytes:
    """The OTLP/JSON body: hex ids, as the spec wants."""
    document = json_format.MessageToDict(encode_logs(records), use_integers_for_enums=True)
    for resource_logs in document["resourceLogs"]:
        for scope_logs in resource_logs["scopeLogs"]:
            for record in scope_logs["logRecords"]:
                for key in ("traceId", "spanId"):
                    if key in record:
                        record[key] = base64.b64decode(record[key]).hex()
    return json.dumps(document).encode()


def messages(bodies: Sequence[bytes]) -> list[list[str]]:
    """(sender, content) of every message event posted."""
    return [
        [e["attributes"][sc.MESSAGE_SENDER], e["attributes"][sc.MESSAGE_CONTENT]]
        for body in bodies
        for block in json.loads(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)[
            "conversations"
        ]
        for span in block["spans"]
        for e in span["events"]
        if e["name"] == sc.MESSAGE_EVENT
    ]


def turns(bodies: Sequence[bytes]) -> list[dict[str, Any]]:
    """The turn wire spans posted."""
    return [
        span
        for body in bodies
        for block in json.loads(body)["conversations"]
        for span in block["spans"]
        if span["kind"] == "turn"
    ]


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        yield client


def post(session: requests.Session, url: str, path: str, body: bytes, **headers: str) -> Any:
    return session.post(f"{url}{path}", data=body, headers=headers, timeout=10)


@pytest.mark.parametrize("logs_first", [True, False])
def test_http_logs_and_traces_give_the_in_process_turn_byte_for_byte(
    start_bridge: StartBridge, session: requests.Session, logs_first: bool
) -> None:
    spans, records = event_mode_call("bridge-logs")
    bridge, backend = start_bridge()
    sends = [("/v1/logs", logs_protobuf(records)), ("/v1/traces", otlp_protobuf(spans))]
    for path, body in sends if logs_first else reversed(sends):
        response = post(session, bridge.http_url, path, body, **PROTOBUF)
        assert response.status_code == 200, response.text
        assert bridge.flush(10)
    assert bridge.flush(10)
    bridged = ingest_bodies(backend)
    assert messages(bridged) == WANTED
    # The same spans and records through the in-process exporters.
    transport = ScriptedTransport()
    exporter = AgentSightSpanExporter(
        api_key=TEST_API_KEY,
        endpoint=ENDPOINT,
        compression="none",
        _transport=transport,
        _clock=FakeClock(),
        _ledger=DeliveryLedger(),
    )
    exporter.export_log_events(log_events_from_sdk(records))
    exporter.export_records(records_from_spans(spans))
    exporter.shutdown()
    assert turns(bridged) == turns(ingest_bodies(transport))


def test_json_gzip_logs_are_read_and_answered_in_json(
    start_bridge: StartBridge, session: requests.Session
) -> None:
    spans, records = event_mode_call("bridge-logs-json")
    bridge, backend = start_bridge()
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    response = post(
        session, bridge.http_url, "/v1/logs", gzip.compress(logs_json(records)), **headers
    )
    assert response.status_code == 200
    assert response.json() == {}
    post(session, bridge.http_url, "/v1/traces", otlp_protobuf(spans), **PROTOBUF)
    assert bridge.flush(10)
    assert messages(ingest_bodies(backend)) == WANTED


def test_grpc_logs_service_joins_records_to_spans(
    start_bridge: StartBridge, session: requests.Session
) -> None:
    spans, records = event_mode_call("bridge-logs-grpc")
    bridge, backend = start_bridge()
    assert bridge.grpc_target is not None
    with grpc.insecure_channel(bridge.grpc_target) as channel:
        call = channel.unary_unary(LOGS_METHOD, request_serializer=None, response_deserializer=None)
        answer = ExportLogsServiceResponse.FromString(call(logs_protobuf(records), timeout=10))
    assert answer == ExportLogsServiceResponse()
    post(session, bridge.http_url, "/v1/traces", otlp_protobuf(spans), **PROTOBUF)
    assert bridge.flush(10)
    assert messages(ingest_bodies(backend)) == WANTED


def test_the_logs_endpoint_wants_the_token_and_keeps_the_body_bound(
    start_bridge: StartBridge, session: requests.Session
) -> None:
    _, records = event_mode_call("bridge-logs-refused")
    body = logs_protobuf(records)
    bridge, backend = start_bridge(token="s3cret", max_body_bytes=len(body) - 1)
    missing = post(session, bridge.http_url, "/v1/logs", body, **PROTOBUF)
    assert missing.status_code == 401
    auth = {"Authorization": "Bearer s3cret", **PROTOBUF}
    assert post(session, bridge.http_url, "/v1/logs", body, **auth).status_code == 413
    bad = post(session, bridge.http_url, "/v1/logs", b"\xff\x00junk", **auth)
    assert bad.status_code == 400
    assert bridge.flush(10)
    assert ingest_bodies(backend) == []
    with grpc.insecure_channel(bridge.grpc_target or "") as channel:
        call = channel.unary_unary(LOGS_METHOD, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as unauthenticated:
            call(b"", timeout=10)
        with pytest.raises(grpc.RpcError) as too_large:
            call(body, timeout=10, metadata=(("authorization", "Bearer s3cret"),))
    assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert too_large.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_records_with_malformed_ids_are_rejected_alone() -> None:
    _, records = event_mode_call("bridge-logs-ids")
    request = encode_logs(records)
    request.resource_logs[0].scope_logs[0].log_records[1].span_id = b"\x01\x02"
    decoded = decode_logs_protobuf(request.SerializeToString())
    assert decoded.rejected == 1
    assert "span_id" in decoded.error_message
    assert len(decoded.events) == len(HISTORY)  # the history minus one, plus the choice


def test_plain_log_requests_are_accepted_and_ignored() -> None:
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value = "GET /health 200"
    record.trace_id, record.span_id = b"\x01" * 16, b"\x02" * 8
    assert decode_logs_protobuf(request.SerializeToString()).events == []
