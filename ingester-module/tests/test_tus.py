"""tus 1.0: tuspy через настоящий ingester; обрыв на случайном смещении и продолжение через ДРУГОЙ ingester."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random
import socket
import time
from urllib.parse import urlsplit

import httpx
from tusclient import client as tus_client

API = "/api/v1"
TUS = {"Tus-Resumable": "1.0.0"}


def _file_info(url: str, headers: dict[str, str], location: str) -> dict:
    return httpx.get(url + urlsplit(location).path, headers=headers, timeout=10).json()


def test_options(shared) -> None:
    r = httpx.options(shared.url + API + "/uploads")
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0"
    assert set(r.headers["Tus-Extension"].split(",")) >= {"creation", "creation-with-upload", "termination",
                                                         "checksum", "expiration"}
    assert "sha256" in r.headers["Tus-Checksum-Algorithm"] and int(r.headers["Tus-Max-Size"]) > 0


def test_tuspy_upload_with_checksum(shared) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    c = tus_client.TusClient(shared.url + API + "/uploads", headers=shared.headers())
    up = c.uploader(file_stream=io.BytesIO(data), chunk_size=1024 * 1024, upload_checksum=True,
                    metadata={"filename": "договор №1.pdf", "filetype": "application/pdf", "tags": "tus,договор",
                              "metadata": '{"k": "v"}'})
    up.upload()
    info = _file_info(shared.url, shared.headers(), up.url)
    assert info["completed"] is True
    f = info["file"]
    assert f["checksum"] == hashlib.sha256(data).hexdigest()
    assert f["original_filename"] == "договор №1.pdf" and f["tags"] == ["tus", "договор"]
    el = shared.elements[f["storage_element_id"]]
    got = httpx.get(f"{el.url}{API}/files/{f['file_id']}/content", headers=shared.headers("ADMIN"), timeout=30)
    assert got.content == data


def _cut_patch(base: str, path: str, headers: dict[str, str], offset: int, chunk: bytes, cut: int) -> None:
    """PATCH, оборванный после ``cut`` байт тела: клиент «потерял сеть»."""
    u = urlsplit(base)
    sock = socket.create_connection((u.hostname, u.port))
    head = [f"PATCH {path} HTTP/1.1", f"Host: {u.hostname}:{u.port}", "Tus-Resumable: 1.0.0",
            "Content-Type: application/offset+octet-stream", f"Upload-Offset: {offset}",
            f"Content-Length: {len(chunk)}", *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + chunk[:cut])
    time.sleep(0.5)
    sock.close()


def test_resume_through_another_ingester(shared) -> None:
    data = os.urandom(6 * 1024 * 1024)
    headers = shared.headers()
    meta = "filename " + base64.b64encode("обрыв.bin".encode()).decode()
    r = httpx.post(shared.url + API + "/uploads", headers={**headers, **TUS, "Upload-Length": str(len(data)),
                                                           "Upload-Metadata": meta})
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    assert location.startswith("/api/v1/uploads/")
    cut = random.randint(100_000, len(data) - 100_000)
    _cut_patch(shared.url, location, headers, 0, data, cut)
    # вторая реплика ingester: своё приложение, общий Redis и PostgreSQL
    other = shared.ingester()
    head = httpx.head(other + location, headers={**headers, **TUS})
    assert head.status_code == 200
    assert head.headers["Cache-Control"] == "no-store" and head.headers["Upload-Expires"]
    offset = int(head.headers["Upload-Offset"])
    # элемент подтверждает только записанное на диск (пачками), поэтому смещение может отстать от обрыва
    assert 0 <= offset <= cut and int(head.headers["Upload-Length"]) == len(data)
    wrong = httpx.patch(other + location, content=data[offset + 1:], headers={
        **headers, **TUS, "Upload-Offset": str(offset + 1), "Content-Type": "application/offset+octet-stream"})
    assert wrong.status_code == 409, wrong.text
    # продолжает tuspy с адреса загрузки: HEAD → PATCH остатка
    c = tus_client.TusClient(other + API + "/uploads", headers=headers)
    up = c.uploader(file_stream=io.BytesIO(data), url=other + location, chunk_size=2 * 1024 * 1024)
    assert up.offset == offset
    up.upload()
    info = _file_info(shared.url, headers, location)
    assert info["file"]["checksum"] == hashlib.sha256(data).hexdigest()
    assert info["file"]["file_size"] == len(data)


def test_checksum_mismatch_and_termination(shared) -> None:
    headers = shared.headers()
    r = httpx.post(shared.url + API + "/uploads", headers={**headers, **TUS, "Upload-Length": "10"})
    loc = shared.url + r.headers["Location"]
    bad = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    r = httpx.patch(loc, content=b"0123456789", headers={**headers, **TUS, "Upload-Offset": "0",
                                                         "Content-Type": "application/offset+octet-stream",
                                                         "Upload-Checksum": f"sha256 {bad}"})
    assert r.status_code == 460
    assert httpx.head(loc, headers={**headers, **TUS}).headers["Upload-Offset"] == "0"
    # чужой пользователь загрузку не видит
    assert httpx.head(loc, headers={**shared.headers(sub="user-2"), **TUS}).status_code == 404
    assert httpx.delete(loc, headers={**headers, **TUS}).status_code == 204
    assert httpx.head(loc, headers={**headers, **TUS}).status_code == 404


def test_creation_with_upload(shared) -> None:
    data = b"creation-with-upload " * 100
    r = httpx.post(shared.url + API + "/uploads", content=data, headers={
        **shared.headers(), **TUS, "Upload-Length": str(len(data)), "Content-Type": "application/offset+octet-stream",
        "Upload-Metadata": "filename " + base64.b64encode(b"c.txt").decode()})
    assert r.status_code == 201 and r.headers["Upload-Offset"] == str(len(data))
    info = _file_info(shared.url, shared.headers(), r.headers["Location"])
    assert info["file"]["checksum"] == hashlib.sha256(data).hexdigest()
    assert r.headers["X-File-Id"] == info["file"]["file_id"]  # id файла — в ответе, завершившем загрузку


def test_completion_interrupted_by_dead_replica_is_finished_by_any_replica(shared) -> None:
    """Реплика, принявшая последний кусок, умерла: (а) после записи байт до commit, (б) после commit до
    записи результата в Redis. Клиент спрашивает смещение у другой реплики — загрузка доводится до файла,
    а не остаётся навсегда «все байты есть, файла нет» или 404."""
    headers = shared.headers()
    for committed in (False, True):
        data = os.urandom(300_000)
        r = httpx.post(shared.url + API + "/uploads", headers={
            **headers, **TUS, "Upload-Length": str(len(data)),
            "Upload-Metadata": "filename " + base64.b64encode(b"dead-replica.bin").decode()})
        assert r.status_code == 201, r.text
        location = r.headers["Location"]
        upload_id = location.rsplit("/", 1)[-1]
        el = shared.elements[_file_info(shared.url, headers, location)["storage_element_id"]]
        # то, что успела сделать умершая реплика, — прямо на элементе
        done = httpx.patch(f"{el.url}{API}/uploads/{upload_id}", content=data, headers={
            **shared.headers("ADMIN"), "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        assert done.status_code in (200, 204), done.text
        if committed:
            assert httpx.post(f"{el.url}{API}/uploads/{upload_id}/commit", headers=shared.headers("ADMIN"),
                              timeout=30).status_code in (200, 201)
        other = shared.ingester()
        head = httpx.head(other + location, headers={**headers, **TUS}, timeout=30)
        assert head.status_code == 200, head.text
        assert head.headers["Upload-Offset"] == str(len(data))
        info = _file_info(other, headers, location)
        assert info["completed"] is True, (committed, info)
        assert info["file"]["checksum"] == hashlib.sha256(data).hexdigest()
        got = httpx.get(f"{el.url}{API}/files/{upload_id}/content", headers=shared.headers("ADMIN"), timeout=30)
        assert got.content == data
