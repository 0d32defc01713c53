"""Настоящий сбой: процесс элемента убивается kill -9 посреди параллельных загрузок, несколько раз.

После каждого перезапуска каждый подтверждённый (201) файл цел (sha256 содержимого), частичных файлов
не видно, attr.json без данных нет, строк кэша без файлов нет. Затем — удаление таблицы кэша и
пересборка N/N, порча байта → скраб находит, отдача отказывает.
"""

from __future__ import annotations

import asyncio
import hashlib
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


async def test_kill_9_under_load(tmp_path, database_url, redis_url, redis_namespace, jwks_server, token_factory):
    port = free_port()
    env = {**os.environ, "SE_ENVIRONMENT": "development", "LOG_FORMAT": "text", "LOG_LEVEL": "WARNING",
           "SE_PORT": str(port), "SE_DATA_DIR": str(tmp_path / "data"), "SE_DATABASE_URL": database_url,
           "SE_REDIS_URL": redis_url, "SE_REDIS_NAMESPACE": redis_namespace, "SE_JWKS_URL": jwks_server.url,
           "SE_JWT_ISSUER": TEST_ISSUER, "SE_TABLE_PREFIX": "storage_elem_crash", "SE_ELEMENT_ID": "se-crash",
           "SE_SCRUB_INTERVAL_HOURS": "0", "SE_RETENTION_INTERVAL_HOURS": "0", "SE_MAX_SIZE": "4GiB"}
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
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
