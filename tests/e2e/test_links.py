"""Временные ссылки на настоящем флоте (scripts/fleet.py): curl без токена скачивает 100 МиБ, докачивает
оборванное (``curl -C -``), после отзыва получает 403, после срока — 410 problem+json (docs/links.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import RunningFleet, sha256_file, wait_for

pytestmark = pytest.mark.e2e

INGESTER = "http://127.0.0.1:8020"
QUERY = "http://127.0.0.1:8030"
ROOT = Path(__file__).resolve().parents[2]
SIZE = 100 * 1024 * 1024 + 12345


@pytest.fixture(scope="module")
def big_file(fleet: RunningFleet, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, str]:
    path = tmp_path_factory.mktemp("links") / "архив проекта.bin"
    with path.open("wb") as f:
        left = SIZE
        while left:
            block = os.urandom(min(left, 4 << 20))
            f.write(block)
            left -= len(block)
    token = fleet.token()
    # загрузка тем же curl, что в README: файл потоком, без токена в истории — из переменной
    out = subprocess.run(["curl", "-sS", "--fail-with-body", "-H", f"Authorization: Bearer {token}",
                          "-F", f"file=@{path}", f"{INGESTER}/api/v1/files/upload"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    meta = json.loads(out.stdout)
    assert meta["checksum"] == sha256_file(path)
    return str(meta["file_id"]), path, meta["checksum"]


def _link(fleet: RunningFleet, file_id: str, **body: Any) -> dict[str, Any]:
    r = httpx.post(f"{QUERY}/api/v1/files/{file_id}/links", json={"expires_in": 3600, **body},
                   headers={"Authorization": f"Bearer {fleet.token()}"}, timeout=30)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _curl_status(url: str, *args: str) -> tuple[int, str, bytes]:
    """(статус, Content-Type, тело) ответа curl без Authorization."""
    out = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code} %{content_type}", *args, url],
                         capture_output=True, timeout=60, check=False)
    body, _, tail = out.stdout.rpartition(b"\n")
    status, _, ctype = tail.decode().partition(" ")
    return int(status), ctype, body


def test_curl_downloads_and_resumes_100_mib_without_token(
        fleet: RunningFleet, big_file: tuple[str, Path, str], tmp_path: Path) -> None:
    file_id, _src, sha = big_file
    link = _link(fleet, file_id, max_downloads=1)
    url = link["url"]
    assert url.startswith(QUERY + "/api/v1/links/")
    target = tmp_path / "got.bin"
    # первая попытка оборвана посреди передачи (kill), как обрыв сети
    slow = subprocess.Popen(["curl", "-sS", "--limit-rate", "20M", "-o", str(target), url])
    try:
        deadline = time.monotonic() + 60
        while not (target.exists() and target.stat().st_size >= 30 * 1024 * 1024):
            assert slow.poll() is None and time.monotonic() < deadline, "curl кончил раньше, чем его оборвали"
            time.sleep(0.05)
    finally:
        slow.send_signal(signal.SIGKILL)
        slow.wait(10)
    broken_at = target.stat().st_size
    assert 0 < broken_at < SIZE
    # та же команда с -C - докачивает остаток: один ответ 206, max_downloads=1 на это хватает
    resumed = subprocess.run(["curl", "-sS", "--fail-with-body", "-C", "-", "-o", str(target), "-w", "%{http_code}",
                              url], capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == "206"
    assert target.stat().st_size == SIZE and sha256_file(target) == sha
    # второй раз целиком по ссылке с max_downloads=1 — нельзя
    status, ctype, body = _curl_status(url)
    assert (status, ctype) == (410, "application/problem+json"), body
    assert json.loads(body)["code"] == "link_exhausted"


def test_revoked_and_expired_links_answer_problem_json(
        fleet: RunningFleet, big_file: tuple[str, Path, str]) -> None:
    file_id, src, _sha256 = big_file
    link = _link(fleet, file_id)
    status, _ctype, body = _curl_status(link["url"], "-r", "0-99")
    with src.open("rb") as f:
        assert status == 206 and body == f.read(100)
    r = httpx.delete(f"{QUERY}/api/v1/links/{link['id']}", headers={"Authorization": f"Bearer {fleet.token()}"},
                     timeout=30)
    assert r.status_code == 204, r.text
    status, ctype, body = _curl_status(link["url"])
    assert (status, ctype) == (403, "application/problem+json") and json.loads(body)["code"] == "link_revoked"

    short = _link(fleet, file_id, expires_in=1)
    assert _curl_status(short["url"], "-r", "0-0")[0] == 206
    time.sleep(1.5)
    status, ctype, body = _curl_status(short["url"])
    assert (status, ctype) == (410, "application/problem+json") and json.loads(body)["code"] == "link_expired"

    # все ссылки учётной записи — одним запросом
    a, b = _link(fleet, file_id), _link(fleet, file_id)
    r = httpx.delete(f"{QUERY}/api/v1/links", headers={"Authorization": f"Bearer {fleet.token()}"}, timeout=30)
    assert r.status_code == 200 and {a["id"], b["id"]} <= set(r.json()["link_ids"])
    assert all(_curl_status(x["url"])[0] == 403 for x in (a, b))


def test_readme_link_lines_work_as_written(fleet: RunningFleet, big_file: tuple[str, Path, str],
                                           tmp_path: Path) -> None:
    # блок «временная ссылка» из README, как его скопирует человек: выдать ссылку и скачать по ней без токена
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("# временная ссылка"))
    block = "\n".join(lines[start:lines.index("```", start)])
    file_id, _src, sha = big_file
    script = block.replace("localhost", "127.0.0.1").replace("<file_id>", file_id)
    out = subprocess.run(["bash", "-ec", script], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "TOKEN": fleet.token()})
    assert out.returncode == 0, out.stderr
    assert sha256_file(tmp_path / "big.bin") == sha


ADMIN = "http://127.0.0.1:8000"


@pytest.mark.parametrize("how", ["suspend", "delete"])
def test_links_die_with_their_account(fleet: RunningFleet, how: str) -> None:
    """Аккаунт приостановлен или удалён в admin — его ссылки отвечают 403 ``link_revoked``, как presigned URL S3
    после удаления ключа: событие admin (через outbox) читает группа ``query-links`` и отзывает ссылки."""
    admin = {"Authorization": f"Bearer {fleet.token()}"}
    r = httpx.post(f"{ADMIN}/api/v1/service-accounts", headers=admin, timeout=30,
                   json={"name": f"ссылки-{how}-{os.urandom(3).hex()}", "role": "USER"})
    assert r.status_code == 201, r.text
    account = r.json()
    creds = {"INITIAL_CLIENT_ID": account["client_id"], "INITIAL_CLIENT_SECRET": account["client_secret"]}
    own = {"Authorization": f"Bearer {fleet.token(creds)}"}
    up = httpx.post(f"{INGESTER}/api/v1/files/upload", headers=own, timeout=60,
                    files={"file": ("передать.txt", b"for a colleague", "text/plain")})
    assert up.status_code == 201, up.text
    r = httpx.post(f"{QUERY}/api/v1/files/{up.json()['file_id']}/links", json={"expires_in": 3600}, headers=own,
                   timeout=30)
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert _curl_status(url)[:1] == (200,)

    if how == "suspend":
        r = httpx.patch(f"{ADMIN}/api/v1/service-accounts/{account['id']}", headers=admin, timeout=30,
                        json={"status": "suspended"})
        assert r.status_code == 200, r.text
    else:
        r = httpx.delete(f"{ADMIN}/api/v1/service-accounts/{account['id']}", headers=admin, timeout=30)
        assert r.status_code == 204, r.text
    deadline = time.monotonic() + 30
    status, ctype, body = _curl_status(url)
    while status == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        status, ctype, body = _curl_status(url)
    assert (status, ctype) == (403, "application/problem+json"), (status, body[:300])
    assert json.loads(body)["code"] == "link_revoked"
    # отзыв — в журнале аудита: кто (администратор) и почему (событие аккаунта)
    expected = "account_suspended" if how == "suspend" else "account_deleted"

    def revoked_in_audit() -> tuple[bool, object]:
        items = httpx.get(f"{ADMIN}/api/v1/audit", params={"action": "file.link_revoke", "limit": 20},
                          headers=admin, timeout=30).json()["items"]
        mine = [e for e in items if e["details"].get("owner_id") == account["id"]]
        return any(e["details"].get("reason") == expected for e in mine), items[:3]

    wait_for("отзыв ссылок аккаунта в журнале аудита", revoked_in_audit, 30)
