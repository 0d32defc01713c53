"""Стыки сервисов на настоящем флоте: то, что ingester, query и элемент должны понимать одинаково
(кэш местоположений, политика предохранителя, метка метрики, правило id файла, Content-Disposition)."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from .conftest import RunningFleet

pytestmark = pytest.mark.e2e

INGESTER, QUERY, ELEMENT = "http://127.0.0.1:8020", "http://127.0.0.1:8030", "http://127.0.0.1:8010"


def auth(fleet: RunningFleet) -> dict[str, str]:
    return {"Authorization": f"Bearer {fleet.token()}"}


def metric(base: str, name: str, labels: str = "") -> float:
    """Значение серии из /metrics сервиса (0, если серии нет)."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else r"(?:\{\})?") + r" (\S+)"
    m = re.search(r"^" + pattern + r"$", text, re.M)
    return float(m.group(1)) if m else 0.0


def upload(headers: dict[str, str], name: str, data: bytes) -> dict[str, str]:
    r = httpx.post(f"{INGESTER}/api/v1/files/upload", headers=headers, timeout=60,
                   files={"file": (name, data, "application/octet-stream")})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_fresh_upload_is_located_without_fan_out(fleet: RunningFleet) -> None:
    """Ingester кладёт адрес в общий кэш в том же формате, что читает query: первое же скачивание только
    что загруженного файла (multipart и tus) идёт прямо на его элемент, без опроса всех элементов."""
    headers = auth(fleet)
    before = metric(QUERY, "artstore_location_fanouts_total")
    hits = metric(QUERY, "artstore_cache_requests_total", 'cache="redis",result="hit"')
    ids = [upload(headers, f"свежий-{i}.bin", f"данные {i}".encode())["file_id"] for i in range(5)]
    r = httpx.post(f"{INGESTER}/api/v1/uploads", headers={
        **headers, "Tus-Resumable": "1.0.0", "Upload-Length": "4", "Content-Type": "application/offset+octet-stream",
        "Upload-Metadata": "filename dHVzLmJpbg=="}, content=b"tus!", timeout=30)
    assert r.status_code == 201, r.text
    ids.append(httpx.get(INGESTER + r.headers["location"], headers=headers, timeout=10).json()["file"]["file_id"])
    for fid in ids:
        r = httpx.get(f"{QUERY}/api/v1/files/{fid}/download", headers=headers, timeout=30)
        assert r.status_code == 200, r.text
    assert metric(QUERY, "artstore_location_fanouts_total") == before
    assert metric(QUERY, "artstore_cache_requests_total", 'cache="redis",result="hit"') >= hits + len(ids)


