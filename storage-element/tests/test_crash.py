"""Настоящий сбой: процесс элемента убивается kill -9 посреди параллельных загрузок, несколько раз.

После каждого перезапуска каждый подтверждённый (201) файл цел (sha256 содержимого), частичных файлов
не видно, attr.json без данных нет, строк кэша без файлов нет. Затем — удаление таблицы кэша и
пересборка N/N, порча байта → скраб находит, отдача отказывает.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from artstore_common import make_engine
from artstore_common.testing import TEST_ISSUER, free_port, wait_http

from .conftest import meta_header
from .test_recovery import immutable

pytestmark = pytest.mark.slow

WRITERS = 8
ROUNDS = 3


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "storage_element"], env=env, stdout=fh, stderr=fh)
    wait_http(f"http://127.0.0.1:{env['SE_PORT']}/health/ready", timeout=30)
    return proc


async def _writer(client: httpx.AsyncClient, headers: dict[str, str], acked: dict[str, str],
                  stop: asyncio.Event) -> None:
    rnd = random.Random()
    while not stop.is_set():
        size = rnd.choice([1, 1000, 64 * 1024, 300_000, 2 * 1024 * 1024 + 7])
        data = os.urandom(size)
        fid = str(uuid.uuid4())
        try:
            r = await client.put(f"/api/v1/files/{fid}", content=data,
                                 headers={**headers, "X-Artstore-Meta": meta_header(original_filename=f"f{size}.bin")})
        except httpx.HTTPError:
            await asyncio.sleep(0.05)
            continue
        if r.status_code == 201:
            acked[fid] = hashlib.sha256(data).hexdigest()


def _env(port: int, tmp_path: Path, database_url: str, redis_url: str, redis_namespace: str,
         jwks_url: str) -> dict[str, str]:
    return {**os.environ, "SE_ENVIRONMENT": "development", "LOG_FORMAT": "text", "LOG_LEVEL": "WARNING",
            "SE_PORT": str(port), "SE_DATA_DIR": str(tmp_path / "data"), "SE_DATABASE_URL": database_url,
            "SE_REDIS_URL": redis_url, "SE_REDIS_NAMESPACE": redis_namespace, "SE_JWKS_URL": jwks_url,
            "SE_JWT_ISSUER": TEST_ISSUER, "SE_TABLE_PREFIX": "storage_elem_crash", "SE_ELEMENT_ID": "se-crash",
            "SE_SCRUB_INTERVAL_HOURS": "0", "SE_RETENTION_INTERVAL_HOURS": "0", "SE_MAX_SIZE": "4GiB"}


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_kill_9_under_load(tmp_path, database_url, redis_url, redis_namespace, jwks_server, token_factory):
    port = free_port()
    env = _env(port, tmp_path, database_url, redis_url, redis_namespace, jwks_server.url)
    log = tmp_path / "se.log"
    headers = token_factory.headers("ADMIN")
    acked: dict[str, str] = {}
    base = f"http://127.0.0.1:{port}"
    proc = None
    try:
        for _ in range(ROUNDS):
            proc = _start(env, log)
            stop = asyncio.Event()
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                tasks = [asyncio.create_task(_writer(client, headers, acked, stop)) for _ in range(WRITERS)]
                await asyncio.sleep(random.uniform(0.4, 1.5))
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                stop.set()
                await asyncio.gather(*tasks)
        proc = _start(env, log)
        assert len(acked) > 20, f"слишком мало подтверждённых загрузок: {len(acked)}; журнал: {log.read_text()[-2000:]}"
        async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as client:
            for fid, sha in acked.items():
                r = await client.get(f"/api/v1/files/{fid}/content")
                assert r.status_code == 200, (fid, r.text)
                assert hashlib.sha256(r.content).hexdigest() == sha, fid
            rep = (await client.get("/api/v1/cache/consistency")).json()
            assert rep["orphan_data"] == [] and rep["orphan_attr"] == [], rep
            assert rep["stale_rows"] == [] and rep["mismatches"] == [] and rep["missing_rows"] == [], rep
            # видимые файлы (в т.ч. доведённые восстановлением без ответа клиенту) целы
            visible: dict[str, dict] = {}
            while True:
                page = (await client.post("/api/v1/search", json={"limit": 1000, "offset": len(visible),
                                                                  "sort_by": "created_at"})).json()["results"]
                visible.update((x["file_id"], x) for x in page)
                if len(page) < 1000:
                    break
            assert set(acked) <= set(visible)
            for fid, attr in visible.items():
                if fid not in acked:
                    body = (await client.get(f"/api/v1/files/{fid}/content")).content
                    assert hashlib.sha256(body).hexdigest() == attr["checksum"]
            assert not any((tmp_path / "data" / ".tmp").iterdir())
            total = len(visible)
            # таблица кэша потеряна → пересборка из attr.json
            engine = make_engine(database_url)
            async with engine.begin() as conn:
                await conn.execute(text("DROP TABLE storage_elem_crash_files"))
            await engine.dispose()
            rebuilt = (await client.post("/api/v1/cache/rebuild", params={"mode": "full"})).json()
            assert rebuilt["scanned"] == total and rebuilt["inserted"] == total
            assert (await client.get("/api/v1/info")).json()["file_count"] == total
            # порча байта → скраб находит, отдача отказывает
            victim = next(iter(acked))
            path = tmp_path / "data" / visible[victim]["storage_path"]
            data = bytearray(path.read_bytes())
            data[0] ^= 0x01
            path.write_bytes(bytes(data))
            scrub = (await client.post("/api/v1/scrub")).json()
            assert [x["file_id"] for x in scrub["corrupted"]] == [victim]
            r = await client.get(f"/api/v1/files/{victim}/content")
            assert r.status_code == 409 and r.json()["code"] == "file_corrupted"
    finally:
        _stop(proc)


def _open_intent(wal_dir: Path, file_id: str) -> dict | None:
    for seg in sorted(wal_dir.glob("wal-*.log")):
        for line in seg.read_bytes().splitlines():
            with contextlib.suppress(ValueError):
                rec = json.loads(line)
                if rec.get("phase") == "intent" and rec.get("file_id") == file_id:
                    return rec
    return None


async def test_poisoned_wal_after_kill_9_element_still_starts(tmp_path, database_url, redis_url, redis_namespace,
                                                              jwks_server, token_factory):
    """Issue 14 §2.1 на настоящем процессе: kill -9 посреди загрузки, затем запись WAL этой загрузки
    «отравлена» (её данные нельзя удалить — PermissionError) и добавлено намерение с ключом длиннее
    255 байт (такое оставлял старый разрез имён). Перезапуск: /health/ready 200, старые файлы отдаются,
    плохие записи — в карантине."""
    port = free_port()
    env = _env(port, tmp_path, database_url, redis_url, redis_namespace, jwks_server.url)
    log = tmp_path / "se.log"
    headers = token_factory.headers("ADMIN")
    data_dir = tmp_path / "data"
    base = f"http://127.0.0.1:{port}"
    old = {str(uuid.uuid4()): os.urandom(n) for n in (10, 70_000, 300_000)}
    slow_id = str(uuid.uuid4())
    proc = _start(env, log)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as client:
            for fid, body in old.items():
                r = await client.put(f"/api/v1/files/{fid}", content=body,
                                     headers={"X-Artstore-Meta": meta_header(original_filename="старый.bin")})
                assert r.status_code == 201, r.text
            hold = asyncio.Event()

            async def slow_body():
                yield os.urandom(3 * 1024 * 1024)
                await hold.wait()  # тело не кончается: процесс убивается посреди загрузки

            upload = asyncio.create_task(client.put(
                f"/api/v1/files/{slow_id}", content=slow_body(),
                headers={"X-Artstore-Meta": meta_header(original_filename="большой.bin")}))
            intent = None
            for _ in range(600):
                intent = _open_intent(data_dir / ".wal", slow_id)
                if intent is not None and any((data_dir / ".tmp").iterdir()):
                    break
                await asyncio.sleep(0.05)
            assert intent is not None, log.read_text()[-2000:]
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            hold.set()
            with contextlib.suppress(httpx.HTTPError):
                await upload
        # отравление: данные на месте ключа без attr.json, и удалить их нельзя; плюс намерение со слишком длинным ключом
        stuck = data_dir / intent["key"]
        stuck.parent.mkdir(parents=True, exist_ok=True)
        stuck.write_bytes(b"half")
        # в каталоге часа, который существует (его создаёт публикация до переименования) — иначе ENOENT
        long_key = intent["key"].rsplit("/", 1)[0] + "/" + "я" * 150 + ".pdf"
        with open(sorted((data_dir / ".wal").glob("wal-*.log"))[-1], "ab") as fh:
            fh.write(json.dumps({"phase": "intent", "op_id": "old-long", "op": "put", "file_id": "old-long",
                                 "key": long_key}, ensure_ascii=False).encode() + b"\n")
        with immutable(stuck):
            proc = _start(env, log)  # без карантина — OSError при восстановлении, процесс не поднимается
            async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as client:
                assert (await client.get("/health/ready")).status_code == 200
                for fid, body in old.items():
                    r = await client.get(f"/api/v1/files/{fid}/content")
                    assert r.status_code == 200 and r.content == body, fid
                r = await client.put(f"/api/v1/files/{uuid.uuid4()}", content=b"after restart",
                                     headers={"X-Artstore-Meta": meta_header()})
                assert r.status_code == 201, r.text
                assert (await client.get(f"/api/v1/files/{slow_id}")).status_code == 404
                metrics = (await client.get("/metrics")).text
                assert 'artstore_wal_recoveries_total{action="quarantined"} 2.0' in metrics, metrics
            records = [json.loads(p.read_bytes())["record"] for p in (data_dir / ".wal" / "quarantine").glob("*.json")]
            assert sorted(r["file_id"] for r in records) == sorted(["old-long", slow_id])
            assert "отложено в карантин" in log.read_text()
            _stop(proc)
            proc = None
    finally:
        _stop(proc)
