"""Upload bodies: the contract's JSON and multipart shapes, streamed, re-iterable, exact length."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from agentsight_otel._attachments import prepare
from agentsight_otel._attachments.body import Fields, LengthMismatch, json_body, multipart_body
from agentsight_otel._attachments.sources import RAW_CHUNK
from agentsight_otel._server.body import BodyError
from agentsight_otel._server.multipart import MultipartParser, PartStart, boundary_of

from .helpers import parse_multipart, pdf_bytes, png_bytes

PDF, PNG = pdf_bytes(), png_bytes(RAW_CHUNK * 2 + 5)  # the PNG spans several chunks
FIELDS = Fields("42", "2026-11-21T05:31:43.929600+00:00", "end_user", '{"k": "v"}')


def test_json_body_is_the_contract_shape(tmp_path: Path) -> None:
    path = tmp_path / "scan.png"
    path.write_bytes(PNG)
    batch = prepare([{"filename": "r.pdf", "data": base64.b64encode(PDF).decode()}, path], "base64")
    body = json_body(FIELDS, batch.files)
    raw = b"".join(body)
    assert len(body) == len(raw)
    assert b"".join(body) == raw  # iterating again starts over (a retry re-reads the file)
    document = json.loads(raw)
    assert document == {
        "conversation": "42",
        "timestamp": FIELDS.timestamp,
        "mode": "base64",
        "sender": "end_user",
        "metadata": {"k": "v"},
        "attachments": [
            {
                "filename": "r.pdf",
                "mime_type": "application/pdf",
                "data": base64.b64encode(PDF).decode(),
            },
            {
                "filename": "scan.png",
                "mime_type": "image/png",
                "data": base64.b64encode(PNG).decode(),
            },
        ],
    }
    assert body.content_type == "application/json"
    batch.close()


def test_json_body_carries_a_message_pk_when_known() -> None:
    batch = prepare([{"data": PDF}], "form_data")
    fields = Fields("1", FIELDS.timestamp, "agent", "{}", message="7")
    assert json.loads(b"".join(json_body(fields, batch.files)))["message"] == "7"


def test_multipart_body_is_the_older_sdks_form(tmp_path: Path) -> None:
    path = tmp_path / 'odd "name"\\.pdf'
    path.write_bytes(PDF)
    batch = prepare([{"data": PNG, "filename": "scan.png"}, path], "form_data")
    body = multipart_body(FIELDS, batch.files)
    raw = b"".join(body)
    assert len(body) == len(raw)
    for step in (997, 65536, len(raw)):  # every split of the stream parses the same
        upload = parse_multipart(raw, body.content_type, step=step)
        assert upload.fields == {
            "conversation": "42",
            "timestamp": FIELDS.timestamp,
            "mode": "form_data",
            "sender": "end_user",
            "metadata": '{"k": "v"}',
        }
        assert [(f["name"], f["filename"], f["mime_type"], f["data"]) for f in upload.files] == [
            ("attachment_0", "scan.png", "image/png", PNG),
            ("attachment_1", 'odd "name"\\.pdf', "application/pdf", PDF),
        ]
    batch.close()


def test_small_body_parses_byte_by_byte() -> None:
    batch = prepare(
        [{"data": b"hello\r\n--not-the-boundary\r\n", "filename": "t.txt"}], "form_data"
    )
    body = multipart_body(FIELDS, batch.files, boundary="b0undary")
    raw = b"".join(body)
    upload = parse_multipart(raw, body.content_type, step=1)
    assert upload.files[0]["data"] == b"hello\r\n--not-the-boundary\r\n"


def test_a_file_that_changes_size_fails_the_body(tmp_path: Path) -> None:
    path = tmp_path / "grows.bin"
    path.write_bytes(PDF)
    batch = prepare([path], "form_data")
    path.write_bytes(PDF[:10])
    with pytest.raises((LengthMismatch, OSError)):
        b"".join(multipart_body(FIELDS, batch.files))
    with pytest.raises(OSError):
        batch.files[0].source.check()
    batch.close()


@pytest.mark.parametrize(
    "raw",
    [
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue',  # never closed
        b"--b\r\nContent-Type: text/plain\r\n\r\nvalue\r\n--b--\r\n",  # no disposition
        b"--b\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--b--\r\n",  # no name
        b"--b junk\r\n",  # garbage after a delimiter
        b"--b\r\n" + b"X-Long: " + b"x" * 20000,  # headers past the cap
    ],
)
def test_malformed_multipart_is_a_400(raw: bytes) -> None:
    parser = MultipartParser(b"b")
    with pytest.raises(BodyError) as raised:
        parser.feed(raw)
        parser.close()
    assert raised.value.status == 400


def test_boundary_and_rfc2231_names() -> None:
    with pytest.raises(BodyError):
        boundary_of("multipart/form-data")
    assert boundary_of('multipart/form-data; boundary="a b"') == b"a b"
    parser = MultipartParser(b"x")
    events = parser.feed(
        b'preamble\r\n--x\r\nContent-Disposition: form-data; name="f"; '
        b"filename*=UTF-8''r%C3%A9sum%C3%A9.pdf\r\n\r\n%PDF\r\n--x--\r\nepilogue"
    )
    parser.close()
    start = events[0]
    assert isinstance(start, PartStart)
    assert (start.name, start.filename, start.content_type) == ("f", "résumé.pdf", None)