def _drop_mid_upload(token: str) -> None:
    """Клиент начинает загрузку 8 МиБ, отправляет 2 МиБ тела и обрывает соединение."""
    boundary = "artstore-drop"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"drop.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    length = len(head) + 8 * 1024 * 1024 + len(f"\r\n--{boundary}--\r\n")
    request = (f"POST /api/v1/files/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
               f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", 8020), timeout=10) as sock:
        sock.sendall(request + head)
        chunk = b"x" * 65536
        for _ in range(32):
            sock.sendall(chunk)
        time.sleep(0.2)  # ingester уже передаёт тело элементу потоком


def _overflow_tus(headers: dict[str, str]) -> int:
    """tus-кусок длиннее объявленного Upload-Length (без Content-Length — узнаётся только по ходу тела)."""
    r = httpx.post(f"{INGESTER}/api/v1/uploads", headers={**headers, "Tus-Resumable": "1.0.0",
                                                         "Upload-Length": "1000"}, timeout=30)
    assert r.status_code == 201, r.text

    def body() -> Iterator[bytes]:
        for _ in range(32):
            yield b"y" * 65536

    r = httpx.patch(INGESTER + r.headers["location"], content=body(), timeout=30, headers={
        **headers, "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    return r.status_code


def test_client_errors_do_not_open_the_breaker_of_a_healthy_element(fleet: RunningFleet) -> None:
    """Шесть оборванных загрузок и шесть слишком длинных tus-кусков — ошибки клиентов, а не элемента:
    следующая обычная загрузка проходит, предохранитель se-01 замкнут."""
    headers = auth(fleet)
    token = headers["Authorization"].split()[1]
    for _ in range(6):
        _drop_mid_upload(token)
    for _ in range(6):
        assert _overflow_tus(headers) == 413
    time.sleep(0.5)
    assert upload(headers, "после-обрывов.txt", b"ok")["storage_element_id"] == "se-01"
    assert metric(INGESTER, "artstore_circuit_breaker_open", 'storage_element="se-01"') == 0.0


def test_breaker_metric_means_the_same_in_every_service(fleet: RunningFleet) -> None:
    headers = auth(fleet)
    upload(headers, "метка.txt", b"label")
    httpx.get(f"{QUERY}/api/v1/search", params={"q": "метка"}, headers=headers, timeout=10)
    for base in (INGESTER, QUERY):
        text = httpx.get(f"{base}/metrics", timeout=10).text
        series = re.findall(r"^artstore_circuit_breaker_open\{(.*)\} ", text, re.M)
        assert sorted(series) == ['storage_element="se-01"', 'storage_element="se-02"'], (base, series)


@pytest.mark.parametrize("bad", ["a..b", "x%0Ay", "%D1%84%D0%B0%D0%B9%D0%BB"])
def test_one_file_id_rule_everywhere(fleet: RunningFleet, bad: str) -> None:
    """Один и тот же недопустимый id получает один и тот же ответ — 422 — от ingester, query и элемента."""
    headers = auth(fleet)
    for method, url in (("DELETE", f"{INGESTER}/api/v1/files/{bad}"),
                        ("POST", f"{INGESTER}/api/v1/finalize/{bad}"),
                        ("GET", f"{QUERY}/api/v1/files/{bad}"),
                        ("GET", f"{QUERY}/api/v1/files/{bad}/download"),
                        ("PUT", f"{ELEMENT}/api/v1/files/{bad}")):
        r = httpx.request(method, url, headers={**headers, "X-Artstore-Meta": "e30"}, content=b"x", timeout=10)
        assert r.status_code == 422, (method, url, r.text)
        assert r.headers["content-type"] == "application/problem+json"


def test_curl_oj_gets_a_readable_ascii_name(fleet: RunningFleet) -> None:
    """``curl -OJ`` берёт имя из ``filename``: кириллица транслитерирована, а не заменена подчёркиваниями."""
    headers = auth(fleet)
    fid = upload(headers, "Отчёт за 2026.pdf", b"%PDF-1.4")["file_id"]
    r = httpx.get(f"{QUERY}/api/v1/files/{fid}/download", headers=headers, timeout=30)
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith('attachment; filename="Otchet za 2026.pdf"; filename*=UTF-8')


def test_head_and_if_match_through_query(fleet: RunningFleet) -> None:
    """HEAD скачивания — те же заголовки без тела (не 405); If-Match, не совпавший с ETag, — 412."""
    headers = auth(fleet)
    data = b"head me " * 1000
    fid = upload(headers, "заголовки.bin", data)["file_id"]
    url = f"{QUERY}/api/v1/files/{fid}/download"
    r = httpx.head(url, headers=headers, timeout=30)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(len(data)) and r.headers["etag"].strip('"')
    r = httpx.head(url, headers={**headers, "Range": "bytes=-10"}, timeout=30)
    assert r.status_code == 206 and r.headers["content-range"] == f"bytes {len(data) - 10}-{len(data) - 1}/{len(data)}"
    etag = r.headers["etag"]
    assert httpx.get(url, headers={**headers, "If-Match": etag}, timeout=30).content == data
    r = httpx.get(url, headers={**headers, "If-Match": '"0000"'}, timeout=30)
    assert r.status_code == 412 and r.headers["content-type"] == "application/problem+json"
