"""Fuzzing the bridge: decoders refuse garbage only with their documented errors, decoded
garbage maps without crashing, memory stays bounded, and the HTTP app answers 4xx, never 5xx.

Generated with hypothesis (derandomized); ``fuzz_bridge_atheris.py`` is the coverage-guided
counterpart, run for a short seeded session here when atheris is installed.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import importlib.util
import json
import os
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agentsight_otel import _semconv as sc
from agentsight_otel._bodies import BodyError, inflate
from agentsight_otel._bridge.decode import Decoded, MalformedRequest, decode_json, decode_protobuf
from agentsight_otel._export.assembler import TraceAssembler
from agentsight_otel._export.posting import SDK
from agentsight_otel._mapping.packing import pack
from agentsight_otel._mapping.payload import PayloadBuilder
from agentsight_otel._server.validation import loads_strict
from tests.bridge.helpers import captured_spans, otlp_json, otlp_protobuf
from tests.security.conftest import BRIDGE_TOKEN, BridgeRig

SECURITY = settings.get_profile("security")
LIMIT = 1_000_000  # the rig's max_body_bytes
ANY_CHAR = st.characters(codec=None, categories=None, exclude_categories=())
Decoder = Callable[[bytes], Decoded]


@functools.cache
def valid_protobuf() -> bytes:
    """A whole captured conversation as an OTLP protobuf request."""
    return otlp_protobuf(captured_spans("fuzz-seed"))


@functools.cache
def valid_json() -> bytes:
    """The same conversation as OTLP/JSON."""
    return otlp_json(captured_spans("fuzz-seed"))


def decode_or_refuse(decoder: Decoder, data: bytes) -> Decoded | None:
    """The decoded request, or None for a documented refusal; what decodes maps cleanly."""
    try:
        decoded = decoder(data)
    except MalformedRequest:
        return None
    assembler = TraceAssembler()
    groups = assembler.add(decoded.records, 0.0) + assembler.drain()
    for body in pack(PayloadBuilder().build(groups), SDK, 4 * 1024 * 1024):
        loads_strict(body.data.decode("utf-8"))  # strict UTF-8, strict JSON
    return decoded


# -- decoders ------------------------------------------------------------------------------------


@pytest.mark.slow
@settings(SECURITY, max_examples=400)
@given(st.binary(max_size=4096))
def test_protobuf_decoder_refuses_random_bytes_cleanly(data: bytes) -> None:
    decode_or_refuse(decode_protobuf, data)


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    """``base`` with a few byte flips, insertions, deletions and a possible truncation."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "duplicate"]))
        if action == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.mark.slow
@settings(SECURITY, max_examples=400)
@given(st.data())
def test_protobuf_decoder_survives_mutated_requests(data: st.DataObject) -> None:
    decode_or_refuse(decode_protobuf, data.draw(mutated(valid_protobuf())))


@pytest.mark.slow
@settings(SECURITY, max_examples=200)
@given(st.data())
def test_json_decoder_survives_mutated_requests(data: st.DataObject) -> None:
    decode_or_refuse(decode_json, data.draw(mutated(valid_json())))


@settings(SECURITY, max_examples=200)
@given(st.binary(max_size=2048))
def test_json_decoder_refuses_random_bytes_cleanly(data: bytes) -> None:
    decode_or_refuse(decode_json, data)


