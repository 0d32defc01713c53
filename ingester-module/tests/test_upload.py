"""Загрузка через настоящий ingester в настоящие элементы хранения."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import httpx

API = "/api/v1"


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                  p.relative_to(root).parts)]


def _download(fleet, element: str, file_id: str) -> bytes:
    url = fleet.elements[element].url
    return httpx.get(f"{url}{API}/files/{file_id}/content", headers=fleet.headers("ADMIN"), timeout=30).content


def test_cyrillic_upload_lands_on_disk_with_attr(shared) -> None:
    data = os.urandom(200_000)
    before = datetime.now(UTC)
    r = httpx.post(shared.url + API + "/files/upload", headers=shared.headers(), timeout=30,
                   data={"description": "квартальный", "tags": "отчёт,2026", "metadata": '{"dept": "бухгалтерия"}'},
                   files={"file": ("отчёт за 2026.pdf", data, "application/pdf")})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["original_filename"] == "отчёт за 2026.pdf"
    assert body["checksum"] == hashlib.sha256(data).hexdigest()
    assert body["file_size"] == len(data)
    assert body["storage_element_id"] == "se-edit"
    assert body["retention_policy"] == "temporary" and body["expires_at"]
    root = shared.elements["se-edit"].data_dir
    hour_dir = root / before.strftime("%Y/%m/%d/%H")
    stored = [p for p in _files(root) if p.name == body["storage_filename"]]
    assert len(stored) == 1
    assert stored[0].parent in (hour_dir, root / datetime.now(UTC).strftime("%Y/%m/%d/%H"))
    attr = json.loads(stored[0].with_name(stored[0].name + ".attr.json").read_text(encoding="utf-8"))
    assert attr["original_filename"] == "отчёт за 2026.pdf"
    assert attr["created_by_id"] == "user-1"
    assert attr["tags"] == ["отчёт", "2026"] and attr["metadata"] == {"dept": "бухгалтерия"}
    assert stored[0].read_bytes() == data


def test_fields_after_small_file_are_applied(shared) -> None:
    boundary = "xYz123"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\nhello\r\n",
        f'--{boundary}\r\nContent-Disposition: form-data; name="tags"\r\n\r\n["x","y"]\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="retention_policy"\r\n\r\npermanent\r\n',
        f"--{boundary}--\r\n",
    ]
    r = httpx.post(shared.url + API + "/files/upload", content="".join(parts).encode(), timeout=30,
                   headers={**shared.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 201, r.text
    assert r.json()["storage_element_id"] == "se-rw"
    assert r.json()["tags"] == ["x", "y"] and r.json()["retention_policy"] == "permanent"


def test_invalid_metadata_rejected_nothing_written(shared) -> None:
    before = {p.name for p in _files(shared.elements["se-edit"].data_dir)}
    r = httpx.post(shared.url + API + "/files/upload", headers=shared.headers(), timeout=30,
                   data={"metadata": "{not json"}, files={"file": ("x.bin", b"abc")})
    assert r.status_code == 422 and r.json()["code"] == "invalid_metadata"
    r = httpx.post(shared.url + API + "/files/upload", headers=shared.headers(), timeout=30,
                   data={"metadata": "[1,2]"}, files={"file": ("x.bin", b"abc")})
    assert r.status_code == 422
    # то, что нельзя сохранить в кэше (NaN, NUL), отвергается до записи — иначе на диске остался бы сирота
    for fields in ({"metadata": '{"x": NaN}'}, {"metadata": '{"x": "a\\u0000b"}'}, {"description": "a\x00b"},
                   {"ttl_days": "²"}):
        r = httpx.post(shared.url + API + "/files/upload", headers=shared.headers(), timeout=30,
                       data=fields, files={"file": ("x.bin", b"abc")})
        assert r.status_code == 422, (fields, r.text)
    assert {p.name for p in _files(shared.elements["se-edit"].data_dir)} == before


def test_hostile_file_ids_are_not_forwarded(shared) -> None:
    # id вне правила — 422 во всех сервисах (одно правило в artstore_common); NUL отсекается раньше (400),
    # а «%2F» становится «/» ещё до маршрутизации — такого адреса просто нет (404)
    for bad, status in (("abc%00", 400), ("abc%0A", 422), ("x%3Fmode%3Dro", 422), ("..%2F..%2Fetc", 404),
                        ("a..b", 422)):
        r = httpx.delete(shared.url + API + f"/files/{bad}", headers=shared.headers(), timeout=30)
        assert r.status_code == status, (bad, r.text)
        r = httpx.post(shared.url + API + f"/finalize/{bad}", headers=shared.headers(), timeout=30)
        assert r.status_code == status, (bad, r.text)
    r = httpx.post(shared.url + API + "/uploads", timeout=30, headers={
        **shared.headers(), "Tus-Resumable": "1.0.0", "Upload-Length": b"\xb2"})  # «²»: isdigit() истинно
    assert r.status_code == 400, r.text


def test_digest_mismatch_rejected_nothing_written(shared) -> None:
    before = {p.name for p in _files(shared.elements["se-edit"].data_dir)}
    data = os.urandom(3 * 1024 * 1024)  # больше буфера: проверка на потоковом пути
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    r = httpx.post(shared.url + API + "/files/upload", timeout=60,
                   headers={**shared.headers(), "Repr-Digest": f"sha-256=:{wrong}:"},
                   files={"file": ("big.bin", data)})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "checksum_mismatch"
    assert {p.name for p in _files(shared.elements["se-edit"].data_dir)} == before
    right = base64.b64encode(hashlib.sha256(data).digest()).decode()
    r = httpx.post(shared.url + API + "/files/upload", timeout=60,
                   headers={**shared.headers(), "Content-Digest": f"sha-256=:{right}:"},
                   files={"file": ("big.bin", data)})
    assert r.status_code == 201, r.text
    assert r.json()["checksum"] == hashlib.sha256(data).hexdigest()


def test_compression_round_trip(shared) -> None:
    data = ("Съешь же ещё этих мягких французских булок. " * 20000).encode()
    for algorithm in ("gzip", "brotli"):
        r = httpx.post(shared.url + API + "/files/upload", headers=shared.headers(), timeout=60,
                       data={"compress": "true", "compression_algorithm": algorithm},
                       files={"file": (f"text-{algorithm}.txt", data, "text/plain")})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["compression"]["algorithm"] == algorithm
        assert body["compression"]["stored_size"] < len(data) // 10
        assert _download(shared, "se-edit", body["file_id"]) == data


def test_large_streamed_upload_and_field_after_file(shared) -> None:
    data = os.urandom(8 * 1024 * 1024)

    def gen():
        for i in range(0, len(data), 1 << 20):
            yield data[i:i + (1 << 20)]

    r = httpx.post(shared.url + API + "/files/upload", headers=shared.headers(), timeout=60,
                   data={"tags": "big"}, files={"file": ("big.bin", data)})
    assert r.status_code == 201, r.text
    assert _download(shared, "se-edit", r.json()["file_id"]) == data
    before = {p.name for p in _files(shared.elements["se-edit"].data_dir)}
    boundary = "bnd42"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="late.bin"\r\n\r\n').encode()
    tail = (f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="description"\r\n\r\nпоздно\r\n'
            f"--{boundary}--\r\n").encode()
    r = httpx.post(shared.url + API + "/files/upload", content=head + data + tail, timeout=60,
                   headers={**shared.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 422 and r.json()["code"] == "field_after_file", r.text
    assert {p.name for p in _files(shared.elements["se-edit"].data_dir)} == before


def test_upload_validation_and_auth(shared) -> None:
    url = shared.url + API + "/files/upload"
    assert httpx.post(url, files={"file": ("a", b"a")}).status_code == 401
    r = httpx.post(url, headers=shared.headers("READONLY"), files={"file": ("a", b"a")})
    assert r.status_code == 403
    only_field = ('--b1\r\nContent-Disposition: form-data; name="description"\r\n\r\nнет файла\r\n--b1--\r\n')
    r = httpx.post(url, headers={**shared.headers(), "Content-Type": "multipart/form-data; boundary=b1"},
                   content=only_field.encode())
    assert r.status_code == 422 and "file" in r.json()["detail"]
    r = httpx.post(url, headers=shared.headers(), data={"retention_policy": "permanent", "ttl_days": "5"},
                   files={"file": ("a", b"a")})
    assert r.status_code == 422
    r = httpx.post(url, headers=shared.headers(), data={"compression_algorithm": "zstd"}, files={"file": ("a", b"a")})
    assert r.status_code == 422
    r = httpx.post(url, headers=shared.headers(), content=b"{}", timeout=10)
    assert r.status_code == 415


def test_stats_and_metrics(shared) -> None:
    r = httpx.post(shared.url + API + "/files/upload", headers=shared.headers(), files={"file": ("s.txt", b"s")})
    assert r.status_code == 201
    stats = httpx.get(shared.url + API + "/stats", headers=shared.headers("READONLY")).json()
    assert stats["uploads_total"] >= 1 and stats["upload_bytes_total"] >= 1
    metrics = httpx.get(shared.url + "/metrics").text
    for name in ("artstore_uploads_total", "artstore_upload_bytes_total", "artstore_upload_duration_seconds",
                 "artstore_placement_decisions_total", "artstore_circuit_breaker_open"):
        assert name in metrics


def test_file_uploaded_event(shared) -> None:
    r = httpx.post(shared.url + API + "/files/upload", headers=shared.headers(sub="owner-7"),
                   files={"file": ("событие.txt", b"evt")})
    assert r.status_code == 201
    mine = shared.events("file_uploaded", r.json()["file_id"])
    assert len(mine) == 1
    assert mine[0]["data"]["owner_id"] == "owner-7" and mine[0]["data"]["storage_element_id"] == "se-edit"
    assert mine[0]["data"]["original_filename"] == "событие.txt"
    # кто загрузил — по нему admin пишет журнал аудита
    assert mine[0]["actor"] == {"type": "service_account", "id": "owner-7", "name": "ivanov"}
