"""Сквозной бенчмарк флота на loopback: загрузки и скачивания через ingester/query и напрямую в элемент.

Запуск: ``.venv/bin/python bench/fleet_bench.py [--small 3000] [--large-mib 512]``.
Поднимает флот той же командой, что и пользователь (scripts/fleet.py, данные во временном каталоге;
PostgreSQL/Redis — из ARTSTORE_DATABASE_URL/ARTSTORE_REDIS_URL или встроенные), нагружает его aiohttp
(httpx на этой машине упирается сам в ~450 запросов/с и мерил бы себя) и печатает JSON с цифрами.
CPU на операцию — сумма user+sys всех процессов флота (сервисы, PostgreSQL, Redis) за прогон.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from tests.e2e.conftest import RunningFleet, start_fleet, stop_fleet  # noqa: E402

INGESTER = "http://127.0.0.1:8020"
QUERY = "http://127.0.0.1:8030"
SE_EDIT = "http://127.0.0.1:8010"
CHUNK = 1 << 20


def fleet_processes(fleet: RunningFleet) -> dict[str, psutil.Process]:
    """Процессы сервисов по порту + серверы PostgreSQL/Redis (все процессы postgres/valkey/redis)."""
    procs: dict[str, psutil.Process] = {}
    for child in psutil.Process(fleet.proc.pid).children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        for mod in ("admin_module", "storage_element", "ingester_module", "query_module"):
            if f"-m {mod}" in cmd:
                env = child.environ()
                port = next((env[k] for k in ("SE_PORT", "ADMIN_PORT", "INGESTER_PORT", "QUERY_PORT") if k in env), "")
                procs[f"{mod}:{port}"] = child
    for p in psutil.process_iter(["name"]):
        if p.info["name"] in ("postgres", "valkey-server", "redis-server"):
            procs[f"{p.info['name']}:{p.pid}"] = p
    return procs


def cpu_by_process(procs: dict[str, psutil.Process]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, p in procs.items():
        try:
            t = p.cpu_times()
            out[name] = t.user + t.system
        except psutil.Error:
            out[name] = 0.0
    return out


def per_op(before: dict[str, float], after: dict[str, float], ops: int) -> dict[str, float]:
    """CPU на операцию по сервисам (мс); PostgreSQL и Redis — суммой своих процессов."""
    out: dict[str, float] = {}
    for name, t in after.items():
        key = name if "_module" in name or "storage_element" in name else name.split(":")[0]
        out[key] = out.get(key, 0.0) + (t - before.get(name, t)) * 1000 / ops
    return {k: round(v, 3) for k, v in sorted(out.items()) if v >= 0.005}


class RssSampler:
    """Пиковый RSS каждого процесса сервисов, опрос каждые 20 мс."""

    def __init__(self, procs: dict[str, psutil.Process]) -> None:
        self.procs = {k: p for k, p in procs.items() if "_module" in k or "storage_element" in k}
        self.base = {k: p.memory_info().rss for k, p in self.procs.items()}
        self.peak = dict(self.base)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for k, p in self.procs.items():
                with contextlib.suppress(psutil.Error):
                    self.peak[k] = max(self.peak[k], p.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def growth_mib(self) -> dict[str, float]:
        return {k: round((self.peak[k] - self.base[k]) / 2**20, 1) for k in self.procs}


def multipart(payload: bytes, name: str, retention: str = "temporary") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("retention_policy", retention)
    form.add_field("file", payload, filename=name, content_type="application/octet-stream")
    return form


async def small_uploads(session: aiohttp.ClientSession, token: str, n: int, conc: int, direct: bool,
                        retention: str = "temporary") -> dict[str, Any]:
    payload = os.urandom(64 * 1024)
    latencies: list[float] = []
    counter = iter(range(n))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for i in counter:
            started = time.perf_counter()
            if direct:
                meta = base64.urlsafe_b64encode(json.dumps({
                    "original_filename": f"small-{i}.bin", "created_by_id": "bench", "created_by_username": "bench",
                    "retention_policy": "temporary", "ttl_days": 1}).encode()).decode().rstrip("=")
                async with session.put(f"{SE_EDIT}/api/v1/files/{uuid.uuid4()}", data=payload, headers={
                        "Authorization": f"Bearer {token}", "X-Artstore-Meta": meta}) as r:
                    await r.read()
                    ok = r.status in (200, 201)
            else:
                async with session.post(f"{INGESTER}/api/v1/files/upload",
                                        data=multipart(payload, f"small-{i}.bin", retention),
                                        headers={"Authorization": f"Bearer {token}"}) as r:
                    await r.read()
                    ok = r.status == 201
            if not ok:
                failures += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"ops": n, "failures": failures, "seconds": round(elapsed, 2), "ops_per_s": round(n / elapsed, 1),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2)}


async def _body(size: int, digest: Any) -> Any:
    block = os.urandom(CHUNK)
    sent = 0
    while sent < size:
        part = block[: min(CHUNK, size - sent)]
        digest.update(part)
        sent += len(part)
        yield part


async def large_upload(session: aiohttp.ClientSession, token: str, size: int, direct: bool,
                       retention: str = "temporary") -> dict[str, Any]:
    digest = hashlib.sha256()
    started = time.perf_counter()
    if direct:
        meta = base64.urlsafe_b64encode(json.dumps({
            "original_filename": "large.bin", "created_by_id": "bench", "created_by_username": "bench",
            "retention_policy": "temporary", "ttl_days": 1}).encode()).decode().rstrip("=")
        fid = str(uuid.uuid4())
        async with session.put(f"{SE_EDIT}/api/v1/files/{fid}", data=_body(size, digest), headers={
                "Authorization": f"Bearer {token}", "X-Artstore-Meta": meta, "Content-Length": str(size)}) as r:
            body = await r.json()
            status = r.status
    else:
        with aiohttp.MultipartWriter("form-data") as mp:
            part = mp.append(retention.encode())
            part.set_content_disposition("form-data", name="retention_policy")
            part = mp.append(_body(size, digest), {"Content-Type": "application/octet-stream"})
            part.set_content_disposition("form-data", name="file", filename="large.bin")
        async with session.post(f"{INGESTER}/api/v1/files/upload", data=mp,
                                headers={"Authorization": f"Bearer {token}"}) as r:
            body = await r.json()
            status = r.status
    elapsed = time.perf_counter() - started
    assert status in (200, 201), body
    assert body["checksum"] == digest.hexdigest()
    return {"file_id": body["file_id"], "seconds": round(elapsed, 2), "mib_per_s": round(size / 2**20 / elapsed, 1)}


async def download(session: aiohttp.ClientSession, token: str, url: str) -> dict[str, Any]:
    started = time.perf_counter()
    total = 0
    async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200, await r.text()
        async for chunk in r.content.iter_chunked(CHUNK):
            total += len(chunk)
    elapsed = time.perf_counter() - started
    return {"bytes": total, "seconds": round(elapsed, 2), "mib_per_s": round(total / 2**20 / elapsed, 1)}


async def small_downloads(session: aiohttp.ClientSession, token: str, ids: list[str], n: int, conc: int,
                          base: str) -> dict[str, Any]:
    counter = iter(range(n))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for i in counter:
            url = (f"{QUERY}/api/v1/files/{ids[i % len(ids)]}/download" if base == QUERY
                   else f"{base}/api/v1/files/{ids[i % len(ids)]}/content")
            async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
                await r.read()
                if r.status != 200:
                    failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    elapsed = time.perf_counter() - started
    return {"ops": n, "failures": failures, "ops_per_s": round(n / elapsed, 1)}


async def range_tail(session: aiohttp.ClientSession, token: str, file_id: str, n: int) -> dict[str, Any]:
    lat = []
    for _ in range(n):
        started = time.perf_counter()
        async with session.get(f"{QUERY}/api/v1/files/{file_id}/download", headers={
                "Authorization": f"Bearer {token}", "Range": "bytes=-1048576"}) as r:
            body = await r.read()
            assert r.status == 206 and len(body) == 1 << 20
        lat.append(time.perf_counter() - started)
    return {"n": n, "p50_ms": round(statistics.median(lat) * 1000, 2),
            "p99_ms": round(sorted(lat)[int(n * 0.99) - 1] * 1000, 2)}


async def run(fleet: RunningFleet, args: argparse.Namespace) -> dict[str, Any]:
    token = fleet.token()
    procs = fleet_processes(fleet)
    results: dict[str, Any] = {}
    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as s:
        await small_uploads(s, token, 200, args.concurrency, direct=False)  # прогрев
        for key, direct in (("upload_64k_ingester", False), ("upload_64k_direct_element", True)):
            cpu0 = cpu_by_process(procs)
            results[key] = await small_uploads(s, token, args.small, args.concurrency, direct=direct)
            by_process = per_op(cpu0, cpu_by_process(procs), args.small)
            results[key]["cpu_ms_per_op_fleet"] = round(sum(by_process.values()), 3)
            results[key]["cpu_ms_per_op_by_process"] = by_process
        size = args.large_mib << 20
        with RssSampler(procs) as rss:
            results["upload_large_ingester"] = await large_upload(s, token, size, direct=False)
        results["upload_large_ingester"]["rss_growth_mib"] = rss.growth_mib()
        with RssSampler(procs) as rss:
            results["upload_large_direct_element"] = await large_upload(s, token, size, direct=True)
        results["upload_large_direct_element"]["rss_growth_mib"] = rss.growth_mib()
        big = results["upload_large_ingester"]["file_id"]
        with RssSampler(procs) as rss:
            results["download_large_query"] = await download(s, token, f"{QUERY}/api/v1/files/{big}/download")
        results["download_large_query"]["rss_growth_mib"] = rss.growth_mib()
        results["download_large_direct_element"] = await download(s, token, f"{SE_EDIT}/api/v1/files/{big}/content")
        cpu0 = cpu_by_process(procs)
        results["range_last_1mib_query"] = await range_tail(s, token, big, 200)
        results["range_last_1mib_query"]["cpu_ms_per_op_by_process"] = per_op(cpu0, cpu_by_process(procs), 200)
        # 64 KiB скачивания: загруженные выше файлы
        ids = []
        payload = os.urandom(64 * 1024)
        for i in range(64):
            async with s.post(f"{INGESTER}/api/v1/files/upload", data=multipart(payload, f"dl-{i}.bin"),
                              headers={"Authorization": f"Bearer {token}"}) as r:
                ids.append((await r.json())["file_id"])
        await small_downloads(s, token, ids, 200, args.concurrency, QUERY)
        cpu0 = cpu_by_process(procs)
        results["download_64k_query"] = await small_downloads(s, token, ids, args.small, args.concurrency, QUERY)
        results["download_64k_query"]["cpu_ms_per_op_by_process"] = per_op(cpu0, cpu_by_process(procs), args.small)
        results["download_64k_direct_element"] = await small_downloads(s, token, ids, args.small, args.concurrency,
                                                                       SE_EDIT)
    for key in ("upload_64k", "upload_large", "download_large"):
        via = results[f"{key}_ingester" if key.startswith("upload") else f"{key}_query"]
        direct = results[f"{key}_direct_element"]
        field = "ops_per_s" if key == "upload_64k" else "mib_per_s"
        results[f"{key}_ratio_to_direct"] = round(via[field] / direct[field], 2)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--large-mib", type=int, default=512)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fleet.json")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="где создать каталог данных флота (например, /dev/shm — CPU без шума диска)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="artstore-bench-", dir=args.data_dir) as tmp:
        env = {"LOG_LEVEL": "WARNING", "SE_01_MAX_SIZE": "200GiB"}
        fleet = start_fleet(Path(tmp) / "data", env)
        try:
            results = asyncio.run(run(fleet, args))
        finally:
            stop_fleet(fleet)
    results["machine"] = {"cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
