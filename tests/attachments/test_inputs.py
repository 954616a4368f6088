"""Input in both seed modes (and paths, file objects): names, types, sizes, and every bad input."""

from __future__ import annotations

import base64
import gzip
import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentsight_otel._attachments import MAX_CALL_BYTES, MAX_FILE_BYTES, prepare
from agentsight_otel._attachments.mime import detect, sniff, suffix_for
from agentsight_otel._attachments.normalize import Batch
from agentsight_otel._attachments.sources import TEXT_CHUNK, strict_base64_size
from agentsight_otel.exceptions import AgentSightError, ValidationError
from agentsight_otel.testing import FakeBackend

from .helpers import open_fds, pdf_bytes, png_bytes, sparse_file

PDF, PNG = pdf_bytes(), png_bytes()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)
GIF = b"GIF89a\x01\x00\x01\x00" + bytes(32)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(32)
ZIP = b"PK\x03\x04\x14\x00\x00\x00" + bytes(32)
TEXT = "Bonjour, ça va ?\nline two\n".encode()
UNKNOWN = b"\x00\x01\x02\x03binary"


def b64(data: bytes) -> str:
    """Base64 text, as the seed's example makes it."""
    return base64.b64encode(data).decode("utf-8")


def described(attachments: Any, mode: str = "base64") -> list[dict[str, Any]]:
    """Descriptors of a checked call (sources released)."""
    batch = prepare(attachments, mode)
    batch.close()
    return batch.descriptors


def content(batch: Batch, index: int = 0) -> bytes:
    """The bytes a file's source would upload."""
    return b"".join(batch.files[index].source.raw_chunks())


# -- the seed's two shapes -------------------------------------------------------------


def test_base64_mode_as_the_seed_writes_it() -> None:
    files = [{"filename": "report.pdf", "data": b64(PDF), "mime_type": "application/pdf"}]
    assert described(files) == [
        {"filename": "report.pdf", "size": len(PDF), "mime_type": "application/pdf"}
    ]


def test_form_data_mode_as_the_seed_writes_it() -> None:
    batch = prepare([{"data": PDF, "filename": "document.pdf"}], "form_data")
    assert batch.descriptors == [
        {"filename": "document.pdf", "size": len(PDF), "mime_type": "application/pdf"}
    ]
    assert content(batch) == PDF
    assert batch.files[0].source.data is PDF  # referenced, not copied  # type: ignore[attr-defined]
    batch.close()


def test_form_data_with_an_open_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "scan.png"
    path.write_bytes(PNG)
    with open(path, "rb") as handle:
        handle.read(4)  # the caller's position is where the data starts, as read() would
        handle.seek(0)
        batch = prepare([{"data": handle}], "form_data")
    # The caller closed its file: ours is a separate descriptor.
    assert batch.descriptors == [
        {"filename": "scan.png", "size": len(PNG), "mime_type": "image/png"}
    ]
    assert content(batch) == PNG
    batch.close()


def test_file_object_read_from_its_current_position(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"HEADER" + PDF)
    with open(path, "rb") as handle:
        handle.seek(6)
        batch = prepare([{"data": handle, "filename": "tail.pdf"}], "form_data")
    assert content(batch) == PDF
    batch.close()


def test_in_memory_and_compressed_file_objects_are_read_once() -> None:
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb") as archive:
        archive.write(PDF)
    packed.seek(0)
    streams = [io.BytesIO(PNG), gzip.GzipFile(fileobj=packed, mode="rb")]
    batch = prepare([{"data": s} for s in streams], "form_data")
    assert [content(batch, i) for i in range(2)] == [PNG, PDF]  # gzip: what read() gives
    assert [f["mime_type"] for f in batch.descriptors] == ["image/png", "application/pdf"]
    batch.close()


