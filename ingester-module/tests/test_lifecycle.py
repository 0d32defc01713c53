"""Удаление, finalize (сага), пакетные операции — через настоящие элементы."""

from __future__ import annotations

import hashlib
import os
import time

import httpx

API = "/api/v1"


def _upload(shared, data: bytes, sub: str = "user-1", **fields: str) -> dict:
    r = httpx.post(shared.url + API + "/files/upload", headers=shared.headers(sub=sub), timeout=30,
                   data=fields or None, files={"file": ("doc.txt", data, "text/plain")})
    assert r.status_code == 201, r.text
    return r.json()


def _attr(shared, element: str, file_id: str) -> httpx.Response:
    return httpx.get(f"{shared.elements[element].url}{API}/files/{file_id}", headers=shared.headers("ADMIN"))


def test_delete_rules(shared) -> None:
    mine = _upload(shared, b"temporary")
    r = httpx.delete(shared.url + API + f"/files/{mine['file_id']}", headers=shared.headers(sub="user-2"))
    assert r.status_code == 403
    r = httpx.delete(shared.url + API + f"/files/{mine['file_id']}", headers=shared.headers())
    assert r.status_code == 204
    assert _attr(shared, "se-edit", mine["file_id"]).status_code == 404
    r = httpx.delete(shared.url + API + f"/files/{mine['file_id']}", headers=shared.headers())
    assert r.status_code == 404 and r.json()["code"] == "file_not_found"
    perm = _upload(shared, b"permanent", retention_policy="permanent")
    r = httpx.delete(shared.url + API + f"/files/{perm['file_id']}", headers=shared.headers("ADMIN"))
    assert r.status_code == 409 and r.json()["code"] == "mode_forbids_operation"
    other = _upload(shared, b"someone else's", sub="user-3")
    assert httpx.delete(shared.url + API + f"/files/{other['file_id']}",
                        headers=shared.headers("ADMIN", sub="admin")).status_code == 204
    # в событии — кто удалил (журнал аудита admin), а не владелец файла
    deleted = shared.events("file_deleted", other["file_id"])
    assert [e["actor"] for e in deleted] == [{"type": "service_account", "id": "admin", "name": "ivanov"}]
    assert deleted[0]["data"]["owner_id"] == "user-3"


def test_finalize_saga(shared) -> None:
    data = os.urandom(2 * 1024 * 1024)
    f = _upload(shared, data, compress="true")
    r = httpx.post(shared.url + API + f"/finalize/{f['file_id']}", headers=shared.headers(), timeout=30)
    assert r.status_code == 202, r.text
    tx_id = r.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tx = httpx.get(shared.url + API + f"/transactions/{tx_id}", headers=shared.headers()).json()
        if tx["state"] in ("done", "failed", "compensated"):
            break
        time.sleep(0.1)
    assert tx["state"] == "done", tx
    assert tx["step"] == "done" and tx["source"] == "se-edit" and tx["target"] == "se-rw"
    assert _attr(shared, "se-edit", f["file_id"]).status_code == 404
    moved = _attr(shared, "se-rw", f["file_id"]).json()
    assert moved["retention_policy"] == "permanent" and moved["checksum"] == hashlib.sha256(data).hexdigest()
    assert moved["original_filename"] == "doc.txt" and moved["created_by_id"] == "user-1"
    content = httpx.get(f"{shared.elements['se-rw'].url}{API}/files/{f['file_id']}/content",
                        headers=shared.headers("ADMIN"), timeout=30).content
    assert content == data
    listed = httpx.get(shared.url + API + "/transactions", headers=shared.headers()).json()
    assert any(t["id"] == tx_id for t in listed["items"])
    # событие шлёт сага (возможно, после перезапуска) — от имени того, кто запросил finalize
    finalized = shared.events("file_finalized", f["file_id"])
    assert [e["actor"] for e in finalized] == [{"type": "service_account", "id": "user-1", "name": "ivanov"}]
    assert tx["requested_by"] == "user-1" and tx["requested_by_type"] == "service_account"
    # повторный finalize — уже permanent; удаление — запрещено режимом
    r = httpx.post(shared.url + API + f"/finalize/{f['file_id']}", headers=shared.headers())
    assert r.status_code == 409
    r = httpx.delete(shared.url + API + f"/files/{f['file_id']}", headers=shared.headers())
    assert r.status_code == 409 and r.json()["code"] == "mode_forbids_operation"


