"""Запись на реплицированный элемент рядом с автономным, в одном прогоне (issue 15, docs/replication.md).

Запуск: ``.venv/bin/python bench/replication_bench.py [--small 2000] [--large-mib 512] [--rounds 3]
[--pg postgresql://postgres@127.0.0.1:5432/postgres] [--redis redis://127.0.0.1:6379/0]`` — для прогона заводится
своя база (и удаляется после): аккаунты и кэш-таблицы прошлого прогона не мешают.
Поднимает ``./artstore run --replicated 3`` (scripts/fleet.py): загрузки через ingester с
``retention_policy=temporary`` ложатся на автономный se-01, с ``permanent`` — на se-r1 из трёх членов в ``sync``
(тройник ingester → три члена, 201 после кворума 2 из 3). Раунды чередуются (автономный, реплицированный, ...),
ответ — медианы и отношения «реплицированный / автономный» из одного прогона, плюс рост RSS каждого процесса
сервиса во время загрузки 512 МиБ (тело не держится в памяти ни у ingester, ни у членов).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fleet_bench import RssSampler, cpu_by_process, fleet_processes, large_upload, per_op, small_uploads  # noqa: E402

from artstore_common.testing import create_database, drop_database  # noqa: E402
from tests.e2e.conftest import start_fleet, stop_fleet  # noqa: E402

TARGETS = {"standalone": "temporary", "replicated": "permanent"}


async def run(fleet: Any, args: argparse.Namespace) -> dict[str, Any]:
    token = fleet.token()
    procs = fleet_processes(fleet)
    rounds: dict[str, list[dict[str, Any]]] = {f"{k}_{w}": [] for k in TARGETS for w in ("64k", "large")}
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as s:
        for retention in TARGETS.values():
            await small_uploads(s, token, 200, args.concurrency, direct=False, retention=retention)  # прогрев
        for _ in range(args.rounds):
            for kind, retention in TARGETS.items():
                cpu0 = cpu_by_process(procs)
                small = await small_uploads(s, token, args.small, args.concurrency, direct=False, retention=retention)
                by_process = per_op(cpu0, cpu_by_process(procs), args.small)
                small["cpu_ms_per_op_fleet"] = round(sum(by_process.values()), 3)
                small["cpu_ms_per_op_by_process"] = by_process
                rounds[f"{kind}_64k"].append(small)
            for kind, retention in TARGETS.items():
                with RssSampler(procs) as rss:
                    big = await large_upload(s, token, args.large_mib << 20, direct=False, retention=retention)
                big["rss_growth_mib"] = rss.growth_mib()
                rounds[f"{kind}_large"].append(big)
    out: dict[str, Any] = {"rounds": rounds}
    for kind in TARGETS:
        out[f"{kind}_64k_ops_per_s"] = statistics.median(r["ops_per_s"] for r in rounds[f"{kind}_64k"])
        out[f"{kind}_64k_failures"] = sum(r["failures"] for r in rounds[f"{kind}_64k"])
        out[f"{kind}_64k_cpu_ms_per_op"] = statistics.median(r["cpu_ms_per_op_fleet"] for r in rounds[f"{kind}_64k"])
        out[f"{kind}_large_mib_per_s"] = statistics.median(r["mib_per_s"] for r in rounds[f"{kind}_large"])
        out[f"{kind}_large_max_rss_growth_mib"] = max(max(r["rss_growth_mib"].values())
                                                      for r in rounds[f"{kind}_large"])
    out["ratio_64k"] = round(out["replicated_64k_ops_per_s"] / out["standalone_64k_ops_per_s"], 2)
    out["ratio_large"] = round(out["replicated_large_mib_per_s"] / out["standalone_large_mib_per_s"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--large-mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "replication.json")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    name, db_url = create_database(args.pg)
    try:
        with tempfile.TemporaryDirectory(prefix="artstore-bench-repl-") as tmp:
            env = {"LOG_LEVEL": "WARNING", "SE_01_MAX_SIZE": "200GiB", "SE_R1_MAX_SIZE": "200GiB",
                   "ARTSTORE_DATABASE_URL": db_url, "ARTSTORE_REDIS_URL": args.redis,
                   "ARTSTORE_REDIS_NAMESPACE": f"bench-{name}"}
            fleet = start_fleet(Path(tmp) / "data", env, args=("--replicated", "3"))
            try:
                results = asyncio.run(run(fleet, args))
            finally:
                stop_fleet(fleet)
    finally:
        drop_database(args.pg, name)
    results["machine"] = {"cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(json.dumps({k: v for k, v in results.items() if k != "rounds"}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