def test_named_temporary_file_uses_its_descriptor(tmp_path: Path) -> None:
    with tempfile.NamedTemporaryFile(dir=tmp_path, suffix=".pdf") as handle:
        handle.write(PDF)
        handle.flush()
        handle.seek(0)
        batch = prepare([handle], "base64")
    assert batch.descriptors[0]["filename"].endswith(".pdf")
    assert content(batch) == PDF
    batch.close()


@pytest.mark.parametrize("as_path", [str, Path])
@pytest.mark.parametrize("mode", ["base64", "form_data"])
def test_paths_are_accepted_in_both_modes(
    tmp_path: Path, mode: str, as_path: Callable[[Path], Any]
) -> None:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(PDF)
    other = tmp_path / "photo"
    other.write_bytes(PNG)
    batch = prepare([as_path(path), {"data": Path(other)}], mode)
    assert batch.descriptors == [
        {"filename": "invoice.pdf", "size": len(PDF), "mime_type": "application/pdf"},
        {"filename": "photo", "size": len(PNG), "mime_type": "image/png"},
    ]
    path.unlink()  # our descriptor still reads it
    assert content(batch) == PDF
    batch.close()


# -- media types and generated names -------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime", "suffix"),
    [
        (PDF, "application/pdf", ".pdf"),
        (PNG, "image/png", ".png"),
        (JPEG, "image/jpeg", ".jpg"),
        (GIF, "image/gif", ".gif"),
        (WEBP, "image/webp", ".webp"),
        (ZIP, "application/zip", ".zip"),
        (TEXT, "text/plain", ".txt"),
        (UNKNOWN, "application/octet-stream", ".bin"),
    ],
)
@pytest.mark.parametrize("mode", ["base64", "form_data"])
def test_type_sniffed_and_name_generated_with_its_suffix(
    data: bytes, mime: str, suffix: str, mode: str
) -> None:
    value: Any = b64(data) if mode == "base64" else data
    files = described([{"data": value}, {"data": value}], mode)
    assert files == [
        {"filename": f"attachment-1{suffix}", "size": len(data), "mime_type": mime},
        {"filename": f"attachment-2{suffix}", "size": len(data), "mime_type": mime},
    ]


@pytest.mark.parametrize(
    ("filename", "data", "mime"),
    [
        ("notes.csv", TEXT, "text/csv"),  # text takes the name's more specific type
        ("data.json", b'{"a": 1}', "application/json"),
        (
            "report.docx",
            ZIP,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("photo.jpg", PNG, "image/png"),  # a signature beats a wrong suffix
        ("scan.pdf", UNKNOWN, "application/pdf"),  # no signature: the name decides
        ("README", UNKNOWN, "application/octet-stream"),
    ],
)
def test_type_from_name_and_content(filename: str, data: bytes, mime: str) -> None:
    assert described([{"data": data, "filename": filename}], "form_data")[0]["mime_type"] == mime


def test_given_type_and_name_are_kept() -> None:
    files = [{"data": b64(PNG), "filename": " chart ", "mime_type": "image/x-custom; v=1"}]
    assert described(files) == [
        {"filename": "chart", "size": len(PNG), "mime_type": "image/x-custom; v=1"}
    ]


def test_sniffing_helpers() -> None:
    assert sniff(b"") is None
    assert sniff("é".encode()[:1]) == "text/plain"  # a character cut by the window
    assert detect(None, b"") == "application/octet-stream"
    assert suffix_for("image/jpeg; q=1") == ".jpg"
    assert suffix_for("audio/x-unheard-of") == ".bin"


# -- strict base64 -------------------------------------------------------------------------


def test_strict_base64_checked_in_chunks() -> None:
    data = bytes(range(256)) * 9000  # several chunks of text
    text = b64(data)
    assert len(text) > 2 * TEXT_CHUNK
    assert strict_base64_size(text) == (len(data), data[:512])
    # Padding that would end the first chunk is not allowed in the middle of the text.
    early = b64(b"x") + text
    with pytest.raises(ValueError):
        strict_base64_size(early[: TEXT_CHUNK - 4] + "QQ==" + early[TEXT_CHUNK:])


@pytest.mark.parametrize(
    "text",
    [
        "!!not base64!!",
        "aGVsbG8",
        "aGVsbG8=\n",
        "aGV sbG8=",
        "aGVsbG8===",
        "QQ==QUFB",
        "é" * 4,
        "a===",
    ],
)
def test_invalid_base64_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match=r"attachments\[0\]\['data'\] is not valid base64"):
        prepare([{"filename": "a.txt", "data": text}], "base64")


