"""Замер выдачи токенов: сколько токенов в секунду выдаёт один процесс admin-module.

Запуск (нужны PostgreSQL и Redis):
    python bench/token_bench.py --database-url postgresql://postgres@127.0.0.1:5432/postgres \
        --redis-url redis://127.0.0.1:6379/0 --requests 2000 --concurrency 16

Создаёт временную базу, поднимает admin на loopback (bcrypt cost 12, как в production), получает токены
client credentials (Basic) параллельно и печатает токены/с и задержки; первый запрос — с полной проверкой
bcrypt, остальные — из кэша проверки секрета.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid

import httpx

from artstore_common.testing import create_database, drop_database, free_port, wait_http


def _cpu_seconds(pid: int | None) -> float:
    """Процессорное время сервера (user+system): не зависит от того, чем ещё занята машина."""
    if pid is None:
        return 0.0
    import psutil

    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


async def bench(base: str, requests: int, concurrency: int, client_id: str, secret: str,
                pid: int | None = None) -> None:
    async with httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=concurrency)) as c:
        started = time.perf_counter()
        r = await c.post("/api/v1/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
        r.raise_for_status()
        print(f"первый токен (bcrypt cost 12): {(time.perf_counter() - started) * 1000:.0f} мс")
        latencies: list[float] = []
        queue = iter(range(requests))

        async def worker() -> None:
            for _ in queue:
                t = time.perf_counter()
                resp = await c.post("/api/v1/auth/token", data={"grant_type": "client_credentials"},
                                    auth=(client_id, secret))
                resp.raise_for_status()
                latencies.append(time.perf_counter() - t)

        started = time.perf_counter()
        cpu_before = _cpu_seconds(pid)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        took = time.perf_counter() - started
        cpu = _cpu_seconds(pid) - cpu_before
        if cpu > 0:
            print(f"процессор сервера: {cpu / requests * 1000:.2f} мс на токен → {requests / cpu:.0f} токенов/с "
                  "на одно полностью занятое ядро")
        latencies.sort()
        print(f"{requests} токенов за {took:.2f} с: {requests / took:.0f} токенов/с "
              f"(параллельно {concurrency}); p50 {statistics.median(latencies) * 1000:.1f} мс, "
              f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.1f} мс")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--database-url", required=True, help="URL сервера с правом CREATE DATABASE")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    args = p.parse_args()
    name, db_url = create_database(args.database_url)
    try:
        secret = "bench-secret-" + uuid.uuid4().hex
        port = free_port()
        # сервер — отдельный процесс (как в эксплуатации), клиент не делит с ним GIL
        env = {**os.environ, "ADMIN_ENVIRONMENT": "test", "ADMIN_DATABASE_URL": db_url,
               "ADMIN_REDIS_URL": args.redis_url, "ADMIN_REDIS_NAMESPACE": f"bench-{name}",
               "ADMIN_KEY_ENCRYPTION_KEY": uuid.uuid4().hex, "ADMIN_PORT": str(port), "ADMIN_LOG_LEVEL": "WARNING",
               "INITIAL_CLIENT_ID": "bench", "INITIAL_CLIENT_SECRET": secret,
               "INITIAL_ADMIN_PASSWORD": uuid.uuid4().hex}
        proc = subprocess.Popen([sys.executable, "-m", "admin_module"], env=env, stdout=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{port}/health/ready", timeout=60)
            asyncio.run(bench(f"http://127.0.0.1:{port}", args.requests, args.concurrency, "bench", secret,
                              proc.pid))
        finally:
            proc.terminate()
            proc.wait(15)
    finally:
        drop_database(args.database_url, name)


if __name__ == "__main__":
    main()
