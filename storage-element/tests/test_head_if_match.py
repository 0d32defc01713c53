"""HEAD содержимого (те же заголовки, что у GET, без тела) и If-Match → 412 (issue 14 §2.7, сторона элемента)."""

from __future__ import annotations

import os
import uuid

import pytest

from .conftest import put, running

pytestmark = pytest.mark.usefixtures("backend_kind")
SAME = ("content-length", "etag", "accept-ranges", "content-disposition", "repr-digest", "content-type",
        "content-range", "x-artstore-compression")


@pytest.fixture
def settings(make_settings, backend_kind):
    return make_settings(storage_type=backend_kind)


async def test_head_has_get_headers_and_no_body(settings, admin, token_factory) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    async with running(settings) as (app, c):
        attr = (await put(c, admin, data, original_filename="Годовой отчёт.pdf", content_type="application/pdf")).json()
        packed = (await put(c, admin, data[:100_000], compression_algorithm="gzip")).json()
        reader = token_factory.headers("READONLY")
        url = f"/api/v1/files/{attr['file_id']}/content"
        for extra, status in (({}, 200), ({"Range": "bytes=10-19"}, 206), ({"Range": "bytes=-5"}, 206)):
            got = await c.get(url, headers={**reader, **extra})
            head = await c.head(url, headers={**reader, **extra})
            assert (head.status_code, got.status_code) == (status, status), extra
            assert head.content == b""
            for name in SAME:
                assert head.headers.get(name) == got.headers.get(name), (name, extra)
        assert head.headers["content-range"] == f"bytes {len(data) - 5}-{len(data) - 1}/{len(data)}"
        assert head.headers["content-length"] == "5"
        raw_url = f"/api/v1/files/{packed['file_id']}/content?raw=true"
        head, got = await c.head(raw_url, headers=admin), await c.get(raw_url, headers=admin)
        assert head.status_code == got.status_code == 200
        assert head.headers["x-artstore-compression"] == "gzip"
        assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))
        r = await c.head(url, headers={**reader, "Range": "bytes=99999999-"})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(data)}"
        assert (await c.head(f"/api/v1/files/{uuid.uuid4()}/content", headers=reader)).status_code == 404
        assert (await c.head(url)).status_code == 401
        # HEAD не читает файл и не запускает проверку целиком
        app.state.element.fixity.forget(attr["file_id"])
        assert (await c.head(url, headers={**reader, "Range": "bytes=0-0"})).status_code == 206
        assert app.state.element.fixity.full_hashes == 0


async def test_if_match(settings, admin) -> None:
    data = os.urandom(100_000)
    async with running(settings) as (_, c):
        attr = (await put(c, admin, data)).json()
        url = f"/api/v1/files/{attr['file_id']}/content"
        etag = f'"{attr["checksum"]}"'
        for good in (etag, "*", f'"other", {etag}'):
            r = await c.get(url, headers={**admin, "If-Match": good})
            assert r.status_code == 200 and r.content == data, good
        r = await c.get(url, headers={**admin, "If-Match": etag, "Range": "bytes=0-9"})
        assert r.status_code == 206 and r.content == data[:10]
        for bad in ('"0000"', f"W/{etag}", f'"{attr["checksum"]}-raw"'):
            for method in ("GET", "HEAD"):
                r = await c.request(method, url, headers={**admin, "If-Match": bad, "Range": "bytes=0-9"})
                assert r.status_code == 412, (method, bad)
                assert r.headers["etag"] == etag
                if method == "GET":
                    assert r.headers["content-type"].startswith("application/problem+json")
                    assert r.json()["code"] == "precondition_failed"
        # raw-представление имеет свой ETag
        raw = await c.get(url + "?raw=true", headers={**admin, "If-Match": f'"{attr["checksum"]}-raw"'})
        assert raw.status_code == 200
        missing = f"/api/v1/files/{uuid.uuid4()}/content"
        for value in ("*", etag):  # RFC 9110 §13.2.1: без условия ответ был бы 404 — условие не проверяется
            r = await c.get(missing, headers={**admin, "If-Match": value})
            assert r.status_code == 404 and r.json()["code"] == "file_not_found", value
        assert (await c.get(missing, headers=admin)).status_code == 404
