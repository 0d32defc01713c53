"""Поиск на масштабе: 1 000 000 файлов на трёх элементах, задержка поиска и подсказок через query-module.

Запуск: ``.venv/bin/python bench/search_bench.py [--rows 1000000]``. Поднимает флот (scripts/fleet.py) и
третий элемент, пишет строки прямо в кэш-таблицы элементов (как велит задача: генерация в таблицы, не
через загрузку), затем меряет ``POST /api/v1/search`` и ``GET /api/v1/search/suggest`` клиентом aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import start_fleet, stop_fleet  # noqa: E402

QUERY = "http://127.0.0.1:8030"
RU = ["отчёт", "договор", "счёт", "акт", "приказ", "протокол", "смета", "письмо", "справка", "накладная",
      "заявление", "служебная", "записка", "план", "бюджет", "баланс", "реестр", "выписка", "перечень", "доклад"]
EN = ["report", "contract", "invoice", "statement", "order", "minutes", "estimate", "letter", "memo", "plan",
      "budget", "balance", "registry", "summary", "review", "audit", "policy", "manual", "schedule", "proposal"]
TAGS = ["финансы", "кадры", "юристы", "архив", "2024", "2025", "2026", "board", "hr", "legal", "finance", "ops"]

FILL_SQL = """
INSERT INTO {table} (file_id, original_filename, storage_filename, storage_path, file_size, stored_size,
  content_type, checksum, created_at, updated_at, created_by_id, created_by_username, description, tags,
  metadata, retention_policy, expires_at, storage_element_id, schema_version)
SELECT
  '{eid}-' || g,
  w1 || '_' || w2 || '_' || g || '.pdf',
  w1 || '_' || w2 || '_' || g || '.pdf',
  '2026/11/26/14/' || w1 || '_' || g || '.pdf',
  1024 + (g::bigint * 7919) % 10000000, 1024 + (g::bigint * 7919) % 10000000,
  'application/pdf', md5(g::text) || md5((g + 1)::text),
  now() - (g % 1000) * interval '1 hour', now(),
  'user-' || (g % 50), 'user' || (g % 50),
  'Документ ' || w1 || ' ' || w2 || ' номер ' || g || ' for ' || e1,
  ARRAY[t1, t2],
  jsonb_build_object('department', d, 'year', 2020 + g % 7),
  'permanent', NULL, '{eid}', 1
