"""Базовая линия «голого диска» для сравнения с элементом хранения: та же работа без HTTP и БД.

64 KiB: запись во временный файл + fsync + rename + fsync(каталога), 16 потоков (как 16 клиентов);
то же по протоколу элемента (данные и attr.json, каждый во временный файл + fsync, два rename, fsync
каталога) — с CPU процесса на операцию: нижняя граница того, что элемент тратит на диск;
большой файл: запись 1 MiB блоками + fsync (как есть и с ранним сбросом sync_file_range каждые 8 MiB —
так пишет элемент), затем чтение. ``.venv/bin/python bench/raw_disk.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def small_ops(root: Path, n: int, threads: int) -> float:
    payload = os.urandom(64 * 1024)
    root.mkdir(parents=True, exist_ok=True)

    def one(i: int) -> None:
        tmp = root / f".tmp-{i}"
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, root / f"f-{i}")
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(n)))
    return n / (time.perf_counter() - started)


def element_protocol_ops(root: Path, n: int, threads: int) -> dict[str, float]:
    """Протокол записи элемента без HTTP, БД и WAL: оп/с и CPU (user/sys) процесса на операцию."""
    from storage_element.backends.local import fsync_dir

    payload, attr = os.urandom(64 * 1024), os.urandom(900)
    (root / ".tmp").mkdir(parents=True, exist_ok=True)
    (root / "hour").mkdir(exist_ok=True)

    def one(i: int) -> None:
        for name, data in ((f"{i}.data", payload), (f"{i}.attr", attr)):
            fd = os.open(root / ".tmp" / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        os.rename(root / ".tmp" / f"{i}.data", root / "hour" / f"{i}.bin")
        os.rename(root / ".tmp" / f"{i}.attr", root / "hour" / f"{i}.bin.attr.json")
        fsync_dir(root / "hour")

    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(n)))
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"ops_per_s": round(n / elapsed, 1),
            "user_ms_per_op": round((after.ru_utime - before.ru_utime) * 1000 / n, 3),
            "sys_ms_per_op": round((after.ru_stime - before.ru_stime) * 1000 / n, 3)}


def large(root: Path, mib: int, early_writeback: bool = False) -> tuple[float, float]:
    from storage_element.backends.local import WRITEBACK_STEP, start_writeback

    block = os.urandom(1 << 20)
    path = root / "large.bin"
    path.unlink(missing_ok=True)
    started = time.perf_counter()
    with open(path, "wb", buffering=0) as fh:
        flushed = 0
        for i in range(1, mib + 1):
            fh.write(block)
            if early_writeback and start_writeback is not None and (i << 20) - flushed >= WRITEBACK_STEP:
                start_writeback(fh.fileno(), flushed, (i << 20) - flushed)
                flushed = i << 20
        os.fsync(fh.fileno())
    write = mib / (time.perf_counter() - started)
    started = time.perf_counter()
    with open(path, "rb") as fh:
        while fh.read(1 << 20):
            pass
    read = mib / (time.perf_counter() - started)
    return write, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=3000)
    parser.add_argument("--large-mib", type=int, default=512)
    parser.add_argument("--dir", type=Path, default=None, help="каталог на том же диске, что и .data")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="artstore-raw-") as tmp:
        ops = small_ops(Path(tmp) / "small", args.small, 16)
        protocol = element_protocol_ops(Path(tmp) / "protocol", args.small, 16)
        write, read = large(Path(tmp), args.large_mib)
        write_wb, _ = large(Path(tmp), args.large_mib, early_writeback=True)
    print(json.dumps({"raw_64k_write_fsync_rename_ops_per_s": round(ops, 1),
                      "raw_64k_element_protocol": protocol,
                      "raw_large_write_fsync_mib_per_s": round(write, 1),
                      "raw_large_write_early_writeback_fsync_mib_per_s": round(write_wb, 1),
                      "raw_large_read_mib_per_s_page_cache": round(read, 1)}, indent=2))


if __name__ == "__main__":
    main()
