"""Путь нового пользователя по README, через настоящий флот: токен → загрузка → поиск → скачивание →
finalize → удаление; чужая роль и плохой ввод получают понятные ответы."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from .conftest import RunningFleet, wait_for

pytestmark = pytest.mark.e2e

ADMIN, INGESTER, QUERY = "http://127.0.0.1:8000", "http://127.0.0.1:8020", "http://127.0.0.1:8030"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_found(headers: dict[str, str], query: str, file_id: str, timeout: float = 15) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        body = httpx.post(f"{QUERY}/api/v1/search", json={"query": query}, headers=headers, timeout=10).json()
        if any(r["file_id"] == file_id for r in body.get("results", [])):  # type: ignore[attr-defined]
            return body
        time.sleep(0.3)
    raise AssertionError(f"{query!r} не нашёл {file_id}: {body}")


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("curl") is None, reason="нужен curl")
def test_readme_search_line_works_as_written(fleet: RunningFleet) -> None:
    # строка поиска из README, как её скопирует человек: прежняя (сырой UTF-8 в адресе) получала 400 text/plain
    lines = [ln for ln in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
             if re.match(r"curl .*/api/v1/search", ln)]
    assert len(lines) == 1, lines
    cmd = lines[0].replace("localhost", "127.0.0.1")
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "TOKEN": fleet.token()})
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert "results" in body, body


def test_unparsable_request_gets_problem_json(fleet: RunningFleet) -> None:
    # сырой UTF-8 в строке запроса не разбирает уже парсер uvicorn — ответ всё равно problem+json с подсказкой
    import socket

    for port in (8000, 8010, 8020, 8030):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall("GET /api/v1/search?q=отчёты HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400"), raw
        assert b"content-type: application/problem+json" in head.lower(), head
        problem = json.loads(body)
        assert problem["status"] == 400 and problem["code"] == "invalid_http_request"
        assert "--data-urlencode" in problem["detail"]


def test_token_json_form_basic_and_wrong(fleet: RunningFleet) -> None:
    s = fleet.secrets()
    cid, secret = s["INITIAL_CLIENT_ID"], s["INITIAL_CLIENT_SECRET"]
    r = httpx.post(f"{ADMIN}/api/auth/token", json={"client_id": cid, "client_secret": secret})
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer" and r.json()["expires_in"] == 1800
    assert r.headers["cache-control"] == "no-store"
    r = httpx.post(f"{ADMIN}/api/v1/auth/token", data={"grant_type": "client_credentials"}, auth=(cid, secret))
    assert r.status_code == 200
    r = httpx.post(f"{ADMIN}/api/v1/auth/token", data={"grant_type": "client_credentials"}, auth=(cid, "wrong"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client" and "www-authenticate" in r.headers


def test_upload_search_download_finalize_delete(fleet: RunningFleet, tmp_path: Path) -> None:
    headers = auth(fleet.token())
    content = os.urandom(300_000) + "Годовой отчёт".encode()
    sha = hashlib.sha256(content).hexdigest()
    r = httpx.post(
        f"{INGESTER}/api/v1/files/upload", headers=headers, timeout=60,
        data={"description": "Квартальные отчёты отдела", "tags": "финансы,2026",
              "metadata": '{"отдел": "бухгалтерия"}'},
        files={"file": ("отчёт за 2026.pdf", content, "application/pdf")},
    )
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["checksum"] == sha and up["original_filename"] == "отчёт за 2026.pdf"
    assert up["storage_element_id"] == "se-01" and up["retention_policy"] == "temporary"
    fid = up["file_id"]

    # файл и attr.json лежат на диске в папке часа
    data = fleet.data_dir / "se-01"
    stored = list(data.rglob(up["storage_filename"]))
    assert len(stored) == 1 and stored[0].with_name(stored[0].name + ".attr.json").exists()
    assert len(stored[0].relative_to(data).parts) == 5  # YYYY/MM/DD/HH/файл

    wait_found(headers, "отчёты", fid)  # словоформа
    body = httpx.get(f"{QUERY}/api/v1/search", params={"q": "бухгалтерия"}, headers=headers, timeout=10).json()
    assert any(x["file_id"] == fid for x in body["results"])

    r = httpx.get(f"{QUERY}/api/v1/files/{fid}/download", headers=headers, timeout=30)
    assert r.status_code == 200 and r.content == content
    assert r.headers["etag"].strip('"') == sha and "UTF-8''" in r.headers["content-disposition"]
    r = httpx.get(f"{QUERY}/api/v1/files/{fid}/download", headers={**headers, "Range": "bytes=-100"}, timeout=30)
    assert r.status_code == 206 and r.content == content[-100:]
    r = httpx.get(f"{QUERY}/api/v1/files/{fid}/download",
                  headers={**headers, "Range": f"bytes={len(content) + 10}-"}, timeout=30)
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(content)}"

    r = httpx.post(f"{INGESTER}/api/v1/finalize/{fid}", headers=headers, timeout=60)
    assert r.status_code in (200, 201, 202), r.text
    tx_id = r.json()["id"]
    # сначала — сага (её состояние и есть ответ API), затем — что query видит перенесённый файл
    tx = wait_for("сага finalize завершилась", lambda: ((t := httpx.get(
        f"{INGESTER}/api/v1/transactions/{tx_id}", headers=headers, timeout=10).json())["state"] in (
        "done", "failed", "compensated"), t), 120)
    assert isinstance(tx, dict) and tx["state"] == "done" and tx["target"] == "se-02", tx
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        meta = httpx.get(f"{QUERY}/api/v1/files/{fid}", headers=headers, timeout=10).json()
        if meta.get("storage_element_id") == "se-02" and meta.get("retention_policy") == "permanent":
            break
        time.sleep(0.3)
    else:
        raise AssertionError(f"сага {tx_id} завершена, а query всё ещё видит файл на старом месте: {meta}")
    r = httpx.get(f"{QUERY}/api/v1/files/{fid}/download", headers=headers, timeout=30)
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == sha

    # постоянный файл на rw не удаляется
    r = httpx.delete(f"{INGESTER}/api/v1/files/{fid}", headers=headers, timeout=30)
    assert r.status_code == 409 and r.json()["code"] == "mode_forbids_operation"

    # временный — удаляется и пропадает из поиска и скачивания
    r = httpx.post(f"{INGESTER}/api/v1/files/upload", headers=headers, timeout=60,
                   files={"file": ("черновик.txt", b"draft", "text/plain")})
    tmp_id = r.json()["file_id"]
    assert httpx.delete(f"{INGESTER}/api/v1/files/{tmp_id}", headers=headers, timeout=30).status_code in (200, 204)
    assert httpx.get(f"{QUERY}/api/v1/files/{tmp_id}/download", headers=headers, timeout=30).status_code == 404


def test_bad_input_and_roles(fleet: RunningFleet) -> None:
    headers = auth(fleet.token())
    r = httpx.post(f"{INGESTER}/api/v1/files/upload", headers=headers, data={"metadata": "{не json"},
                   files={"file": ("a.txt", b"x", "text/plain")}, timeout=30)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    for url in (f"{INGESTER}/api/v1/files/upload", f"{QUERY}/api/v1/search", f"{ADMIN}/api/v1/service-accounts"):
        r = httpx.post(url, json={}, timeout=10)
        assert r.status_code == 401, url
    # аккаунт READONLY не загружает
    r = httpx.post(f"{ADMIN}/api/v1/service-accounts", headers=headers, timeout=30,
                   json={"name": f"reader-{time.time_ns()}", "role": "READONLY"})
    assert r.status_code == 201, r.text
    acc = r.json()
    tok = httpx.post(f"{ADMIN}/api/v1/auth/token", json={"client_id": acc["client_id"],
                                                        "client_secret": acc["client_secret"]}).json()["access_token"]
    r = httpx.post(f"{INGESTER}/api/v1/files/upload", headers=auth(tok),
                   files={"file": ("a.txt", b"x", "text/plain")}, timeout=30)
    assert r.status_code == 403
    assert httpx.post(f"{QUERY}/api/v1/search", json={"query": "x"}, headers=auth(tok)).status_code == 200