JSON_SCALAR = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(ANY_CHAR, max_size=12)
)
ANYTHING = st.recursive(
    JSON_SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
KEYS = st.sampled_from([sc.CONVERSATION_ID, sc.SPAN_KIND, sc.MESSAGE_CONTENT, "k"]) | ANYTHING
STRINGS = st.sampled_from(["turn", "tool", "button", "llm", "conversation", "c-1"]) | ANYTHING


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


VALUE = _optional(
    stringValue=STRINGS, intValue=st.integers() | ANYTHING, doubleValue=ANYTHING,
    boolValue=ANYTHING, bytesValue=ANYTHING, arrayValue=_optional(values=st.lists(ANYTHING)),
)  # fmt: skip
KEY_VALUES = st.lists(_optional(key=KEYS, value=VALUE | ANYTHING), max_size=4) | ANYTHING
IDS = st.text("0123456789abcdefABCDEF-xz ", max_size=34) | ANYTHING
TIMES = st.integers(-(2**70), 2**70) | st.text("0123456789", max_size=22) | ANYTHING
SPAN = _optional(
    traceId=IDS, spanId=IDS, parentSpanId=IDS, name=ANYTHING, kind=st.integers() | STRINGS,
    startTimeUnixNano=TIMES, endTimeUnixNano=TIMES, attributes=KEY_VALUES,
    events=st.lists(_optional(name=ANYTHING, timeUnixNano=TIMES, attributes=KEY_VALUES),
                    max_size=3),
    links=st.lists(_optional(traceId=IDS, spanId=IDS), max_size=2),
    status=_optional(code=st.integers() | STRINGS, message=ANYTHING), flags=st.integers(),
)  # fmt: skip
REQUEST = _optional(
    resourceSpans=st.lists(
        _optional(
            resource=_optional(attributes=KEY_VALUES),
            scopeSpans=st.lists(_optional(scope=ANYTHING, spans=st.lists(SPAN, max_size=3))),
        ),
        max_size=2,
    )
    | ANYTHING
)


@pytest.mark.slow
@settings(SECURITY, max_examples=250)
@given(REQUEST)
def test_json_decoder_survives_generated_otlp_documents(document: dict[str, Any]) -> None:
    decode_or_refuse(decode_json, json.dumps(document).encode("utf-8", "surrogatepass"))


# -- decompression -------------------------------------------------------------------------------


@settings(SECURITY, max_examples=300)
@given(st.binary(max_size=2048), st.sampled_from(["gzip", "deflate"]))
def test_decompression_refuses_garbage_cleanly(data: bytes, encoding: str) -> None:
    with contextlib.suppress(BodyError):
        assert len(inflate(data, encoding, 10_000)) <= 10_000


@settings(SECURITY, max_examples=100)
@given(st.binary(max_size=4000), st.integers(1, 3))
def test_decompression_round_trips_or_stops_at_the_limit(payload: bytes, members: int) -> None:
    body = gzip.compress(payload) * members
    if len(payload) * members <= 2_000:
        assert inflate(body, "gzip", 2_000) == payload * members
    else:
        with pytest.raises(BodyError) as caught:
            inflate(body, "gzip", 2_000)
        assert caught.value.status == 413


# -- memory --------------------------------------------------------------------------------------

EXPANSION = 64  # decoded Python objects per input byte, at most, for any bounded input
SLACK = 256 * 1024


def _peak(work: Callable[[], object]) -> int:
    """Peak bytes Python allocated during ``work`` (tracemalloc; C-level buffers not seen)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        work()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def _request(spans: int, events: int = 0, attributes: int = 0) -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for index in range(spans):
        span = scope.spans.add(trace_id=(index + 1).to_bytes(16, "big"))
        span.span_id = (index + 1).to_bytes(8, "big")
        for _ in range(events):
            span.events.add()
        for key in range(attributes):
            span.attributes.add(key=str(key))
    data: bytes = request.SerializeToString()
    return data


WORST_CASES = {
    "2,000 minimal spans": lambda: _request(2000),
    "one span, 16,000 empty events": lambda: _request(1, events=16_000),
    "one span, 8,000 attributes": lambda: _request(1, attributes=8000),
    "json: 20,000 empty events": lambda: json.dumps(
        {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                {"traceId": "01" * 16, "spanId": "01" * 8, "events": [{}] * 20_000}
                            ]
                        }
                    ]
                }
            ]
        },
        separators=(",", ":"),
    ).encode(),
    "json: 20,000 empty resourceSpans": lambda: json.dumps(
        {"resourceSpans": [{}] * 20_000}, separators=(",", ":")
    ).encode(),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WORST_CASES))
def test_decoding_memory_is_bounded_by_the_input_size(name: str) -> None:
    data = WORST_CASES[name]()
    decoder = decode_json if name.startswith("json") else decode_protobuf
    assert len(data) <= 100_000
    peak = _peak(lambda: decoder(data))
    assert peak <= EXPANSION * len(data) + SLACK, (name, len(data), peak)


@settings(SECURITY, max_examples=60)
@given(st.data())
def test_generated_inputs_stay_within_the_memory_bound(data: st.DataObject) -> None:
    body = data.draw(mutated(valid_protobuf()) | st.binary(max_size=8192))
    peak = _peak(lambda: decode_or_refuse(decode_protobuf, body))
    # Mapping adds the wire spans (about 2 kB per span) to what decoding holds.
    assert peak <= EXPANSION * 4 * len(body) + SLACK


# -- the HTTP app --------------------------------------------------------------------------------

CONTENT_TYPES = ["application/x-protobuf", "application/json", "text/plain"]
ENCODINGS = ["", "gzip", "deflate", "br"]


def _expected(body: bytes, content_type: str, encoding: str) -> int:
    """What the bridge must answer, judged locally from the same rules."""
    if content_type == "text/plain" or encoding == "br":
        return 415
    try:
        raw = inflate(body, encoding, LIMIT)
    except BodyError as error:
        return error.status
    decoder = decode_json if content_type == "application/json" else decode_protobuf
    return 200 if decode_or_refuse(decoder, raw) is not None else 400


@st.composite
def garbage(draw: st.DrawFn) -> bytes:
    """Random bytes, or a mutated valid request (built when first drawn, not at import)."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=3000))
    return draw(mutated(valid_protobuf()))


def _encode(body: bytes, encoding: str, compress_it: bool) -> bytes:
    if not compress_it:
        return body
    return gzip.compress(body) if encoding == "gzip" else zlib.compress(body)


@pytest.mark.slow
@settings(SECURITY, max_examples=250)
@given(
    garbage(),
    st.sampled_from(CONTENT_TYPES),
    st.sampled_from(ENCODINGS),
    st.booleans(),
)
def test_the_http_app_answers_garbage_with_4xx_never_5xx(
    bridge_rig: BridgeRig, body: bytes, content_type: str, encoding: str, compress_it: bool
) -> None:
    sent = _encode(body, encoding, compress_it and encoding in ("gzip", "deflate"))
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {BRIDGE_TOKEN}"}
    if encoding:
        headers["Content-Encoding"] = encoding
    response = bridge_rig.session.post(bridge_rig.url, data=sent, headers=headers, timeout=10)
    assert response.status_code < 500
    assert response.status_code == _expected(sent, content_type, encoding)


# -- atheris -------------------------------------------------------------------------------------

HARNESS = Path(__file__).with_name("fuzz_bridge_atheris.py")


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_a_short_seeded_atheris_session_finds_no_crash(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "protobuf").write_bytes(b"\x00" + valid_protobuf())
    (corpus / "json").write_bytes(b"\x04" + valid_json())
    (corpus / "gzip").write_bytes(b"\x01" + gzip.compress(valid_protobuf()))
    root = str(Path(__file__).resolve().parents[2])
    result = subprocess.run(
        [sys.executable, str(HARNESS), "-runs=20000", "-seed=1", "-max_len=20000", str(corpus)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 20000 runs" in result.stderr
