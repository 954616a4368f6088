"""Decoding OTLP into span records: the same records the SDK path makes, from either encoding."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from agentsight_otel._bridge.decode import (
    MalformedRequest,
    decode_json,
    decode_protobuf,
    decode_request,
)
from agentsight_otel._mapping.records import records_from_spans
from tests.bridge.helpers import captured_spans, otlp_json, otlp_protobuf, request_with

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


def test_protobuf_records_equal_the_sdk_records() -> None:
    spans = captured_spans()
    decoded = decode_protobuf(otlp_protobuf(spans))
    assert decoded.rejected == 0
    # The encoder groups spans by resource and scope, so compare independent of order.
    assert _by_id(decoded.records) == _by_id(records_from_spans(spans))


def test_json_records_equal_the_sdk_records() -> None:
    spans = captured_spans()
    assert _by_id(decode_json(otlp_json(spans)).records) == _by_id(records_from_spans(spans))


def test_every_sdk_field_survives_the_round_trip() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("scope.name", "1.2.3", schema_url="https://schema/1")
    remote_parent = SpanContext(
        0x0AF7651916CD43DD8448EB211C80319C,
        0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "v1"), ("other", "x")]),
    )
    link = Link(SpanContext(1, 2, is_remote=False), {"link.kind": "follows"})
    with tracer.start_as_current_span(
        "server op",
        context=trace.set_span_in_context(trace.NonRecordingSpan(remote_parent)),
        kind=SpanKind.SERVER,
        links=[link],
        attributes={"s": "é", "i": 7, "f": 1.5, "b": True, "list": ["a", "b"], "nums": [1, 2]},
    ) as span:
        span.add_event("evt", {"k": "v"}, timestamp=1_700_000_000_000_000_001)
        span.set_status(Status(StatusCode.ERROR, "it broke"))
    sdk = records_from_spans(memory.get_finished_spans())
    for decoded in (
        decode_protobuf(otlp_protobuf(memory.get_finished_spans())),
        decode_json(otlp_json(memory.get_finished_spans())),
    ):
        assert decoded.records == sdk
    record = sdk[0]
    assert (record.span_kind, record.status, record.status_description) == (
        "SERVER",
        "error",
        "it broke",
    )
    assert record.parent_is_remote and record.trace_state == "vendor=v1,other=x"


def test_otlp_json_accepts_enum_names_numbers_as_strings_and_snake_case() -> None:
    document = {
        "resource_spans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "s"}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "trace_id": TRACE,
                                "spanId": SPAN,
                                "parentSpanId": "",
                                "name": "n",
                                "kind": "SPAN_KIND_CLIENT",
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": 1700000000000000500,
                                "status": {"code": 2, "message": "bad"},
                                "unknownField": {"ignored": True},
                            }
                        ]
                    }
                ],
            }
        ]
    }
    (record,) = decode_json(json.dumps(document).encode()).records
    assert (record.trace_id, record.span_id, record.parent_span_id) == (
        int(TRACE, 16),
        int(SPAN, 16),
        None,
    )
    assert (record.span_kind, record.status, record.end_ns) == (
        "CLIENT",
        "error",
        1700000000000000500,
    )
    assert record.resource == {"service.name": "s"}


def test_values_of_every_kind() -> None:
    request = request_with(
        [
            _span(
                attributes=[
                    {"key": "arr", "value": {"arrayValue": {"values": [{"intValue": "1"}]}}},
                    {"key": "kv", "value": {"kvlistValue": {"values": [_kv("a", "b")]}}},
                    {"key": "raw", "value": {"bytesValue": "AAEC"}},
                    {"key": "empty", "value": {}},
                    {"key": "dbl", "value": {"doubleValue": 2.5}},
                ]
            )
        ]
    )
    (record,) = decode_request(request).records
    assert dict(record.attributes) == {
        "arr": (1,),
        "kv": {"a": "b"},
        "raw": "AAEC",
        "empty": None,
        "dbl": 2.5,
    }


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"traceId": "AAAAAAAAAAAAAAAAAAAAAA=="}, "trace_id"),
        ({"traceId": "AAE="}, "trace_id"),
        ({"spanId": ""}, "span_id"),
        ({"parentSpanId": "AAE="}, "parent_span_id"),
    ],
)
def test_unusable_ids_are_rejected_span_by_span(change: dict[str, str], reason: str) -> None:
    decoded = decode_request(request_with([_span(), _span(**{"spanId": "AAAAAAAAAAI=", **change})]))
    assert len(decoded.records) == 1
    assert decoded.rejected == 1
    assert reason in decoded.error_message and decoded.error_message.startswith("1 span(s)")


def test_malformed_hex_in_json_rejects_only_that_span() -> None:
    good = {"traceId": TRACE, "spanId": SPAN, "name": "ok"}
    bad = {"traceId": "not-hex-at-all", "spanId": "b7ad6b7169203332", "name": "bad"}
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [good, bad]}]}]}
    decoded = decode_json(json.dumps(document).encode())
    assert [r.name for r in decoded.records] == ["ok"]
    assert decoded.rejected == 1


def test_links_with_invalid_ids_are_dropped_not_the_span() -> None:
    (record,) = decode_request(
        request_with([_span(links=[{"traceId": "AAE=", "spanId": "AAE="}])])
    ).records
    assert record.links == []


@pytest.mark.parametrize(
    "body",
    [b"\xff\xff\xff", b"\x0a\x05\x0a\x03"],
)
def test_malformed_protobuf_raises(body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        decode_protobuf(body)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"resourceSpans": 5}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "x"}]}]}]}',
        b"[" * 100_000,
    ],
)
def test_malformed_json_raises(body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        decode_json(body)


def test_deep_kvlist_nesting_is_refused_by_the_parser() -> None:
    value: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(200):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    document = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE,
                                "spanId": SPAN,
                                "attributes": [{"key": "deep", "value": value}],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    with pytest.raises(MalformedRequest):
        decode_json(json.dumps(document).encode())


def test_an_empty_request_decodes_to_nothing() -> None:
    assert decode_protobuf(b"").records == []
    assert decode_json(b"{}").records == []


def _by_id(records: list[Any]) -> dict[int, Any]:
    """Records by span id."""
    return {record.span_id: record for record in records}


def _kv(key: str, text: str) -> dict[str, Any]:
    """A string key-value in protobuf-JSON form."""
    return {"key": key, "value": {"stringValue": text}}


def _span(**fields: Any) -> dict[str, Any]:
    """A valid span in protobuf-JSON form (base64 ids), with fields replaced."""
    span: dict[str, Any] = {
        "traceId": "CvdlGRbNQ92ESOshHIAxnA==",
        "spanId": "t61rcWkgMzE=",
        "name": "op",
    }
    span.update(fields)
    return span