# -- bad input: a clear exception at the call ---------------------------------------------

BAD: dict[str, tuple[Callable[[Path], tuple[Any, str]], str]] = {
    "more than 10 files": (lambda p: ([{"data": b64(PDF)}] * 11, "base64"), "at most 10"),
    "empty list": (lambda p: ([], "base64"), "must not be empty"),
    "not a list": (lambda p: ({"data": b64(PDF)}, "base64"), "must be a list"),
    "missing data": (lambda p: ([{"filename": "a.pdf"}], "base64"), "has no 'data'"),
    "text str as form_data bytes": (
        lambda p: ([{"filename": "a.txt", "data": "hello"}], "form_data"),
        "is a str: with mode='form_data'",
    ),
    "bytes in base64 mode": (lambda p: ([{"data": PDF}], "base64"), "is bytes: with mode='base64'"),
    "data of another type": (lambda p: ([{"data": 12}], "form_data"), "not int"),
    "item of another type": (lambda p: ([12], "form_data"), "must be a dict"),
    "unreadable path": (
        lambda p: ([str(p / "missing.pdf")], "form_data"),
        "cannot read .*No such file",
    ),
    "directory as a path": (
        lambda p: ([{"data": p}], "base64"),
        "cannot read .*not a regular file",
    ),
    "text-mode file": (
        lambda p: ([{"data": io.StringIO("hi")}], "form_data"),
        "text file object",
    ),
    "empty file": (lambda p: ([{"data": b""}], "form_data"), "is empty"),
    "bad mode": (lambda p: ([{"data": b64(PDF)}], "url"), "mode must be one of"),
    "mime type injection": (
        lambda p: ([{"data": PDF, "mime_type": "text/html\r\nX-Evil: 1"}], "form_data"),
        "must look like 'type/subtype'",
    ),
    "filename control characters": (
        lambda p: ([{"data": PDF, "filename": "a\r\nb.pdf"}], "form_data"),
        "control characters",
    ),
    "filename not a string": (lambda p: ([{"data": PDF, "filename": 3}], "form_data"), "string"),
    "file over 25 MB (path)": (
        lambda p: ([sparse_file(p / "big.pdf", MAX_FILE_BYTES + 1)], "form_data"),
        "over the limit of 25.0 MiB per file",
    ),
    "file over 25 MB (file object)": (
        lambda p: (
            [{"data": open(sparse_file(p / "big.bin", MAX_FILE_BYTES + 1), "rb")}],  # noqa: SIM115
            "base64",
        ),
        "over the limit of 25.0 MiB per file",
    ),
    "file over 25 MB (stream)": (
        lambda p: (
            [{"data": io.BufferedReader(io.BytesIO(bytes(MAX_FILE_BYTES + 1)))}],
            "form_data",
        ),
        "over the limit of 25.0 MiB per file",
    ),
    "call over 40 MB": (
        lambda p: (
            [sparse_file(p / f"part{i}.pdf", 14 * 1024 * 1024) for i in range(3)],
            "form_data",
        ),
        "over the limit of 40.0 MiB per call",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_a_validation_error_and_leaks_nothing(case: str, tmp_path: Path) -> None:
    build, message = BAD[case]
    attachments, mode = build(tmp_path)
    before = open_fds()
    with pytest.raises(ValidationError, match=message) as raised:
        prepare(attachments, mode)
    assert isinstance(raised.value, AgentSightError)
    for item in attachments if isinstance(attachments, list) else []:
        data = item.get("data") if isinstance(item, dict) else None
        if hasattr(data, "close"):
            data.close()
    assert open_fds() <= before


def test_the_call_limit_counts_every_file() -> None:
    assert 3 * 14 * 1024 * 1024 > MAX_CALL_BYTES > 2 * 14 * 1024 * 1024


def test_a_failing_call_keeps_what_was_tracked(backend: FakeBackend, tmp_path: Path) -> None:
    t = backend.tracker
    t.get_or_create_conversation("keep")
    t.track_human_message("before")
    t.track_attachments([{"data": b64(PDF), "filename": "ok.pdf"}])
    before = open_fds()
    for attachments, mode in (
        ([str(tmp_path / "a.pdf") for _ in range(1)], "base64"),
        ([{"data": PDF, "filename": "x.pdf"}, {"data": "text"}], "form_data"),
        ([tmp_path / "nope"], "form_data"),
    ):
        with pytest.raises(ValidationError):
            t.track_attachments(attachments, mode=mode)
    with pytest.raises(ValidationError):
        t.track_human_message("with files", attachments=[])
    with pytest.raises(ValidationError):
        t.track_agent_message("bad mode", attachments=[{"data": PDF}], attachment_mode="raw")
    with pytest.raises(ValidationError):
        t.track_attachments([{"data": b64(PDF)}], sender="bot")
    path = tmp_path / "fine.pdf"
    path.write_bytes(PDF)
    with pytest.raises(ValidationError):  # opened, then the conversation id is refused
        t.track_attachments([path], conversation_id="   ")
    assert open_fds() <= before
    t.track_agent_message("after")
    summary = t.get_tracked_data_summary("keep")["summary"]
    counts = (summary["total"], summary["questions"], summary["answers"], summary["attachments"])
    assert counts == (3, 1, 1, 1)
    result = t.send_tracked_data()
    assert result["status"] == "delivered"
    assert result["summary"]["attachments"] == 1


def test_path_files_and_descriptors_are_released_after_upload(
    backend: FakeBackend, tmp_path: Path
) -> None:
    path = tmp_path / "r.pdf"
    path.write_bytes(PDF)
    before = open_fds()
    t = backend.tracker
    t.get_or_create_conversation("fds")
    t.track_attachments([path, {"data": open(path, "rb")}], mode="form_data")  # noqa: SIM115
    assert t.send_tracked_data()["status"] == "delivered"
    assert open_fds() <= before + 1  # the caller's own file object, still open


def test_describe_attachments_kept_for_the_input_module() -> None:
    from agentsight_otel._tracker import inputs

    files, attributes = inputs.attachments([{"data": b64(PNG)}], "base64", "agent", None)
    assert files == [{"filename": "attachment-1.png", "size": len(PNG), "mime_type": "image/png"}]
    assert attributes["agentsight.attachment.count"] == 1


def test_a_file_object_is_read_from_where_it_stands() -> None:
    with tempfile.TemporaryFile() as handle:
        handle.write(PDF)
        with pytest.raises(ValidationError, match="is empty"):  # at its end: nothing to read
            prepare([{"data": handle, "filename": "scratch.pdf"}], "form_data")
        handle.seek(0)
        batch = prepare([{"data": handle, "filename": "scratch.pdf"}], "form_data")
    assert content(batch) == PDF
    batch.close()


def test_write_only_and_closed_files_are_refused(tmp_path: Path) -> None:
    with open(tmp_path / "out.bin", "wb") as handle:
        handle.write(PDF)
        with pytest.raises(ValidationError, match="not opened for reading"):
            prepare([{"data": handle}], "form_data")
    with open(tmp_path / "out.bin", "rb") as handle:
        pass
    with pytest.raises(ValidationError, match="closed file object"):
        prepare([{"data": handle}], "form_data")