def test_transfer_requires_admin_and_known_target(shared) -> None:
    f = _upload(shared, b"transfer me")
    r = httpx.post(shared.url + API + f"/files/{f['file_id']}/transfer", headers=shared.headers(),
                   json={"target_storage_element_id": "se-rw"})
    assert r.status_code == 403
    r = httpx.post(shared.url + API + f"/files/{f['file_id']}/transfer", headers=shared.headers("ADMIN"),
                   json={"target_storage_element_id": "nope"})
    assert r.status_code == 404
    r = httpx.post(shared.url + API + f"/files/{f['file_id']}/transfer?wait=true", headers=shared.headers("ADMIN"),
                   json={"target_storage_element_id": "se-rw"}, timeout=60)
    assert r.status_code == 200 and r.json()["state"] == "done", r.text


def test_batch_upload_and_delete(shared) -> None:
    files = [("file", (f"файл-{i}.txt", f"содержимое {i}".encode() * (i + 1), "text/plain")) for i in range(5)]
    files.append(("file", ("big.bin", os.urandom(2 * 1024 * 1024), "application/octet-stream")))
    r = httpx.post(shared.url + API + "/batch/upload", headers=shared.headers(), timeout=60,
                   data={"tags": "пакет"}, files=files)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["succeeded"] == 6 and body["failed"] == 0
    assert [x["index"] for x in body["results"]] == list(range(6))
    assert body["results"][0]["filename"] == "файл-0.txt" and body["results"][0]["file"]["tags"] == ["пакет"]
    ids = [x["file"]["file_id"] for x in body["results"]]
    perm = _upload(shared, b"p", retention_policy="permanent")["file_id"]
    r = httpx.post(shared.url + API + "/batch/delete", headers=shared.headers(),
                   json={"file_ids": [*ids[:3], "missing-id", perm]})
    assert r.status_code == 200
    res = r.json()["results"]
    assert [x["status"] for x in res] == ["deleted", "deleted", "deleted", "error", "error"]
    assert res[3]["error"]["code"] == "file_not_found" and res[4]["error"]["code"] == "mode_forbids_operation"


def test_batch_limits(shared) -> None:
    files = [("file", (f"{i}.txt", b"x", "text/plain")) for i in range(101)]
    r = httpx.post(shared.url + API + "/batch/upload", headers=shared.headers(), files=files, timeout=60)
    body = r.json()
    assert body["succeeded"] == 100 and body["results"][100]["error"]["code"] == "batch_too_many_files"


def test_rate_limit_from_token_claim(shared) -> None:
    def limited_total() -> int:
        return int(httpx.get(shared.url + API + "/stats", headers=shared.headers()).json()["rate_limited_total"])

    before = limited_total()
    headers = shared.headers(sub="limited-user", rate_limit=2)
    codes = [httpx.post(shared.url + API + "/files/upload", headers=headers,
                        files={"file": ("r.txt", b"r")}).status_code for _ in range(3)]
    assert codes[:2] == [201, 201] and codes[2] == 429
    r = httpx.post(shared.url + API + "/files/upload", headers=headers, files={"file": ("r.txt", b"r")})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    # отклонённые видны на панели (счётчики уходят в Redis раз в 2 с)
    deadline = time.monotonic() + 15
    while limited_total() < before + 2:
        assert time.monotonic() < deadline, "rate_limited_total не вырос"
        time.sleep(0.2)
