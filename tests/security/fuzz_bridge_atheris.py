"""Coverage-guided fuzzing of the bridge's decoders with atheris (libFuzzer).

    python tests/security/fuzz_bridge_atheris.py -runs=200000 [corpus_dir]

Each input picks a route from its first byte: gzip or deflate through ``inflate``, then
protobuf or OTLP/JSON through the decoders, then the exporter's mapping of whatever decoded.
Only the documented refusals (``BodyError``, ``MalformedRequest``) may escape; anything else
is a crash that libFuzzer reports with the input that caused it. ``test_fuzz_bridge.py`` runs
a short, seeded session of this harness when atheris is installed.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from agentsight_otel._bodies import BodyError, inflate
    from agentsight_otel._bridge.decode import MalformedRequest, decode_json, decode_protobuf
    from agentsight_otel._export.assembler import TraceAssembler
    from agentsight_otel._export.posting import SDK
    from agentsight_otel._mapping.packing import pack
    from agentsight_otel._mapping.payload import PayloadBuilder

LIMIT = 1 << 20
ENCODINGS = ("", "gzip", "deflate")


def one_input(data: bytes) -> None:
    """Decode one body the way the bridge would; map what decodes."""
    if not data:
        return
    route, body = data[0], data[1:]
    try:
        body = inflate(body, ENCODINGS[route % 3], LIMIT)
        decoder = decode_json if route & 4 else decode_protobuf
        decoded = decoder(body)
    except (BodyError, MalformedRequest):
        return
    assembler = TraceAssembler()
    groups = assembler.add(decoded.records, 0.0) + assembler.drain()
    for packed in pack(PayloadBuilder().build(groups), SDK, LIMIT):
        packed.data.decode("utf-8")


def main() -> None:
    """libFuzzer's command line."""
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
