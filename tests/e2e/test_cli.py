"""artstore-cli против настоящего флота (scripts/fleet.py): вход, загрузка, поиск, скачивание, ошибки, kill -9.

CLI запускается отдельным процессом, как у пользователя; адреса — умолчания (порты ./artstore run).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import RunningFleet, sha256_file

pytestmark = pytest.mark.e2e

INGESTER = "http://127.0.0.1:8020"
QUERY = "http://127.0.0.1:8030"


class Cli:
    def __init__(self, config: Path, cwd: Path, fleet: RunningFleet) -> None:
        self.config = config
        self.cwd = cwd
        self.fleet = fleet
        self.env = {**os.environ, "ARTSTORE_CLI_CONFIG_DIR": str(config), "COLUMNS": "200"}
        for name in ("ARTSTORE_CLIENT_ID", "ARTSTORE_CLIENT_SECRET", "ARTSTORE_ADMIN_URL", "ARTSTORE_INGESTER_URL",
                     "ARTSTORE_QUERY_URL"):
            self.env.pop(name, None)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "artstore_cli", *args]

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.argv(*args), env=self.env, cwd=self.cwd, capture_output=True, text=True,
                              timeout=240, check=False)
        if ok:
            assert proc.returncode == 0, f"{args}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def login(self, *extra: str) -> subprocess.CompletedProcess[str]:
        creds = self.fleet.secrets()
        return self.run("login", "--client-id", creds["INITIAL_CLIENT_ID"], "--client-secret",
                        creds["INITIAL_CLIENT_SECRET"], *extra)

    def credentials(self) -> dict[str, Any]:
        return dict(json.loads((self.config / "credentials.json").read_text()))


@pytest.fixture
def cli(fleet: RunningFleet, tmp_path: Path) -> Cli:
    work = tmp_path / "work"
    work.mkdir()
    return Cli(tmp_path / "config", work, fleet)


def _random_file(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 4 << 20))
            f.write(block)
            left -= len(block)
    return path


def test_login_caches_token_with_expiry_0600_and_refreshes(cli: Cli) -> None:
    out = cli.login().stdout
    assert "scope admin user auditor readonly" in out
    path = cli.config / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    creds = cli.credentials()
    assert creds["expires_at"] > time.time() + 600 and creds["access_token"]
    # истёкший токен обновляется сам, по сохранённым client credentials
    creds["expires_at"] = time.time() - 1
    path.write_text(json.dumps(creds))
    cli.run("search", "--limit", "1")
    fresh = cli.credentials()
    assert fresh["access_token"] != creds["access_token"] and fresh["expires_at"] > time.time() + 600
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cli.run("logout").returncode == 0 and not path.exists()
    r = cli.run("search", ok=False)
    assert r.returncode == 1 and "artstore-cli login" in r.stderr


def test_upload_search_info_download_finalize_rm(cli: Cli) -> None:
    cli.login()
    src = _random_file(cli.cwd / "Годовой отчёт 2026.pdf", 3 * 1024 * 1024 + 17)
    r = cli.run("upload", str(src), "--tag", "отчёт", "--tag", "2026", "--meta", "отдел=бухгалтерия",
                "--meta", "year=2026", "--description", "Годовой отчёт за 2026", "--ttl-days", "10", "--json")
    result = json.loads(r.stdout)
    sha = sha256_file(src)
    assert result["checksum"] == sha and result["file_size"] == src.stat().st_size
    assert f"sha256 {sha}" in r.stderr  # посчитан и показан до передачи
    file_id = result["file_id"]
    assert not json.loads((cli.config / "uploads.json").read_text())  # завершённая загрузка забыта

    table = cli.run("search", "бухгалтерия годовой", "--tag", "отчёт").stdout
    assert file_id in table and "Годовой отчёт 2026.pdf" in table and "Найдено: 1" in table
    found = cli.json("search", "--tag", "2026")
    assert [row["file_id"] for row in found["results"]] == [file_id]

    meta = cli.json("info", file_id)
    assert meta["tags"] == ["отчёт", "2026"] and meta["metadata"] == {"отдел": "бухгалтерия", "year": "2026"}
    assert meta["description"] == "Годовой отчёт за 2026" and meta["retention_policy"] == "temporary"
    assert "Годовой отчёт за 2026" in cli.run("info", file_id).stdout

    out_dir = cli.cwd / "downloads"
    out_dir.mkdir()
    r = cli.run("download", file_id, "-o", str(out_dir))
    got = out_dir / "Годовой отчёт 2026.pdf"
    assert sha256_file(got) == sha and f"sha256 {sha} совпал" in r.stdout
    r = cli.run("download", file_id, "-o", str(out_dir), ok=False)
    assert r.returncode == 1 and "--force" in r.stderr

    tx = cli.json("finalize", file_id)
    assert tx["state"] == "done" and tx["target"] == "se-02"
    assert cli.json("info", file_id)["retention_policy"] == "permanent"
    # permanent не удаляется: ответ сервиса (detail) — в stderr, код выхода 1
    r = cli.run("rm", file_id, ok=False)
    assert r.returncode == 1 and "только в режиме edit" in r.stderr and "409" in r.stderr

    other = json.loads(cli.run("upload", str(_random_file(cli.cwd / "temp.bin", 1000)), "--json").stdout)
    assert "Удалён" in cli.run("rm", other["file_id"]).stdout
    r = cli.run("info", other["file_id"], ok=False)
    assert r.returncode == 1 and "не найден" in r.stderr


def test_missing_file_error_prints_problem_detail(cli: Cli) -> None:
    cli.login()
    r = cli.run("rm", "no-such-file-42", ok=False)
    assert r.returncode == 1
    assert "файл no-such-file-42 не найден" in r.stderr and "HTTP 404" in r.stderr
    assert "Traceback" not in r.stderr
    r = cli.run("upload", str(_random_file(cli.cwd / "x.bin", 10)), "--ttl-days", "0", ok=False)
    assert r.returncode == 1 and "ttl_days" in r.stderr and "422" in r.stderr


def test_narrowed_scope_is_enforced_by_services(cli: Cli) -> None:
    out = cli.login("--scope", "readonly").stdout
    assert "scope readonly" in out
    r = cli.run("upload", str(_random_file(cli.cwd / "ro.bin", 100)), ok=False)
    assert r.returncode == 1 and "READONLY" in r.stderr and "403" in r.stderr
    assert cli.json("search", "--limit", "1")["limit"] == 1  # чтение — можно
    creds = cli.fleet.secrets()
    r = cli.run("login", "--client-id", creds["INITIAL_CLIENT_ID"], "--client-secret", creds["INITIAL_CLIENT_SECRET"],
                "--scope", "files:read", ok=False)
    assert r.returncode == 1 and "invalid_scope" in r.stderr and "доступны" in r.stderr


def _tus_offset(url: str, token: str) -> int | None:
    r = httpx.head(url, headers={"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"}, timeout=10)
    return int(r.headers["upload-offset"]) if r.status_code == 200 else None


def test_upload_killed_mid_way_resumes_from_server_offset(cli: Cli) -> None:
    cli.login()
    size = 96 * 1024 * 1024
    src = _random_file(cli.cwd / "big.bin", size)
    sha = sha256_file(src)
    # куски по 1 МиБ: передача идёт заметное время, и kill приходится на её середину
    proc = subprocess.Popen(cli.argv("upload", str(src), "--chunk-mib", "1", "--json"), env=cli.env, cwd=cli.cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    token = cli.credentials()["access_token"]
    url = None
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            state = json.loads((cli.config / "uploads.json").read_text() or "{}") \
                if (cli.config / "uploads.json").exists() else {}
            url = next((e["url"] for e in state.values() if e.get("url")), None)
            if url is not None:
                offset = _tus_offset(url, token)
                if offset and offset >= 4 * 1024 * 1024:
                    proc.send_signal(signal.SIGKILL)
                    break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "загрузка кончилась раньше, чем её убили"
    assert url is not None
    killed_at = _tus_offset(url, token)
    assert killed_at is not None and 0 < killed_at < size

    r = cli.run("upload", str(src), "--chunk-mib", "1", "--json")
    assert "продолжаю с" in r.stderr
    result = json.loads(r.stdout)
    # та же загрузка (file_id = id tus-загрузки), продолженная, а не начатая с нуля
    assert url.endswith("/" + result["file_id"])
    assert result["checksum"] == sha and result["file_size"] == size

    out = cli.cwd / "back.bin"
    cli.run("download", result["file_id"], "-o", str(out))
    assert sha256_file(out) == sha


def _download_metrics() -> tuple[float, float]:
    """(ответов 206, байт отдано) по маршруту скачивания query-module."""
    partial = sent = 0.0
    for line in httpx.get(f"{QUERY}/metrics", timeout=10).text.splitlines():
        if 'route="/api/v1/files/{file_id}/download"' not in line:
            continue
        value = float(line.rsplit(" ", 1)[1])
        if line.startswith("http_requests_total{") and 'status="206"' in line:
            partial += value
        elif line.startswith("http_response_size_bytes_sum{"):
            sent += value
    return partial, sent


def test_download_resumes_partial_file_with_range_and_rejects_bad_prefix(cli: Cli) -> None:
    cli.login()
    src = _random_file(cli.cwd / "data.bin", 5 * 1024 * 1024 + 3)
    file_id = json.loads(cli.run("upload", str(src), "--json").stdout)["file_id"]
    target = cli.cwd / "copy.bin"
    part = cli.cwd / "copy.bin.part"
    part.write_bytes(src.read_bytes()[: 2 * 1024 * 1024])  # обрыв после 2 МиБ
    before = _download_metrics()
    r = cli.run("download", file_id, "-o", str(target))
    assert "продолжаю: на диске 2.0 МиБ" in r.stderr
    assert sha256_file(target) == sha256_file(src) and not part.exists()
    # докачан только хвост: один ответ 206 ровно на недостающие байты
    tail = src.stat().st_size - 2 * 1024 * 1024
    deadline = time.monotonic() + 10
    while _download_metrics() != (before[0] + 1, before[1] + tail) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _download_metrics() == (before[0] + 1, before[1] + tail)

    # испорченное начало: sha256 не сойдётся — файл не выдаётся за верный, .part удалён
    part.write_bytes(b"\0" * (1024 * 1024))
    r = cli.run("download", file_id, "-o", str(cli.cwd / "copy.bin"), "--force", ok=False)
    assert r.returncode == 1 and "sha256" in r.stderr and not part.exists()
    cli.run("download", file_id, "-o", str(target), "--force")
    assert sha256_file(target) == sha256_file(src)


def test_link_prints_url_that_curl_downloads_without_token(cli: Cli) -> None:
    cli.login()
    src = _random_file(cli.cwd / "Смета.xlsx", 2 * 1024 * 1024 + 5)
    file_id = json.loads(cli.run("upload", str(src), "--json").stdout)["file_id"]
    r = cli.run("link", file_id, "--expires-in", "600", "--max-downloads", "2")
    url = r.stdout.strip()
    assert url.startswith(f"{QUERY}/api/v1/links/") and "\n" not in url  # stdout — только URL, для $(…)
    assert "действует до" in r.stderr and "скачиваний не больше 2" in r.stderr
    got = cli.cwd / "by-link.bin"
    curl = subprocess.run(["curl", "-sS", "--fail-with-body", "-o", str(got), url], capture_output=True, text=True,
                          timeout=60, check=False)
    assert curl.returncode == 0, curl.stderr
    assert sha256_file(got) == sha256_file(src)

    link_id = url.rsplit("/", 1)[1].split(".")[0]
    assert f"Ссылка {link_id} отозвана" in cli.run("unlink", link_id).stdout
    r = httpx.get(url, timeout=30)
    assert r.status_code == 403 and r.json()["code"] == "link_revoked"

    data = cli.json("link", file_id, "--expires-in", "60")
    assert data["max_downloads"] is None and data["status"] == "active"
    assert "Отозвано ссылок: " in cli.run("unlink", "--all").stdout
    assert httpx.get(data["url"], timeout=30).status_code == 403
    # ошибки — detail сервиса и код выхода 1
    r = cli.run("link", "no-such-file-42", ok=False)
    assert r.returncode == 1 and "не найден" in r.stderr and "HTTP 404" in r.stderr
    r = cli.run("link", file_id, "--expires-in", str(10 * 365 * 86400), ok=False)
    assert r.returncode == 1 and "QUERY_LINK_MAX_TTL" in r.stderr and "422" in r.stderr