FROM (
  SELECT g,
    ($1::text[])[1 + g % 20] AS w1, ($2::text[])[1 + (g / 20) % 20] AS w2, ($2::text[])[1 + (g / 7) % 20] AS e1,
    ($3::text[])[1 + g % 12] AS t1, ($3::text[])[1 + (g / 12) % 12] AS t2,
    ($1::text[])[1 + (g / 400) % 20] AS d
  FROM generate_series($4::int, $5::int) AS g
) s
"""

QUERIES = [
    {"query": "отчёты", "limit": 20},
    {"query": "договоры финансы", "limit": 20},
    {"query": "reports", "limit": 20},
    {"query": "\"служебная записка\"", "limit": 20},
    {"query": "invoice -budget", "limit": 20},
    {"filename": "smeta", "mode": "partial", "limit": 20},
    {"filename": "протокол_budget", "mode": "partial", "limit": 20},
    {"tags": ["архив"], "limit": 20, "sort_by": "created_at"},
    {"query": "акт", "username": "user7", "limit": 50},
    {"query": "баланс", "min_size": 100000, "max_size": 5000000, "limit": 20, "sort_by": "file_size"},
]
PREFIXES = ["отч", "дог", "rep", "inv", "прот", "фин", "bud", "сме"]


async def fill(db_url: str, table: str, eid: str, rows: int) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        batch = 100_000
        for start in range(1, rows + 1, batch):
            end = min(rows, start + batch - 1)
            await conn.execute(FILL_SQL.format(table=table, eid=eid), RU, EN, TAGS, start, end)
        # VACUUM, а не только ANALYZE: после массовой вставки автоочистка (порог по вставкам, PG 13+) всё
        # равно прошла бы — сливает отложенный список GIN и карту видимости, как в рабочем состоянии
        await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()


def _percentiles(lat: list[float]) -> dict[str, Any]:
    lat = sorted(lat)
    n = len(lat)
    return {"n": n, "p50_ms": round(lat[n // 2] * 1000, 2), "p95_ms": round(lat[int(n * .95)] * 1000, 2),
            "p99_ms": round(lat[min(n - 1, int(n * .99))] * 1000, 2)}


async def measure(token: str, n: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession(headers=headers) as s:
        for label, reqs, call in (
            ("search", QUERIES, lambda q: s.post(f"{QUERY}/api/v1/search", json=q)),
            ("suggest", PREFIXES, lambda p: s.get(f"{QUERY}/api/v1/search/suggest", params={"prefix": p})),
        ):
            lat: list[float] = []
            per_kind: dict[str, list[float]] = {}
            partial = 0
            for i in range(n):
                req = reqs[i % len(reqs)]
                started = time.perf_counter()
                async with call(req) as r:
                    body = await r.json()
                    assert r.status == 200, body
                    partial += bool(body.get("partial"))
                took = time.perf_counter() - started
                lat.append(took)
                per_kind.setdefault(json.dumps(req, ensure_ascii=False), []).append(took)
            out[label] = {**_percentiles(lat), "partial_answers": partial,
                          # какой вид запроса тянет хвост — видно по разбивке
                          "by_kind": {k: _percentiles(v) for k, v in per_kind.items()}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search.json")
    args = parser.parse_args()
    db_url = os.environ.get("ARTSTORE_DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="artstore-search-") as tmp:
        data = Path(tmp) / "data"
        fleet = start_fleet(data, {"LOG_LEVEL": "WARNING"})
        third = None
        try:
            secrets = fleet.secrets()
            env = {**os.environ, "ARTSTORE_DATABASE_URL": db_url or "postgresql://postgres@127.0.0.1:55432/artstore",
                   "ARTSTORE_REDIS_URL": os.environ.get("ARTSTORE_REDIS_URL", "redis://127.0.0.1:56379/0"),
                   "ARTSTORE_ENVIRONMENT": "development", "SE_PORT": "8012", "SE_ELEMENT_ID": "se-03",
                   "SE_MODE": "rw", "SE_DATA_DIR": str(data / "se-03"), "SE_TABLE_PREFIX": "storage_elem_03",
                   "ARTSTORE_JWKS_URL": "http://127.0.0.1:8000/.well-known/jwks.json", "LOG_LEVEL": "WARNING"}
            third = subprocess.Popen([sys.executable, "-m", "storage_element"], env=env, cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            from artstore_common.testing import wait_http

            wait_http("http://127.0.0.1:8012/health/ready", 60)
            token = fleet.token(secrets)
            headers = {"Authorization": f"Bearer {token}"}
            httpx.post("http://127.0.0.1:8000/api/v1/storage-elements", json={"api_url": "http://127.0.0.1:8012"},
                       headers=headers, timeout=30)
            per = args.rows // 3
            started = time.perf_counter()
            url = env["ARTSTORE_DATABASE_URL"]
            asyncio.run(_fill_all(url, per))
            fill_s = time.perf_counter() - started
            for eid in ("se-01", "se-02", "se-03"):
                httpx.post(f"http://127.0.0.1:8000/api/v1/storage-elements/{eid}/sync", headers=headers, timeout=30)
            time.sleep(3)  # снимок discovery дошёл до query
            results = asyncio.run(measure(token, args.requests))
            results["rows"] = per * 3
            results["elements"] = 3
            results["fill_seconds"] = round(fill_s, 1)
        finally:
            if third is not None:
                third.terminate()
                third.wait(20)
            stop_fleet(fleet)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(json.dumps(results, indent=2, ensure_ascii=False))


async def _fill_all(url: str, per: int) -> None:
    await asyncio.gather(*(fill(url, f"storage_elem_0{i}_files", f"se-0{i}", per) for i in (1, 2, 3)))


if __name__ == "__main__":
    main()
