"""Stored files as every file route serves them: inline only for raster images, by the essence.

The file routes are read from the application, so a route added later is covered too.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import requests

from agentsight_otel._attachments.mime import essence, shown_inline
from agentsight_otel._server.app import create_app
from agentsight_otel._server.downloads import safe_filename
from agentsight_otel._server.store import Store
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY

_KEY = {"Authorization": f"Api-Key {TEST_API_KEY}"}
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>document.title="ran"</script></svg>'
HTML = b"<!doctype html><script>document.title='ran'</script>"
# declared media type -> the Content-Type an inline answer carries (None: a download).
DECLARED: dict[str, str | None] = {
    "image/svg+xml": None,
    "image/svg+xml; charset=utf-8": None,
    "image/SVG+xml": None,
    "IMAGE/SVG+XML": None,
    "image/svg+xml;x=y": None,
    "image/svg+xml ": None,
    " image/svg+xml": None,
    "text/html": None,
    "text/html; charset=utf-8": None,
    "TEXT/HTML ": None,
    "application/xhtml+xml": None,
    "text/xml": None,
    "application/pdf": None,
    "text/plain": None,
    "application/octet-stream": None,
    "image/x-icon": None,
    "image": None,
    "": None,
    "image/png": "image/png",
    "image/png; x=y": "image/png",
    "IMAGE/PNG": "image/png",
    "image/png ": "image/png",
    "image/jpeg;charset=binary": "image/jpeg",
    "image/gif": "image/gif",
    "image/webp": "image/webp",
    "image/avif": "image/avif",
    "image/bmp": "image/bmp",
}


def _file_routes() -> list[str]:
    """Every GET path of the app that serves a stored file by id."""
    store = Store()
    try:
        paths = [getattr(route, "path", "") for route in create_app(store, loopback=True).routes]
    finally:
        store.close()
    return [path for path in paths if "{file_id" in path]


FILE_ROUTES = _file_routes()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[LocalServer, dict[str, int]]]:
    """A loopback server holding one file per declared type (uploaded for real); their ids."""
    with LocalServer(api_keys=[TEST_API_KEY]) as server:
        url = server.url
        pk = requests.post(
            f"{url}/api/conversations/", json={"conversation_id": "t"}, headers=_KEY, timeout=10
        ).json()["id"]
        ids: dict[str, int] = {}
        for index, declared in enumerate(DECLARED):
            # Each file's bytes differ, so content addressing keeps them apart.
            data = (SVG if "svg" in declared.lower() else HTML) + str(index).encode()
            item = {"filename": f"f{index}.bin", "mime_type": declared, "data": _b64(data)}
            body = {"conversation": pk, "sender": "end_user", "attachments": [item]}
            answer = requests.post(f"{url}/api/attachments/", json=body, headers=_KEY, timeout=10)
            assert answer.status_code == 201, answer.text
            ids[declared] = answer.json()["attachments"][0]["id"]
        yield server, ids


def _b64(data: bytes) -> str:
    """Base64 text, as the JSON upload carries files."""
    return base64.b64encode(data).decode("ascii")


def test_both_file_routes_are_found() -> None:
    assert sorted(FILE_ROUTES) == ["/api/attachments/{file_id}/content/", "/files/{file_id}/"]


@pytest.mark.parametrize("declared", DECLARED, ids=[repr(d) for d in DECLARED])
@pytest.mark.parametrize("route", FILE_ROUTES)
def test_only_raster_images_are_inline(
    served: tuple[LocalServer, dict[str, int]], route: str, declared: str
) -> None:
    server, ids = served
    path = route.replace("{file_id}", str(ids[declared]))
    answer = requests.get(server.url + path, headers=_KEY, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["x-content-type-options"] == "nosniff"
    disposition = answer.headers["content-disposition"]
    inline_type = DECLARED[declared]
    if inline_type is None:
        assert disposition.startswith("attachment;")
        assert answer.headers["content-type"] == "application/octet-stream"
    else:
        assert disposition.startswith("inline;")
        assert answer.headers["content-type"] == inline_type
    assert 'filename="f' in disposition


@pytest.mark.parametrize("declared", DECLARED)
def test_one_decision(declared: str) -> None:
    assert shown_inline(declared) is (DECLARED[declared] is not None)
    if DECLARED[declared] is not None:
        assert essence(declared) == DECLARED[declared]


def test_the_viewer_shows_only_inline_files_as_images(
    served: tuple[LocalServer, dict[str, int]],
) -> None:
    server, ids = served
    page = requests.get(f"{server.url}/conversations/1/", timeout=10).text
    for declared, file_id in ids.items():
        shown = f'<img src="/files/{file_id}/"' in page
        assert shown is (DECLARED[declared] is not None), declared


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\evil.html", "evil.html"),
        ('a"b.txt', "a_b.txt"),
        ("line\r\nSet-Cookie: x=1.txt", "lineSet-Cookie_ x=1.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("...", "file.png"),
        ("/", "file.png"),
        ("x" * 500, "x" * 200),
        ("résumé.pdf", "résumé.pdf"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name, "image/png") == expected


@pytest.mark.parametrize("route", FILE_ROUTES)
def test_hostile_filenames_stay_one_safe_header(route: str) -> None:
    with LocalServer(api_keys=[TEST_API_KEY]) as server:
        url = server.url
        pk = requests.post(
            f"{url}/api/conversations/", json={"conversation_id": "n"}, headers=_KEY, timeout=10
        ).json()["id"]
        item = {"filename": '../a"\r\nX-Evil: 1\\b.html', "mime_type": "text/html", "data": "eA=="}
        body = {"conversation": pk, "sender": "end_user", "attachments": [item]}
        stored = requests.post(f"{url}/api/attachments/", json=body, headers=_KEY, timeout=10)
        assert stored.status_code == 201, stored.text
        file_id = stored.json()["attachments"][0]["id"]
        answer = requests.get(
            url + route.replace("{file_id}", str(file_id)), headers=_KEY, timeout=10
        )
    assert answer.status_code == 200 and "x-evil" not in answer.headers
    assert answer.headers["content-disposition"] == 'attachment; filename="b.html"'
