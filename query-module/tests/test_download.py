"""Метаданные и скачивание через query: байты, диапазоны, условные запросы, имена, архив."""

from __future__ import annotations

import hashlib
import json
import os
import time
from urllib.parse import quote

from query_fleet import Fleet

DATA = os.urandom(3 * 1024 * 1024 + 123)


def _setup(fleet: Fleet, **query_settings: object) -> str:
    fleet.add_element("se-edit", "edit")
    fleet.publish()
    fleet.start_query(**query_settings)
    return fleet.put("se-edit", "Отчёт о продажах 2026.pdf", DATA, content_type="application/pdf")


def test_metadata_and_whole_download(fleet: Fleet) -> None:
    file_id = _setup(fleet)
    meta = fleet.q("GET", f"/api/v1/files/{file_id}")
    assert meta.status_code == 200, meta.text
    body = meta.json()
    assert body["file_id"] == file_id
    assert body["storage_element_id"] == "se-edit"
    assert body["original_filename"] == "Отчёт о продажах 2026.pdf"
    assert body["file_size"] == len(DATA)

    r = fleet.q("GET", f"/api/v1/files/{file_id}/download")
    assert r.status_code == 200, r.text
    assert r.content == DATA
    assert r.headers["content-length"] == str(len(DATA))
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert r.headers["content-type"].startswith("application/pdf")
    cd = r.headers["content-disposition"]
    assert cd.startswith("attachment")
    assert f"filename*=UTF-8''{quote('Отчёт о продажах 2026.pdf', safe='')}" in cd


def test_repr_digest_and_ascii_fallback(fleet: Fleet) -> None:
    import base64

    file_id = _setup(fleet)
    r = fleet.q("GET", f"/api/v1/files/{file_id}/download")
    digest = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
    assert r.headers["repr-digest"] == f"sha-256=:{digest}:"
    assert 'filename="' in r.headers["content-disposition"]


def test_ranges(fleet: Fleet) -> None:
    file_id = _setup(fleet)
    path = f"/api/v1/files/{file_id}/download"
    n = len(DATA)
    cases = {
        "bytes=0-99": (0, 99),
        "bytes=1000-": (1000, n - 1),
        "bytes=-1048576": (n - 1048576, n - 1),
        f"bytes={n - 10}-{n + 500}": (n - 10, n - 1),
    }
    for rng, (start, end) in cases.items():
        r = fleet.q("GET", path, headers={"Range": rng})
        assert r.status_code == 206, (rng, r.text)
        assert r.content == DATA[start:end + 1], rng
        assert r.headers["content-range"] == f"bytes {start}-{end}/{n}"
        assert r.headers["content-length"] == str(end - start + 1)

    r = fleet.q("GET", path, headers={"Range": f"bytes={n}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{n}"

    etag = f'"{hashlib.sha256(DATA).hexdigest()}"'
    r = fleet.q("GET", path, headers={"Range": "bytes=10-19", "If-Range": etag})
    assert r.status_code == 206 and r.content == DATA[10:20]
    r = fleet.q("GET", path, headers={"Range": "bytes=10-19", "If-Range": '"stale-etag"'})
    assert r.status_code == 200 and r.content == DATA
    r = fleet.q("GET", path, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""


def test_unknown_file_and_bad_id(fleet: Fleet) -> None:
    _setup(fleet)
    r = fleet.q("GET", "/api/v1/files/00000000-0000-0000-0000-000000000000/download")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "file_not_found"
    assert fleet.q("GET", "/api/v1/files/00000000-0000-0000-0000-000000000000").status_code == 404
    assert fleet.q("GET", "/api/v1/files/..%2Fetc").status_code in (404, 422)
    r = fleet.q("GET", "/api/v1/files/abc", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


def test_archived_file_answers_409_with_restore(fleet: Fleet) -> None:
    fleet.add_element("se-arch", "rw")
    fleet.publish()
    fleet.start_query()
    file_id = fleet.put("se-arch", "Архивный акт.txt", b"cold data")
    el = fleet.elements["se-arch"]
    for mode in ("ro", "ar"):
        r = fleet.http.post(f"{el.url}/api/v1/mode", json={"mode": mode}, headers=fleet.admin_headers)
        assert r.status_code == 200, r.text
    el.mode = "ar"
    fleet.publish()

    # метаданные архивного файла по-прежнему доступны и находятся поиском
    meta = fleet.q("GET", f"/api/v1/files/{file_id}")
    assert meta.status_code == 200
    r = fleet.q("GET", f"/api/v1/files/{file_id}/download")
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["code"] == "file_archived"
    assert f"/api/v1/files/{file_id}/restore" in problem["detail"]

    assert fleet.q("POST", f"/api/v1/files/{file_id}/restore", role="READONLY").status_code == 403
    r = fleet.q("POST", f"/api/v1/files/{file_id}/restore",
                headers=fleet.factory.headers("USER", sub="u-restorer", name="Петров"))
    assert r.status_code == 202, r.text
    assert r.json()["storage_element_id"] == "se-arch"
    # query зовёт элемент своим сервисным токеном, но file_restored — от имени пользователя (журнал аудита)
    deadline = time.monotonic() + 10
    actors: list[object] = []
    while not actors and time.monotonic() < deadline:
        actors = [e["actor"] for e in (json.loads(f[b"event"]) for _, f in fleet.redis.xrange(f"{fleet.ns}:events"))
                  if e["type"] == "file_restored" and e["data"]["file_id"] == file_id]
        time.sleep(0.05)
    assert actors == [{"type": "service_account", "id": "u-restorer", "name": "Петров"}]


def test_client_leaving_mid_download_releases_upstream(fleet: Fleet) -> None:
    big = os.urandom(32 * 1024 * 1024)
    fleet.add_element("se-edit", "edit")
    fleet.publish()
    fleet.start_query()
    file_id = fleet.put("se-edit", "big.bin", big)
    url = f"{fleet.query.url}/api/v1/files/{file_id}/download"
    with fleet.http.stream("GET", url, headers=fleet.factory.headers("READONLY")) as r:
        assert r.status_code == 200
        next(r.iter_raw(65536))
    deadline = time.monotonic() + 10
    aborted = 'artstore_downloads_total{outcome="aborted"} 1.0'
    while aborted not in (m := fleet.http.get(f"{fleet.query.url}/metrics").text):
        assert time.monotonic() < deadline, [x for x in m.splitlines() if "downloads_total" in x]
        time.sleep(0.05)
    # соединение с элементом вернулось в работу: следующее скачивание идёт как обычно
    r = fleet.q("GET", f"/api/v1/files/{file_id}/download", headers={"Range": "bytes=-16"})
    assert r.status_code == 206 and r.content == big[-16:]

